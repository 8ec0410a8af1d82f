"""The catalogue itself: :class:`OpSpec` entries, the registry, and the queries every layer uses.

An entry is one operator: (domain, type, opset range), its category, how the importer turns an
ONNX node into a Graph op (its shape rule), its numpy reference semantics, and its default cost
on a vector unit. The family modules (``constant``, ``elementwise``, ...) register the entries;
nothing else in the project lists operators.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.graph import Graph, Op

if TYPE_CHECKING:
    from workloads.ops.importing import Context, ImportRule, Node

ONNX_DOMAIN = ""
GNN_DOMAIN = "archsim.gnn"
ONNX_ALIASES = ("", "ai.onnx")

#: What an operator is. ``matmul``: convolutions and matrix products (:func:`is_matmul` says
#: which of them the matrix units run as GEMMs); ``view``: free reinterpretations of a buffer;
#: ``control``: shape/constant plumbing that import folds away.
CATEGORIES = ("matmul", "elementwise", "normalization", "pooling", "reduction", "view",
              "data_movement", "quantization", "control", "gnn")
#: Categories whose ops run as one vector operation on every target with a vector unit.
VECTOR_CATEGORIES = frozenset({"elementwise", "normalization", "pooling", "reduction",
                               "data_movement", "quantization", "matmul"})
COST_TERMS = ("per_output", "per_input", "per_tap")


@dataclass(frozen=True)
class VectorCost:
    """Element operations on a vector unit: ``out * per_output + in * per_input +
    out * taps * per_tap`` (``out``: elements of every output, ``in``: of the first input,
    ``taps``: the window size of a pool, ``size`` of LRN)."""

    per_output: float = 0
    per_input: float = 0
    per_tap: float = 0

    def work(self, out_elems: int, in_elems: int, taps: int = 1) -> int:
        total = out_elems * self.per_output + in_elems * self.per_input + \
            out_elems * taps * self.per_tap
        return int(round(total))

    def describe(self) -> str:
        terms = [f"{_num(v)} x {name}" for v, name in (
            (self.per_output, "out"), (self.per_input, "in"), (self.per_tap, "out x taps")) if v]
        return " + ".join(terms) or "0"

    def to_json(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v}


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


@dataclass
class Call:
    """One evaluation of an operator's semantics: what its numpy function sees."""

    op: str
    inputs: list[np.ndarray | None]
    attrs: dict[str, Any]
    shapes: list[tuple[int, ...]] | None = None
    opset: int | None = None
    n_outputs: int | None = None

    def input(self, index: int) -> np.ndarray | None:
        """Input ``index``, or None when it is omitted (absent or empty name)."""
        return self.inputs[index] if index < len(self.inputs) else None

    def param(self, index: int, attr: str) -> list[int] | None:
        """An operand that moved from attribute to input across opsets (axes, split, pads...):
        the input when given, else the attribute (as decoded, or as the importer recorded it)."""
        value = self.input(index)
        if value is not None:
            return [int(v) for v in np.asarray(value).reshape(-1)]
        value = self.attrs.get(attr)
        if value is None:
            return None
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def attr(self, name: str, default: Any = None) -> Any:
        value = self.attrs.get(name)
        return default if value is None else value

    def outputs_wanted(self) -> int | None:
        return len(self.shapes) if self.shapes is not None else self.n_outputs


Semantics = Callable[[Call], Sequence[np.ndarray]]
WorkFn = Callable[[Graph, Op], int]


@dataclass(frozen=True)
class OpSpec:
    """One operator of the catalogue.

    ``importer`` turns a decoded ONNX node into Graph ops or folded constants (it holds the
    shape rule); ``semantics`` is the numpy reference (ONNX spec); ``cost`` the default work on a
    vector unit, or ``work`` a callable for ops whose work is no :class:`VectorCost`.
    ``gemm``: the matrix units run it as GEMMs (:func:`gemm_shapes`). The three flags describe
    the shape behaviour passes rely on: ``broadcasts`` (every output has the numpy broadcast
    shape of the inputs), ``along_axis`` (joins or splits its tensors along attribute ``axis``,
    the other axes pass through) and ``reduces_axes`` (reduces the axes given by ``axes``, the
    attribute or input 1, with ``keepdims``)."""

    op: str
    domain: str
    since: int
    until: int | None
    category: str
    doc: str
    importer: ImportRule | None = None
    semantics: Semantics | None = field(default=None, repr=False)
    cost: VectorCost | None = None
    work: WorkFn | None = field(default=None, repr=False)
    taps: Callable[[Op], int] | None = field(default=None, repr=False)
    gemm: bool = False
    broadcasts: bool = False
    along_axis: bool = False
    reduces_axes: bool = False

    @property
    def functional(self) -> bool:
        """Numpy reference semantics exist (functional execution and constant folding)."""
        return self.semantics is not None

    @property
    def importable(self) -> bool:
        return self.importer is not None

    @property
    def vector_op(self) -> bool:
        """Any target with a vector unit runs it as one vector op of :func:`vector_work`."""
        return self.category in VECTOR_CATEGORIES and not self.gemm and \
            (self.cost is not None or self.work is not None)

    def import_node(self, ctx: Context, node: Node) -> None:
        """Turn one decoded ONNX node into Graph ops or folded constants."""
        if self.importer is None:
            raise WorkloadError(f"operator {self.op} (domain {self.domain!r}) has no ONNX "
                                "import rule", where=node.where)
        self.importer(ctx, node, self)

    def supports(self, opset: int | None) -> bool:
        return opset is None or (self.since <= opset and (self.until is None or
                                                          opset <= self.until))

    @property
    def opsets(self) -> str:
        return f"{self.since}+" if self.until is None else f"{self.since}-{self.until}"

    def evaluate(self, inputs: Sequence[np.ndarray | None], attrs: Mapping[str, Any],
                 shapes: Sequence[Sequence[int]] | None = None, opset: int | None = None,
                 n_outputs: int | None = None) -> list[np.ndarray]:
        if self.semantics is None:
            raise WorkloadError(f"no numpy semantics for operator {self.op}"
                                f"{f' (domain {self.domain})' if self.domain else ''}; "
                                "functional execution and constant folding need them",
                                where=self.op)
        call = Call(self.op, list(inputs), dict(attrs),
                    None if shapes is None else [tuple(int(d) for d in s) for s in shapes],
                    opset, n_outputs)
        return [np.asarray(v) for v in self.semantics(call)]


_REGISTRY: dict[tuple[str, str], OpSpec] = {}


def _domain(domain: str) -> str:
    return ONNX_DOMAIN if domain in ONNX_ALIASES else domain


def register(spec: OpSpec) -> OpSpec:
    """Add ``spec``; an operator is registered once."""
    if spec.category not in CATEGORIES:
        raise ValueError(f"{spec.op}: unknown category {spec.category!r}")
    key = (_domain(spec.domain), spec.op)
    if key in _REGISTRY:
        raise ValueError(f"operator {spec.op!r} (domain {spec.domain!r}) registered twice")
    _REGISTRY[key] = spec
    return spec


def find(op_type: str, domain: str = "") -> OpSpec | None:
    return _REGISTRY.get((_domain(domain), op_type))


def get(op_type: str, domain: str = "") -> OpSpec:
    spec = find(op_type, domain)
    if spec is None:
        where = f"{domain}.{op_type}" if _domain(domain) else op_type
        raise WorkloadError(f"unknown operator {op_type!r}"
                            f"{f' in domain {domain!r}' if _domain(domain) else ''}; "
                            "`archsim ops` lists the catalogue", where=where)
    return spec


def specs() -> list[OpSpec]:
    """Every entry, sorted by (domain, op)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _any_domain(op_type: str) -> OpSpec | None:
    """An op type of a Graph: the ONNX entry, else the one other domain that defines it."""
    spec = _REGISTRY.get((ONNX_DOMAIN, op_type))
    if spec is None:
        spec = next((s for (d, o), s in _REGISTRY.items() if o == op_type), None)
    return spec


def category(op_type: str) -> str | None:
    spec = _any_domain(op_type)
    return None if spec is None else spec.category


def is_view(op_type: str) -> bool:
    """A free reinterpretation of its input buffer: no instruction, the output aliases it."""
    return category(op_type) == "view"


def is_matmul(op_type: str) -> bool:
    """Run as GEMMs on a matrix unit (Conv, Gemm, MatMul); see :func:`gemm_shapes`."""
    spec = _any_domain(op_type)
    return spec is not None and spec.gemm


def has_vector_cost(op_type: str) -> bool:
    """Runs as one vector op (LOAD, VEC of :func:`vector_work`, STORE) on every target with
    a vector unit: elementwise, normalization, pooling, reduction, data-movement and
    quantization ops, and ConvTranspose. GNN ops have costs too, but only GNN lowerings run
    them."""
    spec = _any_domain(op_type)
    return spec is not None and spec.vector_op


def is_gnn(op_type: str) -> bool:
    return category(op_type) == "gnn"


def _out_elems(graph: Graph, op: Op) -> int:
    return sum(graph.tensor(t).numel for t in op.outputs if t)


def _override(spec: OpSpec, value: float | Mapping[str, float]) -> VectorCost:
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(COST_TERMS))
        if unknown:
            raise WorkloadError(f"unknown vector cost term(s) {', '.join(unknown)}; accepted: "
                                f"{', '.join(COST_TERMS)}", where=spec.op)
        base = spec.cost or VectorCost()
        return dataclasses.replace(base, **{k: float(v) for k, v in value.items()})
    return VectorCost(per_output=float(value))


def vector_work(graph: Graph, op: Op,
                costs: Mapping[str, float | Mapping[str, float]] | None = None) -> int:
    """Element operations ``op`` performs on a vector unit.

    ``costs`` (a hardware config's table) overrides the defaults by op type: a number is the
    operations per output element (replacing the whole default cost); a mapping names terms
    ``per_output``/``per_input``/``per_tap`` that replace the default's (the others keep
    their default value)."""
    spec = _any_domain(op.type)
    if spec is None:
        raise WorkloadError(f"unknown operator {op.type!r}; `archsim ops` lists the "
                            "catalogue", where=f"operator {op.name}")
    cost = spec.cost
    if costs is not None and op.type in costs:
        cost = _override(spec, costs[op.type])
    elif spec.work is not None:
        return int(spec.work(graph, op))
    if cost is None:
        raise WorkloadError(f"{op.type} has no vector cost (category {spec.category})",
                            where=f"operator {op.name}")
    taps = spec.taps(op) if spec.taps is not None else 1
    in_elems = graph.tensor(op.inputs[0]).numel if cost.per_input and op.inputs else 0
    return cost.work(_out_elems(graph, op), in_elems, taps)


def evaluate(op_type: str, inputs: list[np.ndarray | None], attrs: dict,
             shapes: list[tuple[int, ...]] | None = None, domain: str = "", *,
             opset: int | None = None, n_outputs: int | None = None) -> list[np.ndarray]:
    """The numpy reference semantics of one operator (ONNX specification).

    ``inputs`` are aligned with the op's inputs (None: an omitted optional input); ``attrs``
    the node's attributes (schema defaults filled, or as the importer normalised them);
    ``shapes`` the output shapes when known (used only where nothing else can tell, e.g. a
    Reshape without its shape operand); ``opset`` the node's opset when known (legacy forms);
    ``n_outputs`` how many outputs the node has (an even Split). Raises WorkloadError for an
    unknown operator or one without semantics."""
    spec = find(op_type, domain) if domain else _any_domain(op_type)
    if spec is None:
        spec = get(op_type, domain)
    return spec.evaluate(inputs, attrs, shapes, opset, n_outputs)


def taps_of_kernel(op: Op) -> int:
    return math.prod(op.attrs.get("kernel_shape", [1]))


def run_graph(graph: Graph, values: Mapping[str, np.ndarray] | None = None
              ) -> dict[str, np.ndarray]:
    """The reference interpreter: every op of ``graph`` in order, with the catalogue's numpy
    semantics. ``values``: graph inputs (and any valueless weights) by name; tensors that carry
    values are used as they are. Returns every tensor by name."""
    mem: dict[str, np.ndarray] = {n: np.asarray(t.values) for n, t in graph.tensors.items()
                                  if t.values is not None}
    mem.update({k: np.asarray(v) for k, v in (values or {}).items()})
    for op in graph.ops:
        spec = _any_domain(op.type)
        if spec is None:
            spec = get(op.type)
        missing = [n for n in op.inputs if n and n not in mem]
        if missing:
            raise WorkloadError(f"needs tensor {missing[0]!r}, which neither the values nor an "
                                "earlier op provide", where=f"operator {op.name}")
        outputs = [n for n in op.outputs if n]
        results = spec.evaluate([mem[n] if n else None for n in op.inputs], op.attrs,
                                [graph.tensor(n).shape for n in outputs],
                                n_outputs=len(outputs))
        mem.update(zip(outputs, results, strict=False))
    return mem
