"""ONNX's own backend node tests as the conformance suite (bench/onnx_conformance.py): every
case of an operator the catalogue claims runs through import -> lowering (systolic) ->
functional execution of the trace, and is compared with the expected outputs ONNX ships, at
ONNX's backend-test tolerances. Each claimed operator passes >= 95 % of its cases, at least 120
operators do, ``archsim ops --json`` claims exactly what passes, and docs/onnx.md reports the
measured figure."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import onnx_conformance as conformance  # noqa: E402

from simulator.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def cases():
    return conformance.collect()


@pytest.fixture(scope="module")
def summary(cases):
    return conformance.run_all(cases)


def test_every_claimed_operator_passes_95_percent_of_its_cases(summary):
    assert summary.run > 1000
    assert summary.below_goal() == {}


def test_at_least_120_operators_are_conformant(summary):
    at_goal = [op for op, (p, n) in summary.per_op().items() if p >= 0.95 * n]
    assert len(at_goal) >= 120
    for op in ("Resize", "If", "Loop", "Scan", "LSTM", "GRU", "RNN", "MatMulInteger",
               "ConvInteger", "QLinearConv", "QLinearMatMul", "DynamicQuantizeLinear",
               "ConvTranspose", "PRelu", "HardSwish", "InstanceNormalization", "Mod"):
        assert op in at_goal, op


def test_cases_are_checked_through_a_trace_not_only_folded(summary):
    """Only control operators (Shape, Range, an If/Loop with constant bodies...) may fold away
    entirely at import; every other case's outputs come from executing a lowered trace."""
    from workloads import ops

    folded = {o.op for o in summary.outcomes if o.status == "pass" and o.folded}
    assert folded and all(ops.get(op).category == "control" for op in folded), folded
    assert sum(o.folded for o in summary.outcomes) < 0.05 * summary.run


def test_archsim_ops_json_claims_what_passes(summary, capsys):
    assert main(["ops", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    claimed = {r["op"] for r in rows if r["domain"] == "" and r["functional"]}
    per_op = summary.per_op()
    assert set(per_op) <= claimed                  # only claimed operators were run
    assert not claimed & set(summary.skipped)      # nothing claimed was skipped
    for op in claimed & set(per_op):
        passed, total = per_op[op]
        assert passed >= 0.95 * total, op


def test_docs_report_the_measured_figure(summary):
    text = (ROOT / "docs" / "onnx.md").read_text()
    assert summary.headline in text, summary.headline
    figure = re.search(r"(\d[\d,]*) of (\d[\d,]*) cases pass, (\d+) operators", text)
    assert figure is not None


def test_a_wrong_result_fails_its_case(cases):
    """The harness can fail: an expected output off by one element is caught."""
    from simulator import api

    case = next(c for c in cases if c.name == "test_relu")
    config = api.config_from_dict(conformance.CONFIG, "conformance config")
    assert conformance.run_case(case, "Relu", config).status == "pass"
    inputs, outputs = case.data_sets[0]
    bad = [np.array(outputs[0], copy=True)]
    bad[0].reshape(-1)[3] += 0.01
    case.data_sets[0] = (inputs, bad)
    try:
        outcome = conformance.run_case(case, "Relu", config)
    finally:
        case.data_sets[0] = (inputs, outputs)
    assert outcome.status == "fail" and "Mismatched elements: 1" in outcome.detail


def test_unclaimed_operators_are_skipped_and_named(summary):
    assert summary.skipped.get("NonMaxSuppression", 0) > 0
    assert all(not conformance.claimed(op) for op in summary.skipped)
