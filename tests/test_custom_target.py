"""A third-party target from its own install: examples/custom-target (kind ``simd``) joins
through the ``archsim.targets`` entry point only, and every command works on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

EXAMPLE = ROOT / "examples" / "custom-target"
CONFIG = EXAMPLE / "simd.yaml"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """``pip install examples/custom-target`` into a folder of its own; the environment that
    puts it on the path (archsim itself comes from the test environment)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def archsim(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator.cli", *args], env=env,
                          capture_output=True, text=True, cwd=ROOT)


def test_gemm_runs_with_the_plugins_latency_rule(plugin):
    out = archsim(plugin, "run", str(CONFIG), "gemm:128,128,128", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["kind"] == "simd" and data["macs"] == 128 ** 3
    # 128x128 outputs in 8x64 tiles: 32 tiles, one 128-deep K chunk each; a GEMM takes
    # dk * ceil(dm * dn / lanes) + pipeline = 128 * 8 + 6 cycles on the 64 lanes
    lanes = next(u for u in data["units"] if u["name"] == "lanes")
    assert lanes["busy"] == 32 * (128 * 8 + 6)
    assert lanes["busy"] <= data["total_cycles"] < lanes["busy"] + 2000


@pytest.mark.parametrize("workload", ["gemm:128,128,128", "zoo:tiny_cnn",
                                      "zoo:tiny_transformer"])
def test_functional_from_the_plugins_own_trace(plugin, workload):
    out = archsim(plugin, "run", str(CONFIG), workload, "--functional")
    assert out.returncode == 0, out.stderr
    assert "functional check vs onnxruntime" in out.stderr and out.stderr.rstrip().endswith("OK")


def test_lower_replay_validate_and_ops_know_the_kind(plugin, tmp_path):
    trace = tmp_path / "t.jsonl"
    assert archsim(plugin, "lower", str(CONFIG), "zoo:tiny_cnn", "-o", str(trace)).returncode == 0
    run = json.loads(archsim(plugin, "run", str(CONFIG), "zoo:tiny_cnn", "--json").stdout)
    replay = json.loads(archsim(plugin, "replay", str(trace), "--json").stdout)
    assert replay["total_cycles"] == run["total_cycles"]
    assert "kind: simd" in archsim(plugin, "validate", str(CONFIG)).stdout
    rows = json.loads(archsim(plugin, "ops", "--json").stdout)
    by = {(r["domain"], r["op"]): r["targets"] for r in rows}
    assert "simd" in by[("", "Conv")] and "simd" in by[("", "Relu")]
    assert "simd" not in by[("archsim.gnn", "GnnGather")]
    bad = archsim(plugin, "run", str(CONFIG), "gnn:gcn:cora")
    assert bad.returncode == 2 and "simd target" in bad.stderr and "Traceback" not in bad.stderr


def test_a_config_error_in_the_plugins_model_is_located(plugin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(CONFIG.read_text().replace("lanes: 64", "lanes: 0"))
    out = archsim(plugin, "run", str(cfg), "gemm:8,8,8")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{cfg}:" in out.stderr and "lanes" in out.stderr


def test_without_the_install_the_kind_is_unknown():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = archsim(env, "run", str(CONFIG), "gemm:8,8,8")
    assert out.returncode == 2 and "kind: 'simd' is unknown" in out.stderr
