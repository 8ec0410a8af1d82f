"""ONNX's own backend node tests as archsim's conformance suite.

The onnx wheel ships the generators of its backend node tests:
``onnx.backend.test.case.node.collect_testcases()`` gives ~1,900 single-operator cases, each a
model with inputs and expected outputs. Every case whose operator the catalogue claims
(importable, with numpy semantics) runs through the whole pipeline, in process:

    import (workloads.onnx_frontend.load_onnx, inputs pinned to the case's shapes)
    -> lowering (simulator.api.compile on a small systolic config)
    -> functional execution (simulator.trace.functional.execute, instruction by instruction)

and its outputs are compared with the expected ones at the tolerances ONNX's backend tests use
(``assert_allclose`` with the case's rtol/atol: 1e-3 and 1e-7 unless the case sets its own; the
element type must match too). Inputs that carry shapes or control (a Reshape's shape, an If's
condition, a Loop's trip count, a Resize's scales) are pinned as values (``--input-value``)
only when the import refuses without them (a clean "depends on the runtime value" error), in
this order: the integer and bool inputs after the first, then every input after the first, then
all of them; the report counts those cases, and those whose graph then folds entirely (no op
left to lower: Shape, Range... or every input pinned).

    python bench/onnx_conformance.py            # the summary line and failing cases
    python bench/onnx_conformance.py --json     # per operator: cases, passed, failures
    python bench/onnx_conformance.py --markdown # the table docs/onnx.md shows

``tests/test_conformance.py`` runs the same code and asserts the >= 95 % per claimed operator.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: A small systolic array: the conformance cases are tiny, and small tiles exercise tiling.
CONFIG = {"kind": "systolic", "name": "conformance-8x8", "clock_ghz": 1.0,
          "array": {"rows": 8, "cols": 8, "dataflow": "ws"},
          "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64},
          "dram": {"bandwidth": 16, "latency": 10}, "word_bytes": 4}
#: Goal per claimed operator (issue 15).
PASS_RATE = 0.95


@dataclass
class Outcome:
    case: str
    op: str
    status: str            # "pass", "fail", "error"
    detail: str = ""
    pinned: bool = False   # inputs pinned as values (shape or control operands)
    folded: bool = False   # the whole graph folded at import: no op reached the lowering


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)   # unclaimed op -> cases
    out_of_scope: list[str] = field(default_factory=list)  # cases with sequences/optionals
    seconds: float = 0.0

    @property
    def run(self) -> int:
        return len(self.outcomes)

    @property
    def passed(self) -> int:
        return sum(o.status == "pass" for o in self.outcomes)

    def per_op(self) -> dict[str, tuple[int, int]]:
        """op -> (cases passed, cases run)."""
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for o in self.outcomes:
            table[o.op][1] += 1
            table[o.op][0] += o.status == "pass"
        return {k: (v[0], v[1]) for k, v in sorted(table.items())}

    def below_goal(self) -> dict[str, tuple[int, int]]:
        return {op: (p, n) for op, (p, n) in self.per_op().items() if p < PASS_RATE * n}

    @property
    def headline(self) -> str:
        """The figure docs/onnx.md reports."""
        ops_ok = sum(p >= PASS_RATE * n for p, n in self.per_op().values())
        return f"{self.passed} of {self.run} cases pass, {ops_ok} operators"

    def line(self) -> str:
        return (f"{self.headline} "
                f"(>= {PASS_RATE:.0%} of their cases; {len(self.per_op())} operators run, "
                f"{sum(self.skipped.values())} cases of {len(self.skipped)} unclaimed operators "
                f"skipped, {len(self.out_of_scope)} cases passing sequences or optionals out of "
                "scope)")


def collect() -> list[Any]:
    """The onnx wheel's node test cases (their generators warn about deliberate overflows)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases() if c.kind == "node"]


def case_operator(case: Any, by_name: dict[str, str]) -> str:
    """The operator a case tests: its node's type; an ``_expanded`` case (the op written as its
    function body) counts for the op it expands."""
    name = case.name.removesuffix("_expanded_ver18").removesuffix("_expanded")
    if name != case.name and name in by_name:
        return by_name[name]
    nodes = case.model.graph.node
    return nodes[-1].op_type if len(nodes) != 1 else nodes[0].op_type


def _subgraph_nodes(graph: Any) -> list[Any]:
    from onnx import AttributeProto

    out = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                out += _subgraph_nodes(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    out += _subgraph_nodes(g)
    return out


def uses_non_tensors(case: Any) -> bool:
    """The case passes sequences or optionals (ONNX's non-tensor types) between its graphs:
    archsim's Graph IR has tensors only, so such cases are out of scope and reported apart."""
    graphs = [case.model.graph]
    graphs += [a.g for n in _subgraph_nodes(case.model.graph) for a in n.attribute
               if a.HasField("g")]
    values = [vi for g in graphs for vi in [*g.input, *g.output]]
    return any(vi.type.WhichOneof("value") not in ("tensor_type", None) for vi in values)


def claimed(op_type: str, domain: str = "") -> bool:
    """The catalogue claims the operator: it imports it and has its numpy semantics."""
    from workloads import ops

    spec = ops.find(op_type, domain)
    return spec is not None and spec.importable and spec.functional


def _tensor_inputs(case: Any) -> tuple[list[Any], list[np.ndarray]] | None:
    """The runtime inputs and the first data set's values; None for sequence/optional inputs."""
    model = case.model
    inits = {i.name for i in model.graph.initializer}
    infos = [vi for vi in model.graph.input if vi.name not in inits]
    inputs, _ = case.data_sets[0]
    if len(inputs) != len(infos):
        return None
    if any(vi.type.WhichOneof("value") != "tensor_type" for vi in infos):
        return None
    arrays = [_array(v) for v in inputs]
    if any(a is None for a in arrays):
        return None
    return infos, arrays


def _array(value: Any) -> np.ndarray | None:
    """A data set's value as numpy (TensorProto of the exotic types onnx stores as protos)."""
    from onnx import TensorProto, numpy_helper

    if isinstance(value, TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    return None


def run_case(case: Any, op: str, config: Any) -> Outcome:
    """Import, lower and execute one case; compare with its expected outputs."""
    from simulator import api
    from simulator.errors import ArchsimError
    from simulator.trace.functional import execute
    from workloads.errors import WorkloadError
    from workloads.onnx_frontend import load_onnx

    got = _tensor_inputs(case)
    if got is None:
        return Outcome(case.name, op, "error", "sequence or optional inputs, which archsim's "
                       "graphs do not have")
    infos, arrays = got
    feeds = {vi.name: a for vi, a in zip(infos, arrays, strict=True)}
    shapes = {name: tuple(int(d) for d in a.shape) for name, a in feeds.items()}
    names = [vi.name for vi in infos]
    operands = {n: feeds[n] for n in names[1:]}
    integer = {n: a for n, a in operands.items() if a.dtype.kind in "biu" and a.size <= 4096}
    attempts = [{}, integer, operands, dict(feeds)]
    err: Exception | None = None
    graph = None
    for pins in attempts:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                graph = load_onnx(case.model, shapes, name=case.name, input_values=pins)
                _, trace = api.compile(config, graph)
                values = {n: np.asarray(t.values) for n, t in graph.tensors.items()
                          if t.values is not None}
                values.update({n: a for n, a in feeds.items() if n in graph.tensors})
                mem = execute(trace, values)
            break
        except (ArchsimError, WorkloadError) as e:   # a clean refusal: try with values pinned
            err = e
        except Exception as e:  # noqa: BLE001  (a crash is a failing case, reported)
            return Outcome(case.name, op, "error", f"{type(e).__name__}: {e}"[:300])
    else:
        return Outcome(case.name, op, "error", str(err)[:300])
    expected = case.data_sets[0][1]
    outputs = [o.name for o in case.model.graph.output]
    for name, ref in zip(outputs, map(_array, expected), strict=False):
        if name in mem:
            ours = mem[name]
        elif name in graph.tensors and graph.tensors[name].values is not None:
            ours = graph.tensors[name].values
        else:
            return Outcome(case.name, op, "fail", f"output {name!r} was not computed",
                           bool(pins))
        ours, ref = np.asarray(ours), np.asarray(ref)
        if ours.dtype != ref.dtype:
            return Outcome(case.name, op, "fail", f"output {name!r} has type {ours.dtype}, "
                           f"expected {ref.dtype}", bool(pins))
        try:
            if ref.dtype == object:
                np.testing.assert_array_equal(ours, ref)
            else:
                np.testing.assert_allclose(ours, ref, rtol=case.rtol, atol=case.atol)
        except AssertionError as e:
            text = " ".join(str(e).split())
            return Outcome(case.name, op, "fail", f"output {name!r}: {text}"[:300], bool(pins))
    return Outcome(case.name, op, "pass", "", bool(pins), folded=not graph.ops)


def run_all(cases: list[Any] | None = None, only: set[str] | None = None) -> Summary:
    """Run every case of a claimed operator (``only``: just these operators)."""
    from simulator import api

    start = time.perf_counter()
    cases = collect() if cases is None else cases
    by_name = {c.name: c.model.graph.node[0].op_type for c in cases
               if len(c.model.graph.node) == 1}
    config = api.config_from_dict(CONFIG, "conformance config")
    summary = Summary()
    skipped: Counter[str] = Counter()
    for case in cases:
        op = case_operator(case, by_name)
        if only is not None and op not in only:
            continue
        if not claimed(op):
            skipped[op] += 1
            continue
        if uses_non_tensors(case):
            summary.out_of_scope.append(case.name)
            continue
        summary.outcomes.append(run_case(case, op, config))
    summary.skipped = dict(sorted(skipped.items()))
    summary.seconds = time.perf_counter() - start
    return summary


def markdown(summary: Summary) -> str:
    rows = ["| operator | cases passed |", "| --- | --- |"]
    rows += [f"| {op} | {p} of {n} |" for op, (p, n) in summary.per_op().items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="per-operator figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="the per-operator table")
    parser.add_argument("--op", action="append", help="run only this operator's cases")
    parser.add_argument("-v", "--verbose", action="store_true", help="list failing cases")
    args = parser.parse_args(argv)
    summary = run_all(only=set(args.op) if args.op else None)
    if args.json:
        print(json.dumps({
            "cases_run": summary.run, "cases_passed": summary.passed,
            "cases_pinned": sum(o.pinned for o in summary.outcomes),
            "cases_folded": sum(o.folded for o in summary.outcomes),
            "operators_at_goal": len(summary.per_op()) - len(summary.below_goal()),
            "per_op": {op: {"passed": p, "cases": n} for op, (p, n) in summary.per_op().items()},
            "failures": [o.__dict__ for o in summary.outcomes if o.status != "pass"],
            "skipped": summary.skipped, "out_of_scope": summary.out_of_scope,
            "seconds": round(summary.seconds, 1)}, indent=1))
        return 0
    if args.markdown:
        print(markdown(summary))
    print(summary.line())
    print(f"{sum(o.pinned for o in summary.outcomes)} cases ran with inputs pinned as "
          f"values, {sum(o.folded for o in summary.outcomes)} passing cases folded entirely at "
          f"import (no op lowered); {summary.seconds:.1f} s")
    if args.verbose:
        for o in summary.outcomes:
            if o.status != "pass":
                print(f"  {o.status:5} {o.case} [{o.op}]: {o.detail}")
        print("skipped (unclaimed):", ", ".join(f"{k} x{v}" for k, v in summary.skipped.items()))
    below = summary.below_goal()
    if below:
        print("below goal:", ", ".join(f"{op} {p}/{n}" for op, (p, n) in below.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
