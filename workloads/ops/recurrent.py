"""Recurrent layers: LSTM, GRU and RNN (ONNX spec), decomposed at import into time steps.

Per direction the input projection of every time step is one GEMM (``X W^T + Wb``, all steps at
once); each time step then runs the recurrent GEMM ``H_{t-1} R^T`` (+ ``Rb``), slices the gates
and applies the activations and the state update with vector ops (Sigmoid, Tanh, Mul, Add...).
So every target lowers them with its own GEMM and vector rules, and ``--functional`` checks
every step. Supported: ``direction`` forward/reverse/bidirectional, ``layout`` 0/1, initial
states, biases, peepholes (LSTM), ``clip``, ``input_forget`` (LSTM), ``linear_before_reset``
(GRU), the spec's activation functions with their alpha/beta, and ``sequence_lens`` when every
sequence has the full length. The numpy semantics compute the whole op directly (constant
folding, and the reference the decomposition is tested against).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.ops.catalogue import Call, OpSpec, register
from workloads.ops.decompose import Builder
from workloads.ops.importing import Context, ImportRule, Node

#: op -> (gates, default activations, names of the gate slices in W/R/B order)
LAYERS = {"LSTM": (4, ["Sigmoid", "Tanh", "Tanh"]), "GRU": (3, ["Sigmoid", "Tanh"]),
          "RNN": (1, ["Tanh"])}
#: activation -> (takes alpha, takes beta, default alpha, default beta)
ACTIVATIONS = {"Sigmoid": (0, 0, None, None), "Tanh": (0, 0, None, None),
               "Relu": (0, 0, None, None), "Softsign": (0, 0, None, None),
               "Softplus": (0, 0, None, None), "LeakyRelu": (1, 0, 0.01, None),
               "ThresholdedRelu": (1, 0, 1.0, None), "Elu": (1, 0, 1.0, None),
               "HardSigmoid": (1, 1, 0.2, 0.5), "Affine": (1, 1, 1.0, 0.0),
               "ScaledTanh": (1, 1, 1.0, 1.0)}


def _activations(attrs: dict, op: str, directions: int) -> list[tuple[str, float | None,
                                                                       float | None]]:
    """(name, alpha, beta) per activation slot, for every direction in order."""
    names = [str(a) for a in attrs.get("activations") or []]
    if not names:
        names = LAYERS[op][1] * directions
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    out = []
    for name in names:
        key = next((k for k in ACTIVATIONS if k.lower() == name.lower()), None)
        if key is None:
            raise WorkloadError(f"{op} activation {name!r} is not supported; accepted: "
                                f"{', '.join(ACTIVATIONS)}")
        takes_a, takes_b, da, db = ACTIVATIONS[key]
        alpha = float(alphas.pop(0)) if takes_a and alphas else da
        beta = float(betas.pop(0)) if takes_b and betas else db
        out.append((key, alpha, beta))
    need = len(LAYERS[op][1])
    if len(out) == need and directions == 2:
        out = out * 2
    out = out[:need * directions]     # RNN's schema default lists one per direction: 2
    if len(out) != need * directions:
        raise WorkloadError(f"{op} needs {need * directions} activations, got {len(out)}")
    return out


def _np_act(name: str, alpha: float | None, beta: float | None) -> Callable[[np.ndarray],
                                                                            np.ndarray]:
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "Tanh": np.tanh,
        "Relu": lambda x: np.maximum(x, 0),
        "Softsign": lambda x: x / (1 + np.abs(x)),
        "Softplus": lambda x: np.logaddexp(0, x),
        "LeakyRelu": lambda x: np.where(x >= 0, x, alpha * x),
        "ThresholdedRelu": lambda x: np.where(x > alpha, x, 0),
        "Elu": lambda x: np.where(x < 0, alpha * np.expm1(np.minimum(x, 0)), x),
        "HardSigmoid": lambda x: np.clip(alpha * x + beta, 0, 1),
        "Affine": lambda x: alpha * x + beta,
        "ScaledTanh": lambda x: alpha * np.tanh(beta * x),
    }
    return table[name]


def _check_lens(lens: np.ndarray | None, seq: int, where: str | None = None) -> None:
    if lens is not None and not np.all(np.asarray(lens) == seq):
        raise WorkloadError("sequence_lens shorter than the sequence are not supported (every "
                            "sequence must have the full length)", where=where)


# ---- numpy semantics ----------------------------------------------------------------------------

def _recurrent(c: Call) -> list[np.ndarray]:
    op = c.op
    gates = LAYERS[op][0]
    x = np.asarray(c.inputs[0])
    w, r = np.asarray(c.inputs[1]), np.asarray(c.inputs[2])
    bias, lens, h0 = c.input(3), c.input(4), c.input(5)
    c0 = c.input(6) if op == "LSTM" else None
    peep = c.input(7) if op == "LSTM" else None
    layout = int(c.attr("layout", 0))
    if layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else np.asarray(h0).transpose(1, 0, 2)
        c0 = None if c0 is None else np.asarray(c0).transpose(1, 0, 2)
    seq, batch, _ = x.shape
    _check_lens(lens, seq)
    dirs, hidden = w.shape[0], r.shape[-1]
    direction = c.attr("direction", "forward")
    acts = _activations(c.attrs, op, dirs)
    per = len(LAYERS[op][1])
    clip = c.attr("clip")
    dtype = x.dtype
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        f = [_np_act(*a) for a in acts[d * per:(d + 1) * per]]
        b = np.zeros(2 * gates * hidden, dtype) if bias is None else np.asarray(bias)[d]
        wb, rb = b[:gates * hidden], b[gates * hidden:]
        h = np.zeros((batch, hidden), dtype) if h0 is None else np.asarray(h0)[d]
        cell = np.zeros((batch, hidden), dtype) if c0 is None else np.asarray(c0)[d]
        p = np.zeros(3 * hidden, dtype) if peep is None else np.asarray(peep)[d]
        out = [None] * seq
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            xw = x[t] @ w[d].T + wb

            def cl(v: np.ndarray) -> np.ndarray:
                return v if clip is None else np.clip(v, -clip, clip)
            if op == "LSTM":
                g = xw + h @ r[d].T + rb
                gi, go, gf, gc = np.split(g, 4, axis=1)
                i = f[0](cl(gi + p[:hidden] * cell))
                if c.attr("input_forget", 0):
                    fg = 1 - i
                else:
                    fg = f[0](cl(gf + p[2 * hidden:] * cell))
                cell = fg * cell + i * f[1](cl(gc))
                o = f[0](cl(go + p[hidden:2 * hidden] * cell))
                h = o * f[2](cell)
            elif op == "GRU":
                xz, xr, xh = np.split(xw, 3, axis=1)
                rz, rr, rh = np.split(r[d], 3, axis=0)
                bz, br, bh = np.split(rb, 3)
                z = f[0](cl(xz + h @ rz.T + bz))
                rt = f[0](cl(xr + h @ rr.T + br))
                if c.attr("linear_before_reset", 0):
                    hh = f[1](cl(xh + rt * (h @ rh.T + bh)))
                else:
                    hh = f[1](cl(xh + (rt * h) @ rh.T + bh))
                h = (1 - z) * hh + z * h
            else:
                h = f[0](cl(xw + h @ r[d].T + rb))
            out[t] = h
        ys.append(np.stack(out))
        hs.append(h)
        cs.append(cell)
    y = np.stack(ys, axis=1).astype(dtype)     # [seq, dirs, batch, hidden]
    y_h, y_c = np.stack(hs).astype(dtype), np.stack(cs).astype(dtype)
    if layout:
        y, y_h, y_c = y.transpose(2, 0, 1, 3), y_h.transpose(1, 0, 2), y_c.transpose(1, 0, 2)
    return [y, y_h, y_c] if op == "LSTM" else [y, y_h]


# ---- the decomposition --------------------------------------------------------------------------

class _Steps:
    """Emits one direction's time steps through the catalogue."""

    def __init__(self, b: Builder, node: Node, hidden: int) -> None:
        self.b = b
        self.node = node
        self.hidden = hidden
        self.clip = node.attrs.get("clip")

    def act(self, x: str, spec: tuple[str, float | None, float | None]) -> str:
        name, alpha, beta = spec
        b = self.b
        if self.clip is not None:
            lo = b.const(np.array(-self.clip, np.float32))
            hi = b.const(np.array(self.clip, np.float32))
            x = b.one("Clip", [x, lo, hi])
        if name == "Affine":
            return b.one("Add", [b.one("Mul", [x, b.const(np.float32(alpha))]),
                                 b.const(np.float32(beta))])
        if name == "ScaledTanh":
            inner = b.one("Tanh", [b.one("Mul", [x, b.const(np.float32(beta))])])
            return b.one("Mul", [inner, b.const(np.float32(alpha))])
        attrs = {}
        if alpha is not None:
            attrs["alpha"] = alpha
        if beta is not None:
            attrs["beta"] = beta
        return b.one(name, [x], **attrs)

    def cols(self, x: str, gate: int, count: int = 1) -> str:
        """Columns ``gate*H .. (gate+count)*H`` of a [batch, gates*H] tensor (axis 1)."""
        b, h = self.b, self.hidden
        starts = b.const(np.array([gate * h], np.int64))
        ends = b.const(np.array([(gate + count) * h], np.int64))
        return b.one("Slice", [x, starts, ends, b.const(np.array([1], np.int64))])

    def rows(self, w: str, gate: int, count: int) -> str:
        """Rows of a [gates*H, K] weight (axis 0)."""
        b, h = self.b, self.hidden
        starts = b.const(np.array([gate * h], np.int64))
        ends = b.const(np.array([(gate + count) * h], np.int64))
        return b.one("Slice", [w, starts, ends, b.const(np.array([0], np.int64))])


def _import_recurrent(ctx: Context, node: Node, spec: Any) -> None:
    op = node.op_type
    gates = LAYERS[op][0]
    b = Builder(ctx, node)
    x, w, r = node.inputs[0], node.inputs[1], node.inputs[2]
    bias, lens, h0 = node.input(3), node.input(4), node.input(5)
    c0 = node.input(6) if op == "LSTM" else ""
    peep = node.input(7) if op == "LSTM" else ""
    layout = int(node.attrs.get("layout", 0))
    if layout:
        x = b.one("Transpose", [x], perm=[1, 0, 2])
        h0 = b.one("Transpose", [h0], perm=[1, 0, 2]) if h0 else ""
        c0 = b.one("Transpose", [c0], perm=[1, 0, 2]) if c0 else ""
    if len(ctx.shape(x)) != 3:
        raise WorkloadError(f"X must be [seq_length, batch, input_size], got shape "
                            f"{ctx.shape(x)}", where=node.where)
    seq, batch, feat = ctx.shape(x)
    if lens:
        value = ctx.const(lens)
        if value is None:
            raise WorkloadError(f"sequence_lens {lens!r} must be known at import (pin it with "
                                "--input-value)", where=node.where)
        _check_lens(value, seq, node.where)
    dirs, _, hidden = ctx.shape(r)
    direction = node.attrs.get("direction", "forward")
    acts = _activations(node.attrs, op, dirs)
    per = len(LAYERS[op][1])
    dtype = np.dtype(ctx.dtype(x))
    s = _Steps(b, node, hidden)
    one_d = b.const(np.array([0], np.int64))
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        f = acts[d * per:(d + 1) * per]
        di = b.const(np.array(d, np.int64), "dir")
        wd, rd = b.one("Gather", [w, di], axis=0), b.one("Gather", [r, di], axis=0)
        bd = b.one("Gather", [bias, di], axis=0) if bias else ""
        wb = s.cols(b.one("Unsqueeze", [bd, one_d]), 0, gates) if bd else ""
        rb = s.cols(b.one("Unsqueeze", [bd, one_d]), gates, gates) if bd else ""
        wb = b.one("Squeeze", [wb, one_d]) if wb else ""
        rb = b.one("Squeeze", [rb, one_d]) if rb else ""
        # All time steps' input projections in one GEMM: [seq*batch, feat] x W^T + Wb.
        flat = b.one("Reshape", [x, b.const(np.array([seq * batch, feat], np.int64))])
        xw = b.one("Gemm", [flat, wd, wb] if wb else [flat, wd], transB=1)
        xw = b.one("Reshape", [xw, b.const(np.array([seq, batch, gates * hidden], np.int64))])
        h = b.one("Gather", [h0, di], axis=0) if h0 else \
            b.const(np.zeros((batch, hidden), dtype), "h0")
        cell = b.one("Gather", [c0, di], axis=0) if c0 else \
            b.const(np.zeros((batch, hidden), dtype), "c0")
        pd = b.one("Gather", [peep, di], axis=0) if peep else ""
        if pd:
            pd = b.one("Unsqueeze", [pd, one_d])
            p_i, p_o, p_f = (s.cols(pd, k) for k in range(3))
        out: list[str] = [""] * seq
        if op == "GRU":
            r_zr, r_h = s.rows(rd, 0, 2), s.rows(rd, 2, 1)
            rb_zr = s.cols(b.one("Unsqueeze", [rb, one_d]), 0, 2) if rb else ""
            rb_h = s.cols(b.one("Unsqueeze", [rb, one_d]), 2, 1) if rb else ""
        for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
            xt = b.one("Gather", [xw, b.const(np.array(t, np.int64), "t")], axis=0)
            if op == "LSTM":
                rec = b.one("Gemm", [h, rd, rb] if rb else [h, rd], transB=1)
                g = b.one("Add", [xt, rec])
                gi, go, gf, gc = (s.cols(g, k) for k in range(4))
                if pd:
                    gi = b.one("Add", [gi, b.one("Mul", [p_i, cell])])
                i = s.act(gi, f[0])
                if node.attrs.get("input_forget", 0):
                    fg = b.one("Sub", [b.const(np.ones((), dtype)), i])
                else:
                    if pd:
                        gf = b.one("Add", [gf, b.one("Mul", [p_f, cell])])
                    fg = s.act(gf, f[0])
                cell = b.one("Add", [b.one("Mul", [fg, cell]), b.one("Mul", [i, s.act(gc, f[1])])])
                if pd:
                    go = b.one("Add", [go, b.one("Mul", [p_o, cell])])
                h = b.one("Mul", [s.act(go, f[0]), s.act(cell, f[2])])
            elif op == "GRU":
                rec = b.one("Gemm", [h, r_zr, rb_zr] if rb_zr else [h, r_zr], transB=1)
                zr = b.one("Add", [s.cols(xt, 0, 2), rec])
                z, rt = s.act(s.cols(zr, 0), f[0]), s.act(s.cols(zr, 1), f[0])
                if node.attrs.get("linear_before_reset", 0):
                    hr = b.one("Gemm", [h, r_h, rb_h] if rb_h else [h, r_h], transB=1)
                    pre = b.one("Add", [s.cols(xt, 2), b.one("Mul", [rt, hr])])
                else:
                    hr = b.one("Gemm", [b.one("Mul", [rt, h]), r_h, rb_h] if rb_h else
                               [b.one("Mul", [rt, h]), r_h], transB=1)
                    pre = b.one("Add", [s.cols(xt, 2), hr])
                hh = s.act(pre, f[1])
                keep = b.one("Sub", [b.const(np.ones((), dtype)), z])
                h = b.one("Add", [b.one("Mul", [keep, hh]), b.one("Mul", [z, h])])
            else:
                rec = b.one("Gemm", [h, rd, rb] if rb else [h, rd], transB=1)
                h = s.act(b.one("Add", [xt, rec]), f[0])
            out[t] = h
        ys.append(_stack(b, out, 0))         # [seq, batch, hidden]
        hs.append(h)
        cs.append(cell)
    y = _stack(b, ys, 1)                      # [seq, dirs, batch, hidden]
    y_h, y_c = _stack(b, hs, 0), _stack(b, cs, 0)
    if layout:
        y = b.one("Transpose", [y], perm=[2, 0, 1, 3])
        y_h = b.one("Transpose", [y_h], perm=[1, 0, 2])
        y_c = b.one("Transpose", [y_c], perm=[1, 0, 2])
    for name, value in zip(node.outputs, [y, y_h, y_c], strict=False):
        if name:
            b.bind(name, value)


def _stack(b: Builder, parts: list[str], axis: int) -> str:
    axes = b.const(np.array([axis], np.int64), "axes")
    grown = [b.one("Unsqueeze", [p, axes]) for p in parts]
    return grown[0] if len(grown) == 1 else b.one("Concat", grown, axis=axis)


for _op, _doc in (("LSTM", "long short-term memory (iofc gates, peepholes)"),
                  ("GRU", "gated recurrent unit (zrh gates, linear_before_reset)"),
                  ("RNN", "simple recurrent layer")):
    register(OpSpec(_op, "", 1, None, "matmul", _doc + "; imported as per-time-step GEMMs "
                    "and vector ops", importer=ImportRule(custom=_import_recurrent),
                    semantics=_recurrent))
