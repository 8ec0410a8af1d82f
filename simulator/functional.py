"""Functional simulation: run the lowered trace on real numbers and compare with a reference.

The trace is executed instruction by instruction (``simulator.trace.functional``) on every
target alike. The reference is independent of the trace:

- a DNN graph: onnxruntime running the user's own ONNX model (when the passes left its
  weights as they were), or the graph as it was lowered, exported to ONNX;
- a GNN program: the catalogue's numpy semantics run op by op on the whole graph (a tiled
  trace computes the same program tile by tile, with online softmax and interval-wise
  gathers, so the two computations share nothing but the row functions).

The error is reported relative to each output's largest magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.trace import Trace
from simulator.trace.functional import execute
from workloads import ops
from workloads.errors import WorkloadError
from workloads.graph import Graph


class FunctionalMismatch(Exception):
    """The trace computed different numbers than the reference: a lowering bug, not a user
    error."""


@dataclass
class OutputError:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float   # max |ours - ref| / max |ref|


@dataclass
class FunctionalReport:
    outputs: list[OutputError] = field(default_factory=list)
    rtol: float = 1e-4
    reference: str = "onnxruntime"   # what the trace's numbers were compared with

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    #: Absolute floor: an output whose every element is within it of the reference passes
    #: (onnxruntime's exp/logistic approximations are accurate to ~1e-7 absolute, which is
    #: a large relative error on outputs that are all near zero, e.g. a detector's sigmoid map
    #: of an image without objects).
    atol: float = 1e-6

    @property
    def ok(self) -> bool:
        return all(o.max_rel <= self.rtol or o.max_abs <= self.atol for o in self.outputs)


def _ort_errors(ort) -> tuple[type[Exception], ...]:
    """The exception types onnxruntime raises for a model it cannot load or run."""
    state = ort.capi.onnxruntime_pybind11_state
    return tuple(getattr(state, n) for n in ("Fail", "InvalidGraph", "InvalidArgument",
                                             "NotImplemented", "RuntimeException",
                                             "InvalidProtobuf") if hasattr(state, n))


def onnx_reference(graph: Graph, values: dict[str, np.ndarray], onnx_model=None
                   ) -> dict[str, np.ndarray]:
    """Every model output, computed by onnxruntime (graph optimizations off)."""
    import onnxruntime as ort

    from workloads.onnx_export import graph_to_onnx

    model = onnx_model if onnx_model is not None else graph_to_onnx(graph, values)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        # Models of IR < 4 list initializers as inputs too; those keep their own values.
        feeds = {i.name: values[i.name] for i in session.get_inputs() if i.name in values}
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))
    except _ort_errors(ort) as err:
        if onnx_model is None:  # our own export failed: a bug, show it
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WorkloadError(f"onnxruntime cannot run the model, so it cannot be checked: "
                            f"{first}", where=graph.name) from None


def check_functional(graph: Graph, trace: Trace, *, seed: int = 0, onnx_model=None,
                     values: dict[str, np.ndarray] | None = None, rtol: float = 1e-4,
                     raise_on_mismatch: bool = True) -> FunctionalReport:
    """Execute ``trace`` (lowered from ``graph``, after its passes) and the reference on the
    same data; compare every graph output."""
    from workloads.onnx_export import random_values

    values = values if values is not None else random_values(graph, seed)
    if any(ops.is_gnn(op.type) for op in graph.ops):
        everything = ops.run_graph(graph, values)
        names = list(graph.outputs)
        reference = {n: everything[n] for n in names}
        label = "the catalogue's numpy semantics on the whole graph"
    else:
        reference = onnx_reference(graph, values, onnx_model)
        names = list(reference)
        label = "onnxruntime on the ONNX model" if onnx_model is not None else \
            "onnxruntime on the graph exported to ONNX"
    computed = execute(trace, values)
    report = FunctionalReport(rtol=rtol, reference=label)
    for name in names:
        ours = np.asarray(computed[name], dtype=np.float64)
        ref = np.asarray(reference[name], dtype=np.float64)
        if ours.shape != ref.shape:
            raise FunctionalMismatch(f"output {name!r}: the trace computed shape {ours.shape}, "
                                     f"the reference {ref.shape}")
        diff = float(np.abs(ours - ref).max()) if ref.size else 0.0
        if np.isnan(diff):
            diff = float("inf")   # NaN: rows the trace never computed
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        report.outputs.append(OutputError(name, ref.shape, diff, diff / scale if scale else diff))
    if raise_on_mismatch and not report.ok:
        worst = max((o for o in report.outputs if o.max_abs > report.atol),
                    key=lambda o: o.max_rel)
        raise FunctionalMismatch(f"output {worst.name!r} differs from {label}: max abs error "
                                 f"{worst.max_abs:.3g}, relative {worst.max_rel:.3g} > {rtol:g}")
    return report
