"""Graph IR: the one data structure every frontend produces and every pass and lowering consumes.

Tensors carry shapes (NCHW for activations, ONNX-style), optional element width and values; ops
carry a type, named inputs/outputs and attributes. A :class:`Graph` keeps its ops in topological
order and can check that it is well formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workloads.errors import WorkloadError

#: How the non-zeros of a tensor without values are placed when only its ``density`` is known
#: (``Op.attrs["sparsity"]["pattern"]`` names one per operand role): independently at random,
#: whole GEMM-operand rows or columns (pruned filters), or whole 32x32 blocks.
SPARSITY_PATTERNS = ("uniform", "rows", "cols", "block")


@dataclass
class Tensor:
    """A named n-d tensor. ``bits`` is the element width the hardware stores (``None``: the
    config's ``word_bytes``); ``dtype`` is the numeric type of its values (for functional runs);
    ``values`` is set for weights and constants."""

    name: str
    shape: tuple[int, ...]
    bits: int | None = None
    values: np.ndarray | None = None
    density: float = 1.0
    dtype: str = "float32"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def has_values(self) -> bool:
        """The tensor carries values (a weight or constant), without computing lazy ones."""
        return self.values is not None


class LazyTensor(Tensor):
    """A :class:`Tensor` whose ``values`` are produced on first read by ``load(name)`` (the
    ONNX zoo's seeded weights: a timing run never reads them, so never pays for them). It is a
    Tensor in every other way; assigning ``values`` replaces the loader."""

    _values: np.ndarray | None = None
    _load: Any = None

    @classmethod
    def deferred(cls, name: str, shape: tuple[int, ...], load: Any, bits: int | None = None,
                 density: float = 1.0, dtype: str = "float32") -> LazyTensor:
        tensor = cls(name, shape, bits, None, density, dtype)
        tensor._load = load
        return tensor

    @property  # type: ignore[override]
    def values(self) -> np.ndarray | None:
        if self._load is not None:
            self._values, self._load = self._load(self.name), None
        return self._values

    @values.setter
    def values(self, value: np.ndarray | None) -> None:
        self._values, self._load = value, None

    @property
    def has_values(self) -> bool:
        return self._load is not None or self._values is not None


@dataclass
class Op:
    """One operator: ``type`` is ONNX-like (``Gemm``, ``MatMul``, ``Conv``); plain-data attrs."""

    name: str
    type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """Ops in topological order over a table of tensors."""

    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    #: What passes report about the graph beyond its ops (a fusion plan, kept tokens): plain,
    #: deterministic JSON data; it travels into the trace header.
    meta: dict[str, Any] = field(default_factory=dict)
    #: Wall-clock figures passes measured (a tuner's search time): reported, never written.
    timings: dict[str, Any] = field(default_factory=dict)

    def add_tensor(self, tensor: Tensor) -> Tensor:
        self.tensors[tensor.name] = tensor
        return tensor

    def add_op(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise WorkloadError(f"no tensor named {name!r} in graph {self.name!r}") from None

    def producers(self) -> dict[str, Op]:
        return {out: op for op in self.ops for out in op.outputs}

    def validate(self) -> None:
        """Check names are unique, every tensor exists and ops are in topological order."""
        seen_ops: set[str] = set()
        available = set(self.inputs) | {t.name for t in self.tensors.values() if t.has_values}
        produced = self.producers()
        for op in self.ops:
            if op.name in seen_ops:
                raise WorkloadError(f"duplicate op name {op.name!r}", where=self.name)
            seen_ops.add(op.name)
            for name in op.inputs:
                if name and name not in self.tensors:
                    raise WorkloadError(f"op {op.name!r} reads unknown tensor {name!r}", self.name)
                if name and name in produced and name not in available:
                    raise WorkloadError(
                        f"op {op.name!r} reads {name!r} before it is produced "
                        "(ops must be in topological order)",
                        self.name,
                    )
            for name in op.outputs:
                if name not in self.tensors:
                    raise WorkloadError(f"op {op.name!r} writes unknown tensor {name!r}", self.name)
                available.add(name)


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int = 0, pad_end: int = 0,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution along one axis (floor by default; SCALE-Sim uses ceil)."""
    span = size + pad_begin + pad_end - kernel
    if span < 0:
        padded = size + pad_begin + pad_end
        raise WorkloadError(f"kernel {kernel} is larger than the padded input {padded}")
    return (-(-span // stride) if ceil_mode else span // stride) + 1


def add_conv(graph: Graph, name: str, x: str, c_out: int, kernel: tuple[int, int],
             stride: tuple[int, int] = (1, 1), pads: tuple[int, int, int, int] = (0, 0, 0, 0),
             group: int = 1, ceil_mode: bool = False, dilation: tuple[int, int] = (1, 1)) -> str:
    """Append a Conv op on NCHW input ``x`` with fresh weight and output tensors; return output."""
    n, c_in, h, w = graph.tensor(x).shape
    kh, kw = kernel
    if c_in % group or c_out % group:
        raise WorkloadError(f"group {group} does not divide channels {c_in}->{c_out}", where=name)
    eh, ew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    oh = conv_output_size(h, eh, stride[0], pads[0], pads[2], ceil_mode)
    ow = conv_output_size(w, ew, stride[1], pads[1], pads[3], ceil_mode)
    wname, yname = f"{name}.W", f"{name}.Y"
    graph.add_tensor(Tensor(wname, (c_out, c_in // group, kh, kw)))
    graph.add_tensor(Tensor(yname, (n, c_out, oh, ow)))
    graph.add_op(Op(name, "Conv", [x, wname], [yname], {
        "kernel_shape": [kh, kw], "strides": list(stride), "pads": list(pads), "group": group,
        "dilations": list(dilation), "ceil_mode": ceil_mode,
    }))
    return yname


def add_gemm(graph: Graph, name: str, a: str, n: int) -> str:
    """Append C[M,N] = A[M,K] x B[K,N] with a fresh weight B; return C's name."""
    m, k = graph.tensor(a).shape
    bname, cname = f"{name}.B", f"{name}.C"
    graph.add_tensor(Tensor(bname, (k, n)))
    graph.add_tensor(Tensor(cname, (m, n)))
    graph.add_op(Op(name, "Gemm", [a, bname], [cname]))
    return cname


def conv_needs_im2col(op: Op) -> bool:
    """A conv's input must be lowered unless it is 1x1, stride 1, unpadded: then the input
    already is the (pixels x channels) matrix."""
    if op.type != "Conv":
        return False
    kh, kw = op.attrs["kernel_shape"]
    strides = op.attrs.get("strides", [1, 1])
    pads = op.attrs.get("pads", [0, 0, 0, 0])
    return (kh, kw) != (1, 1) or any(s != 1 for s in strides) or any(pads)
