"""``archsim quantize``: SQuant (or RTN) on the weights of an ONNX model, written back as ONNX.

Which weights, and the channel axis of each (issue 4): every Conv weight ``[O, I/groups, kh, kw]``
(axis 0; a kernel is one ``(o, i)`` slice), every Gemm ``B`` with ``transB=1`` ``[N, K]``
(axis 0), and Gemm with ``transB=0`` or MatMul with a constant ``[K, N]`` operand (axis 1, the
output features). Only float32 initializers are touched; biases stay float.

Two output forms:

* QDQ (default): the weight becomes an int8 initializer (int4 for ``bits <= 4`` when the model
  can be brought to opset 21) feeding a ``DequantizeLinear`` with per-channel ``scale = 1/s``
  and ``zero_point = -z`` (SPEC's ``s`` is levels per unit). A channel whose range does not
  include 0 can have a zero point outside the storage type; such a tensor is stored as int16
  (opset 21) instead, and the summary says so.
* ``fake``: the initializer keeps its name and float32 type and holds ``w_hat = (q + z) / s``
  exactly as SPEC.md defines it, so the model is bit-comparable with the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.passes.squant import QuantizeError, check_args, squant

INT4_OPSET = 21
QDQ_OPSET = 13  # per-axis DequantizeLinear


@dataclass
class QuantizedTensorInfo:
    name: str
    shape: tuple[int, ...]
    axis: int
    storage: str  # "int4", "int8", "int16" or "float32" (fake)
    changed_vs_rtn: int


@dataclass
class QuantizeSummary:
    bits: int
    mode: str
    fake: bool
    opset: int
    tensors: list[QuantizedTensorInfo] = field(default_factory=list)

    @property
    def weights(self) -> int:
        return sum(int(np.prod(t.shape)) for t in self.tensors)


def weight_axes(model) -> dict[str, int]:
    """Float32 initializer name -> channel axis, for every weight SQuant applies to."""
    from onnx import TensorProto

    inits = {i.name: i for i in model.graph.initializer}
    out: dict[str, int] = {}

    def take(name: str, axis: int, ndim: int | None = None) -> None:
        init = inits.get(name)
        if init is None or init.data_type != TensorProto.FLOAT or name in out:
            return
        if ndim is not None and len(init.dims) != ndim:
            return
        out[name] = axis

    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1:
            take(node.input[1], 0)
        elif node.op_type == "Gemm" and len(node.input) > 1:
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            take(node.input[1], 0 if trans_b else 1, 2)
        elif node.op_type == "MatMul" and len(node.input) > 1:
            take(node.input[1], 1, 2)
    return out


def _default_opset(model) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def _converted(model, opset: int):
    """The model at ``opset`` (unchanged if already there or newer), or None if it cannot be."""
    if _default_opset(model) >= opset:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, opset)
    except Exception:  # the converter has no adapter for some op: fall back to another form
        return None


def _int_tensor(name: str, values: np.ndarray, kind: int, packed4: bool):
    """An integer initializer from raw bytes (two 4-bit values per byte, low nibble first)."""
    from onnx import helper, numpy_helper

    if not packed4:
        return numpy_helper.from_array(values, name)
    nibbles = (values.reshape(-1).astype(np.int8) & 0x0F).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    raw = (nibbles[0::2] | (nibbles[1::2] << 4)).tobytes()
    return helper.make_tensor(name, kind, values.shape, raw, raw=True)


def quantize_model(model, bits: int = 4, mode: str = "squant", fake: bool = False):
    """Return ``(new_model, summary)``; ``model`` (an ``onnx.ModelProto``) is not modified."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    check_args(bits, mode)
    axes = weight_axes(model)
    if not axes:
        raise QuantizeError("no Conv, Gemm or MatMul weight stored as a float32 initializer "
                            "in the model; nothing to quantize")
    inits = {i.name: i for i in model.graph.initializer}
    results = {name: squant(numpy_helper.to_array(inits[name]), bits, mode, axis)
               for name, axis in axes.items()}
    changed = {name: int(np.count_nonzero(r.q != squant(numpy_helper.to_array(inits[name]),
                                                        bits, "rtn", axes[name]).q))
               if mode != "rtn" else 0 for name, r in results.items()}

    out = onnx.ModelProto()
    out.CopyFrom(model)
    if fake:
        summary = QuantizeSummary(bits, mode, True, _default_opset(out))
        for init in out.graph.initializer:
            if init.name in results:
                init.CopyFrom(numpy_helper.from_array(results[init.name].w_hat, init.name))
                summary.tensors.append(QuantizedTensorInfo(
                    init.name, tuple(init.dims), axes[init.name], "float32",
                    changed[init.name]))
        return out, summary

    def fits(r, lo: int, hi: int) -> bool:
        zp = -r.zero_point
        return bool(zp.min() >= lo and zp.max() <= hi)

    storage = {name: "int4" if bits <= 4 and fits(r, -8, 7) else
               "int8" if fits(r, -128, 127) else "int16" for name, r in results.items()}
    need = max([QDQ_OPSET] + [INT4_OPSET for s in storage.values() if s in ("int4", "int16")])
    converted = _converted(out, need)
    if converted is None and need == INT4_OPSET and "int16" not in storage.values():
        storage = {name: "int8" for name in storage}  # keep the model's opset: int8 storage
        need = QDQ_OPSET
        converted = _converted(out, need)
    if converted is None:
        raise QuantizeError(f"cannot bring the model from opset {_default_opset(out)} to "
                            f"{need} (needed for DequantizeLinear); try --fake")
    out = converted
    if need == INT4_OPSET:
        out.ir_version = max(out.ir_version, 10)
    kinds = {"int4": TensorProto.INT4, "int8": TensorProto.INT8, "int16": TensorProto.INT16}
    np_types = {"int4": np.int8, "int8": np.int8, "int16": np.int16}
    summary = QuantizeSummary(bits, mode, False, _default_opset(out))
    rename: dict[str, str] = {}
    kept, dq_nodes = [], []
    for init in out.graph.initializer:
        r = results.get(init.name)
        if r is None:
            kept.append(init)
            continue
        name, kind = init.name, storage[init.name]
        q = r.q.astype(np_types[kind])
        zp = (-r.zero_point).astype(np_types[kind])
        qname, sname, zname = f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"
        kept.append(_int_tensor(qname, q, kinds[kind], kind == "int4"))
        kept.append(numpy_helper.from_array(r.step, sname))
        kept.append(_int_tensor(zname, zp, kinds[kind], kind == "int4"))
        rename[name] = f"{name}_dequantized"
        dq_nodes.append(helper.make_node("DequantizeLinear", [qname, sname, zname],
                                         [rename[name]], name=f"{name}_DequantizeLinear",
                                         axis=r.axis))
        summary.tensors.append(QuantizedTensorInfo(name, tuple(init.dims), r.axis, kind,
                                                   changed[name]))
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    for node in out.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    # old models also list initializers among the graph inputs
    inputs = [i for i in out.graph.input if i.name not in rename]
    del out.graph.input[:]
    out.graph.input.extend(inputs)
    nodes = dq_nodes + list(out.graph.node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out, summary


def quantize_file(path: str | Path, out_path: str | Path, bits: int = 4, mode: str = "squant",
                  fake: bool = False) -> QuantizeSummary:
    """Read an ONNX model, quantize its weights, check it and write it atomically."""
    import onnx

    from simulator.report.export import atomic_write

    check_args(bits, mode)
    path = Path(path)
    if not path.is_file():
        raise QuantizeError("a folder, not an ONNX model" if path.is_dir() else "no such file",
                            where=str(path))
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf decode errors have many types
        raise QuantizeError(f"not a readable ONNX model ({type(err).__name__})",
                            where=str(path)) from None
    new, summary = quantize_model(model, bits, mode, fake)
    onnx.checker.check_model(new)
    atomic_write(out_path, new.SerializeToString())
    return summary
