"""A workload too large to simulate is refused before lowering, saying how large and what to
do; the targets' instruction estimates are close to what the lowerings emit."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from simulator import api
from simulator.cli import main
from simulator.targets import get_target


@pytest.mark.parametrize(("config", "workload"), [
    ("systolic-32-ws.yaml", "resnet18"), ("tpu-v1-256-ws.yaml", "resnet18"),
    ("mlu-4.yaml", "gemm:2048,2048,2048"), ("dstc.yaml", "gemm:2048,2048,2048"),
    ("systolic-128-os.yaml", "gemm:4096,4096,4096")])
def test_estimates_are_within_a_factor_of_two(config, workload):
    cfg = api.load_config(CONFIGS / config)
    estimate = get_target(cfg.kind).estimate(api.load(workload), cfg)
    actual = len(api.lower(cfg, workload).instructions)
    assert actual / 2 <= estimate <= actual * 2


@pytest.mark.parametrize("config", ["systolic-128-os.yaml", "mlu.yaml", "dstc.yaml"])
def test_a_huge_gemm_is_refused_before_lowering(config, capsys):
    assert main(["run", str(CONFIGS / config), "gemm:1000000000,1000000000,1000000000"]) == 2
    err = capsys.readouterr().err
    assert "instructions" in err and "GiB in memory" in err and "ARCHSIM_MAX_INSTRUCTIONS" in err


def test_the_limit_can_be_raised_or_lowered(monkeypatch, capsys):
    monkeypatch.setenv("ARCHSIM_MAX_INSTRUCTIONS", "10")
    assert main(["run", str(CONFIGS / "systolic-32-ws.yaml"), "gemm:256,256,256"]) == 2
    assert "over the limit of 10" in capsys.readouterr().err
