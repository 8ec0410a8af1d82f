"""Built-in ONNX model zoo: real networks built with ``onnx.helper`` and seeded numpy weights, so
the same ModelProto can be imported (``load_onnx_zoo``) and run in onnxruntime (functional checks).

Spec syntax: ``NAME`` or ``NAME?key=value&key=value`` (optionally prefixed ``zoo:``), e.g.
``zoo:bert_base?seq=128&layers=2``; keys are the builder's keyword parameters (integers).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph

OPSET = 20  # LayerNormalization (17) and Gelu (20) are single operators here


#: While set (by :func:`zoo_constants`), builders only record their constants' values, as
#: numpy arrays by name, and build no ONNX (so onnx is not imported).
_RECORDING: ContextVar[dict[str, np.ndarray] | None] = ContextVar("_RECORDING", default=None)


class Builder:
    """Accumulates nodes and seeded initializers; each ``op`` call returns its output name."""

    def __init__(self, name: str, seed: int = 0) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.recorded = _RECORDING.get()

    def weight(self, name: str, shape: tuple[int, ...], scale: float | None = None) -> str:
        """He-style scaled normal weights (fan-in = all dims but the first)."""
        fan_in = max(1, math.prod(shape[1:]))
        scale = math.sqrt(2.0 / fan_in) if scale is None else scale
        return self.const(name, self.rng.standard_normal(shape, dtype=np.float32) * scale)

    def const(self, name: str, value: np.ndarray) -> str:
        if self.recorded is not None:
            return self._record(name, value)
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def constant_node(self, name: str, value: np.ndarray) -> str:
        """A Constant node rather than an initializer (as many exporters emit)."""
        if self.recorded is not None:
            return self._record(name, value)
        from onnx import helper, numpy_helper

        self.nodes.append(helper.make_node("Constant", [], [name], name=name,
                                           value=numpy_helper.from_array(np.asarray(value))))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, outputs: int = 1,
           **attrs: Any) -> Any:
        outs = [name] if outputs == 1 else [f"{name}:{i}" for i in range(outputs)]
        if self.recorded is None:
            from onnx import helper

            self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def _record(self, name: str, value: np.ndarray) -> str:
        """The array the ONNX import of this constant holds: same dtype, shape and values,
        read-only (as ``numpy_helper.to_array`` returns it)."""
        array = np.array(value)   # a copy (numpy_helper stores the bytes)
        array.flags.writeable = False
        self.recorded[name] = array
        return name

    def model(self, inputs: dict[str, tuple[int, ...]], outputs: list[str]) -> Any:
        if self.recorded is not None:
            return None
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="archsim.onnx_zoo")
        model.ir_version = 10  # onnxruntime reads IR <= 10
        return model

    # -- layers --------------------------------------------------------------------------------
    def conv(self, x: str, name: str, c_in: int, c_out: int, k: int, stride: int = 1,
             pad: int | None = None, group: int = 1, dilation: int = 1, bias: bool = True,
             **attrs: Any) -> str:
        pad = dilation * (k - 1) // 2 if pad is None else pad
        inputs = [x, self.weight(f"{name}.weight", (c_out, c_in // group, k, k))]
        if bias:
            inputs.append(self.const(f"{name}.bias", np.zeros(c_out, np.float32)))
        if "auto_pad" not in attrs:
            attrs["pads"] = [pad] * 4
        return self.op("Conv", inputs, name, kernel_shape=[k, k], strides=[stride] * 2,
                       dilations=[dilation] * 2, group=group, **attrs)

    def bn(self, x: str, name: str, c: int) -> str:
        rng = self.rng
        params = [self.const(f"{name}.{p}", v.astype(np.float32)) for p, v in (
            ("scale", 1 + 0.1 * rng.standard_normal(c)), ("bias", 0.1 * rng.standard_normal(c)),
            ("mean", 0.1 * rng.standard_normal(c)), ("var", 1 + 0.1 * rng.random(c)))]
        return self.op("BatchNormalization", [x, *params], name, epsilon=1e-5)

    def linear(self, x: str, name: str, n_in: int, n_out: int) -> str:
        """torch.nn.Linear as exported for 2-D input: Gemm with transB=1."""
        w = self.weight(f"{name}.weight", (n_out, n_in), 1 / math.sqrt(n_in))
        b = self.const(f"{name}.bias", np.zeros(n_out, np.float32))
        return self.op("Gemm", [x, w, b], name, transB=1)

    def layer_norm(self, x: str, name: str, n: int) -> str:
        scale = self.const(f"{name}.weight", np.ones(n, np.float32))
        bias = self.const(f"{name}.bias", np.zeros(n, np.float32))
        return self.op("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-12)

    def classifier(self, x: str, c: int, classes: int) -> str:
        x = self.op("GlobalAveragePool", [x], "avgpool")
        x = self.op("Flatten", [x], "flatten", axis=1)
        return self.linear(x, "fc", c, classes)


def resnet50(batch: int = 1, size: int = 224, classes: int = 1000) -> Any:
    """torchvision ResNet-50 (v1.5: stride on the 3x3 conv), Conv + BatchNormalization + Relu."""
    b = Builder("resnet50")
    x = b.op("Relu", [b.bn(b.conv("image", "conv1", 3, 64, 7, 2, 3, bias=False), "bn1", 64)],
             "relu1")
    x = b.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    c_in = 64
    for stage, (width, blocks, stride) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for i in range(blocks):
            x = _bottleneck(b, x, f"layer{stage}.{i}", c_in, width, stride if i == 0 else 1)
            c_in = width * 4
    out = b.classifier(x, c_in, classes)
    return b.model({"image": (batch, 3, size, size)}, [out])


def _bottleneck(b: Builder, x: str, name: str, c_in: int, width: int, stride: int) -> str:
    y = x
    for i, (k, s, c_out) in enumerate([(1, 1, width), (3, stride, width), (1, 1, width * 4)]):
        y = b.bn(b.conv(y, f"{name}.conv{i + 1}", c_in if i == 0 else width, c_out, k, s,
                        bias=False), f"{name}.bn{i + 1}", c_out)
        if i < 2:
            y = b.op("Relu", [y], f"{name}.relu{i + 1}")
    if stride != 1 or c_in != width * 4:
        x = b.bn(b.conv(x, f"{name}.downsample", c_in, width * 4, 1, stride, bias=False),
                 f"{name}.downsample.bn", width * 4)
    return b.op("Relu", [b.op("Add", [y, x], f"{name}.add")], f"{name}.relu")


def mobilenet_v2(batch: int = 1, size: int = 224, classes: int = 1000) -> Any:
    """MobileNetV2 (width 1.0) with BatchNorm folded into conv biases, ReLU6 as Clip(0, 6)."""
    b = Builder("mobilenet_v2")
    lo, hi = b.const("relu6.min", np.float32(0)), b.const("relu6.max", np.float32(6))

    def relu6(t: str) -> str:
        return b.op("Clip", [t, lo, hi], f"{t}.relu6")

    x = relu6(b.conv("image", "features.0", 3, 32, 3, 2))
    c_in, index = 32, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            name, stride, hidden = f"features.{index}", s if i == 0 else 1, c_in * t
            y = relu6(b.conv(x, f"{name}.expand", c_in, hidden, 1)) if t != 1 else x
            y = relu6(b.conv(y, f"{name}.dw", hidden, hidden, 3, stride, group=hidden))
            y = b.conv(y, f"{name}.project", hidden, c, 1)
            x = b.op("Add", [x, y], f"{name}.add") if stride == 1 and c_in == c else y
            c_in, index = c, index + 1
    x = relu6(b.conv(x, f"features.{index}", c_in, 1280, 1))
    out = b.classifier(x, 1280, classes)
    return b.model({"image": (batch, 3, size, size)}, [out])


def bert_base(seq: int = 128, layers: int = 12, hidden: int = 768, heads: int = 12) -> Any:
    """BERT-base encoder stack on one sequence's embeddings ``[seq, hidden]`` (batch 1 implied,
    no embedding lookup or pooler): per layer Q/K/V/output Gemm projections, per-head attention
    as batched MatMuls [heads, seq, d] x [heads, d, seq], Softmax, residual Add +
    LayerNormalization, a 4x GELU feed-forward."""
    b = Builder("bert_base")
    x = "embeddings"
    for i in range(layers):
        x = _encoder_layer(b, x, f"layer{i}", seq, hidden, heads, 4 * hidden)
    return b.model({"embeddings": (seq, hidden)}, [b.op("Identity", [x], "output")])


def _encoder_layer(b: Builder, x: str, name: str, seq: int, hidden: int, heads: int,
                   ffn: int) -> str:
    d = hidden // heads
    split = b.const(f"{name}.heads_shape", np.array([seq, heads, d], np.int64))
    q, k, v = (b.op("Reshape", [b.linear(x, f"{name}.{p}", hidden, hidden), split],
                    f"{name}.{p}.split") for p in ("query", "key", "value"))
    q = b.op("Transpose", [q], f"{name}.query.heads", perm=[1, 0, 2])   # [heads, seq, d]
    k = b.op("Transpose", [k], f"{name}.key.heads", perm=[1, 2, 0])     # [heads, d, seq]
    v = b.op("Transpose", [v], f"{name}.value.heads", perm=[1, 0, 2])   # [heads, seq, d]
    scores = b.op("MatMul", [q, k], f"{name}.scores")
    scale = b.const(f"{name}.scale", np.float32(math.sqrt(d)))
    probs = b.op("Softmax", [b.op("Div", [scores, scale], f"{name}.scaled")], f"{name}.probs",
                 axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [probs, v], f"{name}.context")],
               f"{name}.context.merge", perm=[1, 0, 2])
    merged = b.const(f"{name}.merged_shape", np.array([seq, hidden], np.int64))
    ctx = b.op("Reshape", [ctx, merged], f"{name}.context.flat")
    attn = b.linear(ctx, f"{name}.attention.output", hidden, hidden)
    x = b.layer_norm(b.op("Add", [attn, x], f"{name}.attention.residual"),
                     f"{name}.attention.norm", hidden)
    h = b.op("Gelu", [b.linear(x, f"{name}.intermediate", hidden, ffn)], f"{name}.gelu")
    h = b.linear(h, f"{name}.output", ffn, hidden)
    return b.layer_norm(b.op("Add", [h, x], f"{name}.output.residual"), f"{name}.output.norm",
                        hidden)


def tiny_cnn(batch: int = 1, size: int = 32, classes: int = 10) -> Any:
    """Small CNN covering conv padding, stride, dilation, groups, depthwise with SAME_UPPER
    auto_pad, a residual block, BatchNorm, LeakyRelu/Clip, pooling and a Gemm classifier."""
    b = Builder("tiny_cnn")
    x = b.op("Relu", [b.bn(b.conv("image", "conv1", 3, 16, 3, bias=False), "bn1", 16)], "relu1")
    x = b.op("LeakyRelu", [b.conv(x, "conv2", 16, 32, 3, 2, pad=2, group=2, dilation=2)],
             "lrelu2", alpha=0.1)
    y = b.op("Relu", [b.conv(x, "res.conv1", 32, 32, 3)], "res.relu1")
    y = b.conv(y, "res.conv2", 32, 32, 3)
    x = b.op("Relu", [b.op("Add", [x, y], "res.add")], "res.relu")
    lo = b.constant_node("clip.min", np.float32(0))
    hi = b.constant_node("clip.max", np.float32(6))
    x = b.op("Clip", [b.conv(x, "dw", 32, 32, 3, 2, group=32, auto_pad="SAME_UPPER"), lo, hi],
             "relu6")
    x = b.op("MaxPool", [b.conv(x, "pw", 32, 64, 1)], "maxpool", kernel_shape=[3, 3],
             strides=[2, 2], pads=[1] * 4, ceil_mode=1)
    x = b.op("AveragePool", [x], "avgpool2", kernel_shape=[2, 2], strides=[1, 1])
    out = b.op("Softmax", [b.classifier(x, 64, classes)], "softmax", axis=1)
    return b.model({"image": (batch, 3, size, size)}, [out])


def tiny_transformer(seq: int = 8, layers: int = 2, hidden: int = 32, heads: int = 4,
                     classes: int = 4) -> Any:
    """A 2-layer pre-classifier encoder over ``[1, seq, hidden]`` as PyTorch exports it: fused
    QKV MatMul + Split, 4-D batched attention, erf-form GELU, LayerNormalization, and a
    classifier on the first token (Gather)."""
    b = Builder("tiny_transformer", seed=1)
    x = "tokens"
    for i in range(layers):
        x = _tiny_layer(b, x, f"layer{i}", seq, hidden, heads)
    first = b.op("Gather", [x, b.constant_node("cls_index", np.array(0, np.int64))], "cls",
                 axis=1)
    out = b.linear(first, "classifier", hidden, classes)
    return b.model({"tokens": (1, seq, hidden)}, [x, out])


def _dense(b: Builder, x: str, name: str, n_in: int, n_out: int) -> str:
    """torch.nn.Linear on 3-D input: MatMul with a transposed weight, then Add bias."""
    w = b.weight(f"{name}.weight", (n_in, n_out), 1 / math.sqrt(n_in))
    y = b.op("MatMul", [x, w], f"{name}.matmul")
    return b.op("Add", [y, b.const(f"{name}.bias", np.zeros(n_out, np.float32))], name)


def _tiny_layer(b: Builder, x: str, name: str, seq: int, hidden: int, heads: int) -> str:
    d = hidden // heads
    qkv = _dense(b, x, f"{name}.qkv", hidden, 3 * hidden)
    sizes = b.constant_node(f"{name}.qkv_sizes", np.array([hidden] * 3, np.int64))
    q, k, v = b.op("Split", [qkv, sizes], f"{name}.split", outputs=3, axis=-1)
    shape = b.constant_node(f"{name}.heads_shape", np.array([1, seq, heads, d], np.int64))
    q, k, v = (b.op("Reshape", [t, shape], f"{name}.{p}.split") for t, p in zip(
        (q, k, v), "qkv", strict=True))
    q = b.op("Transpose", [q], f"{name}.q.heads", perm=[0, 2, 1, 3])
    k = b.op("Transpose", [k], f"{name}.k.heads", perm=[0, 2, 3, 1])
    v = b.op("Transpose", [v], f"{name}.v.heads", perm=[0, 2, 1, 3])
    scale = b.const(f"{name}.scale", np.float32(1 / math.sqrt(d)))
    scores = b.op("Mul", [b.op("MatMul", [q, k], f"{name}.scores"), scale], f"{name}.scaled")
    probs = b.op("Softmax", [scores], f"{name}.probs", axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [probs, v], f"{name}.context")],
               f"{name}.context.merge", perm=[0, 2, 1, 3])
    merged = b.constant_node(f"{name}.merged_shape", np.array([1, seq, -1], np.int64))
    ctx = b.op("Reshape", [ctx, merged], f"{name}.context.flat")
    x = b.layer_norm(b.op("Add", [_dense(b, ctx, f"{name}.out", hidden, hidden), x],
                          f"{name}.residual1"), f"{name}.norm1", hidden)
    h = _dense(b, x, f"{name}.ffn1", hidden, 2 * hidden)
    h = _erf_gelu(b, h, f"{name}.gelu")
    h = _dense(b, h, f"{name}.ffn2", 2 * hidden, hidden)
    return b.layer_norm(b.op("Add", [h, x], f"{name}.residual2"), f"{name}.norm2", hidden)


def _erf_gelu(b: Builder, x: str, name: str) -> str:
    """0.5 * x * (1 + erf(x / sqrt(2))), the form torch.onnx emits before opset 20."""
    sqrt2 = b.const(f"{name}.sqrt2", np.float32(math.sqrt(2)))
    one, half = b.const(f"{name}.one", np.float32(1)), b.const(f"{name}.half", np.float32(0.5))
    e = b.op("Erf", [b.op("Div", [x, sqrt2], f"{name}.div")], f"{name}.erf")
    y = b.op("Mul", [x, b.op("Add", [e, one], f"{name}.add")], f"{name}.mul")
    return b.op("Mul", [y, half], name)


ONNX_ZOO: dict[str, Callable[..., Any]] = {
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "bert_base": bert_base,
    "tiny_cnn": tiny_cnn,
    "tiny_transformer": tiny_transformer,
}


def parse_spec(spec: str) -> tuple[str, dict[str, int]]:
    """``[zoo:]NAME[?k=v&k=v]`` -> (NAME, {k: int(v)}), checked against the builder's signature."""
    text = spec.removeprefix("zoo:")
    name, _, query = text.partition("?")
    if name not in ONNX_ZOO:
        raise WorkloadError(f"no ONNX zoo model {name!r}; available: {', '.join(ONNX_ZOO)}",
                            where=spec)
    accepted = list(inspect.signature(ONNX_ZOO[name]).parameters)
    params: dict[str, int] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or key not in accepted:
            raise WorkloadError(f"bad parameter {item!r} for {name}; accepted: "
                                f"{', '.join(f'{p}=INT' for p in accepted)}", where=spec)
        try:
            params[key] = int(value)
        except ValueError:
            raise WorkloadError(f"parameter {key} must be an integer, got {value!r}",
                                where=spec) from None
        if params[key] < 1:
            raise WorkloadError(f"parameter {key} must be positive", where=spec)
    return name, params


def onnx_zoo_model(spec: str) -> Any:
    """The ``onnx.ModelProto`` of a zoo spec (the same model ``load_onnx_zoo`` imports)."""
    name, params = parse_spec(spec)
    return ONNX_ZOO[name](**params)


def zoo_constants(name: str) -> dict[str, np.ndarray]:
    """Every initializer and Constant value of zoo model ``name`` (default parameters) as the
    ONNX import of :func:`onnx_zoo_model` holds it, by name, computed without onnx: the same
    builder code and seeds, recording values instead of building a ModelProto."""
    recorded: dict[str, np.ndarray] = {}
    token = _RECORDING.set(recorded)
    try:
        ONNX_ZOO[name]()
    finally:
        _RECORDING.reset(token)
    return recorded


def load_onnx_zoo(spec: str) -> Graph:
    """Build a zoo model and import it through the ONNX frontend."""
    from workloads.onnx_frontend import load_onnx

    return load_onnx(onnx_zoo_model(spec), name=spec.removeprefix("zoo:"))
