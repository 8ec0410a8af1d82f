"""Functional execution: run a lowered trace on real numbers, instruction by instruction.

The data meaning of an instruction is part of the instruction set, the same on every target:

- ``IM2COL`` materialises the lowered input matrix the layer's ``args["a"]`` names;
- ``GEMM``/``SPGEMM`` with ``m0, n0, k0, dm, dn, dk, group`` multiply their tile of A by their
  tile of B and accumulate into their tile of C; a matmul layer's C becomes the op's output
  when its last instruction has run;
- ``SCATTER``, ``GATHER`` and the GNN layers' ``VEC``/``GEMM`` with row ranges (``e0``/``e1``
  edges, ``v0``/``dv`` vertices) compute those rows (:mod:`simulator.trace.functional_gnn`);
- any other layer (a vector op, a view, a conv the npu runs on its vector unit) is computed by
  its operator's numpy semantics from the catalogue when its last instruction has run (a layer
  with no instruction, a free view, in program order).

So if a lowering tiles, orders, accumulates or depends wrongly, the numbers come out wrong,
which is what comparing them with a reference (onnxruntime, or the catalogue's whole-graph
semantics for GNN programs) is for. Instructions run in id order, which every trace's
dependencies respect.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.errors import TraceError
from simulator.trace.format import Instruction, LayerInfo, Trace
from simulator.trace.functional_gnn import GnnTiles, span_layers
from workloads import ops

TILE_OPS = ("GEMM", "SPGEMM")
TILE_DIMS = ("m0", "n0", "k0", "dm", "dn", "dk")


def im2col(x: np.ndarray, attrs: dict[str, Any], groups: int) -> np.ndarray:
    """NCHW input -> [groups, N*OH*OW, (C/groups)*KH*KW], K ordered (c, fy, fx) like the
    flattened weights [F, C/groups, KH, KW]."""
    n, c, h, w = x.shape
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]           # N, C, OH, OW, KH, KW
    oh, ow = win.shape[2], win.shape[3]
    cg = c // groups
    win = win.reshape(n, groups, cg, oh, ow, kh, kw)
    return np.ascontiguousarray(win.transpose(1, 0, 3, 4, 2, 5, 6)).reshape(
        groups, n * oh * ow, cg * kh * kw)


def conv_layout(args: dict[str, Any]) -> str:
    """Where a Conv layer's A operand comes from (``args["a_layout"]``, see
    :func:`simulator.lower.vector_ops.gemm_args`); older traces say it with ``a`` and the
    ``im2col`` attribute."""
    if "a_layout" in args:
        return args["a_layout"]
    if args.get("attrs", {}).get("im2col") == "implicit":
        return "implicit"
    return "explicit" if args.get("a", args["inputs"][0]) != args["inputs"][0] else "nhwc"


class _GemmLayer:
    """Operands of one GEMM-like layer as [G, M, K] x [G, K, N] -> [G, M, N]."""

    def __init__(self, layer: LayerInfo, mem: dict[str, np.ndarray]) -> None:
        args = layer.args
        self.layer = layer
        self.op = layer.op
        self.attrs = args.get("attrs", {})
        self.inputs = args["inputs"]
        self.shape = tuple(args["shapes"][0])
        x, w = (mem[t] for t in self.inputs[:2])
        # The output keeps the operands' type (float32, float64, or int32 for the integer
        # GEMMs of MatMulInteger/ConvInteger); integers accumulate exactly in int64.
        self.dtype = np.result_type(x.dtype, w.dtype)
        self.integer = self.dtype.kind in "iub"
        g = layer.dims.get("groups", 1)
        if self.op == "Conv":
            f, _, kh, kw = w.shape
            layout = conv_layout(args)
            if layout == "implicit":
                # K in (position, channel) order: the address generator's walk over the input.
                taps = kh * kw
                a = im2col(x, self.attrs, g)
                a = a.reshape(g, a.shape[1], -1, taps).transpose(0, 1, 3, 2).reshape(a.shape)
                b = w.reshape(g, f // g, -1, taps).transpose(0, 3, 2, 1).reshape(g, -1, f // g)
            else:
                if layout == "explicit":
                    a = mem[args["a"]]
                elif layout == "im2col":
                    a = im2col(x, self.attrs, g)
                else:  # nhwc: a 1x1 stride-1 conv reads its input as the matrix
                    n, c, h, wd = x.shape
                    a = x.transpose(0, 2, 3, 1).reshape(n * h * wd, g, c // g).transpose(1, 0, 2)
                b = w.reshape(g, f // g, -1).transpose(0, 2, 1)
        elif self.op == "Gemm":
            a = (x.T if self.attrs.get("transA") else x)[None]
            b = (w.T if self.attrs.get("transB") else w)[None]
        elif w.ndim == 2:  # MatMul with one B: fold A's batch into M
            a = x.reshape(1, -1, x.shape[-1])
            b = w[None]
        else:
            batch = np.broadcast_shapes(x.shape[:-2], w.shape[:-2])
            a = np.broadcast_to(x, batch + x.shape[-2:]).reshape(-1, *x.shape[-2:])
            b = np.broadcast_to(w, batch + w.shape[-2:]).reshape(-1, *w.shape[-2:])
        if self.integer:
            a, b = a.astype(np.int64), b.astype(np.int64)
        self.a, self.b = a, b
        acc = np.int64 if self.integer else np.float64 if self.dtype == np.float64 else np.float32
        self.c = np.zeros((a.shape[0], a.shape[1], b.shape[2]), dtype=acc)

    def tile(self, ins: Instruction) -> None:
        d = ins.dims
        if any(k not in d for k in TILE_DIMS):
            raise TraceError(f"{ins.op} of matmul layer {ins.layer!r} lacks its tile "
                             f"({', '.join(TILE_DIMS)}); functional execution needs them",
                             where=f"instruction {ins.id}")
        g, m0, n0, k0 = d.get("group", 0), d["m0"], d["n0"], d["k0"]
        ms, ns, ks = slice(m0, m0 + d["dm"]), slice(n0, n0 + d["dn"]), slice(k0, k0 + d["dk"])
        self.c[g, ms, ns] += self.a[g, ms, ks] @ self.b[g, ks, ns]

    def result(self, mem: dict[str, np.ndarray]) -> np.ndarray:
        c = self.c
        if self.op == "Conv":
            n, f, oh, ow = self.shape
            y = c.transpose(1, 0, 2).reshape(n, oh, ow, f).transpose(0, 3, 1, 2)
            if len(self.inputs) > 2 and self.inputs[2]:
                y = y + mem[self.inputs[2]].reshape(1, -1, 1, 1)
        elif self.op == "Gemm":
            y = self.attrs.get("alpha", 1.0) * c[0]
            if len(self.inputs) > 2 and self.inputs[2]:
                y = y + self.attrs.get("beta", 1.0) * mem[self.inputs[2]]
        else:
            y = c.reshape(self.shape)
        return np.ascontiguousarray(y).astype(self.dtype, copy=False).reshape(self.shape)


class _Memory(dict):
    """Tensors by name; reading one nothing provided is a TraceError naming it and the layer."""

    layer = "?"

    def __missing__(self, name: str) -> np.ndarray:
        raise TraceError(f"functional execution needs tensor {name!r}, which neither the inputs "
                         "nor an earlier instruction provide", where=f"layer {self.layer!r}")


def execute(trace: Trace, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``trace`` on ``values`` (model inputs and weights by tensor name); return every
    tensor computed, by name."""
    mem: dict[str, np.ndarray] = _Memory({k: np.asarray(v) for k, v in values.items()})
    layers = {layer.name: layer for layer in trace.layers}
    order = {layer.name: i for i, layer in enumerate(trace.layers)}
    last_index: dict[str, int] = {}
    for ins in trace.instructions:
        last_index[ins.layer] = ins.id
    tiled = {layer.name for layer in trace.layers if ops.is_matmul(layer.op)}
    has_tiles = {ins.layer for ins in trace.instructions if ins.op in TILE_OPS}
    spans = span_layers(trace)
    gnn = GnnTiles(trace, mem) if spans else None
    active: dict[str, _GemmLayer] = {}
    position = 0  # next layer (in program order) whose instruction-less work may be due

    def run_views_before(stop: int) -> None:
        nonlocal position
        while position < stop:
            layer = trace.layers[position]
            if layer.name not in last_index:  # no instructions: runs in program order
                mem.layer = layer.name
                _evaluate(layer, mem)
            position += 1

    for ins in trace.instructions:
        layer = layers.get(ins.layer)
        if layer is None:
            raise TraceError(f"instruction tagged with unknown layer {ins.layer!r}",
                             where=f"instruction {ins.id}")
        run_views_before(order[ins.layer])
        mem.layer = ins.layer
        if ins.layer in spans:
            gnn.run(ins, layer)
            continue
        if ins.op == "IM2COL":
            x = mem[layer.args["inputs"][0]]
            mem[layer.args["a"]] = im2col(x, layer.args["attrs"], layer.dims["groups"])
        elif ins.op in TILE_OPS and ins.layer in tiled:
            if ins.layer not in active:
                active[ins.layer] = _GemmLayer(layer, mem)
            active[ins.layer].tile(ins)
        if ins.id == last_index[ins.layer]:
            if ins.layer in active:
                mem[layer.args["outputs"][0]] = active.pop(ins.layer).result(mem)
            elif ins.layer not in tiled or ins.layer not in has_tiles:
                _evaluate(layer, mem)
    run_views_before(len(trace.layers))
    if gnn is not None:
        gnn.finish()
    return dict(mem)


def _evaluate(layer: LayerInfo, mem: dict[str, np.ndarray]) -> None:
    """The whole layer by its operator's numpy semantics (the catalogue's)."""
    args = layer.args
    if "inputs" not in args:
        raise TraceError(f"layer {layer.name!r} ({layer.op}) records no inputs/outputs in its "
                         "args; functional execution needs them")
    inputs = [mem[t] if t else None for t in args["inputs"]]
    outs = ops.evaluate(layer.op, inputs, args.get("attrs", {}),
                        [tuple(s) for s in args["shapes"]])
    for name, value in zip((t for t in args["outputs"] if t), outs, strict=False):
        mem[name] = np.asarray(value)
