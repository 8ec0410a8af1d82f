"""The archsim command: outputs, files, and how user mistakes are presented."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from conftest import CONFIGS

from simulator.cli import main

CFG = str(CONFIGS / "systolic-32-ws.yaml")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_summary(capsys):
    code, out, _ = run_cli(capsys, "run", CFG, "gemm:128,64,256", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["macs"] == 128 * 64 * 256
    assert summary["total_cycles"] == sum(layer["cycles"] for layer in summary["layers"])
    (layer,) = summary["layers"]
    assert set(layer) >= {"name", "cycles", "macs", "utilization", "bytes", "energy_pj"}
    assert summary["energy_pj"]["total"] == pytest.approx(
        summary["energy_pj"]["mac"] + summary["energy_pj"]["sram"] + summary["energy_pj"]["dram"])


def test_run_table_shows_layers_and_totals(capsys):
    code, out, _ = run_cli(capsys, "run", CFG, "alexnet")
    assert code == 0
    for name in ("conv1", "conv5", "fc8", "total cycles", "energy"):
        assert name in out


def test_out_dir_and_timeline(tmp_path, capsys):
    tl = tmp_path / "tl.json"
    code, _, err = run_cli(capsys, "run", CFG, "gemm:64,64,64", "--out", str(tmp_path / "o"),
                           "--timeline", str(tl))
    assert code == 0 and "wrote" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    rows = list(csv.DictReader((tmp_path / "o" / "layers.csv").read_text().splitlines()))
    layer = summary["layers"][0]
    assert int(rows[0]["cycles"]) == summary["total_cycles"] == layer["cycles"]
    assert (rows[0]["name"], rows[0]["M"], rows[0]["N"], rows[0]["K"]) == ("gemm", "64", "64",
                                                                       "64")
    parts = ("energy_mac_pj", "energy_vector_pj", "energy_sram_pj", "energy_dram_pj")
    assert sum(float(rows[0][p]) for p in parts) == pytest.approx(float(rows[0]["energy_pj"]))
    assert layer["energy_mac_pj"] == pytest.approx(64 ** 3 * 0.2)   # MACs x mac_pj
    assert summary["archsim_version"] and summary["config"]["array"]["rows"] == 32
    assert summary["config"]["sram"]["ifmap_kb"] == 64 and "vector" in summary["config"]
    trace = json.loads(tl.read_text())
    events = trace["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert {t.split(" #")[0] for t in tracks} == {"dma_load", "array", "dma_store", "layers"}
    slices = [e for e in events if e["ph"] == "X" and "end_cycle" in e["args"]]
    assert len(slices) == summary["instructions"]
    assert max(e["args"]["end_cycle"] for e in slices) == summary["total_cycles"]


def test_lower_then_replay_matches_run(tmp_path, capsys):
    t = tmp_path / "t.jsonl"
    assert run_cli(capsys, "lower", CFG, "resnet18", "-o", str(t))[0] == 0
    _, direct, _ = run_cli(capsys, "run", CFG, "resnet18", "--json")
    _, replayed, _ = run_cli(capsys, "replay", str(t), "--json")
    assert json.loads(direct) == json.loads(replayed)
    _, other, _ = run_cli(capsys, "replay", str(t), "--config",
                          str(CONFIGS / "systolic-128-os.yaml"), "--json")
    # Replaying a 32x32 trace on a 128x128 os array: same work, different timing.
    assert json.loads(other)["macs"] == json.loads(direct)["macs"]
    assert json.loads(other)["total_cycles"] != json.loads(direct)["total_cycles"]


def test_validate_prints_config(capsys):
    code, out, _ = run_cli(capsys, "validate", CFG, "--set", "array.rows=64")
    assert code == 0 and "rows: 64" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "nope.yaml", "gemm:1,1,1"], "nope.yaml: cannot read config"),
    (["run", CFG, "gemm:1,1"], "expected gemm:M,N,K"),
    (["run", CFG, "gemm:8,8,8", "--set", "array.dataflow=xy"], "array.dataflow: got 'xy'"),
    (["run", CFG, "gemm:8,8,8", "--set", "nokey"], "expected KEY=VALUE"),
    (["replay", "missing.jsonl"], "cannot read trace"),
])
def test_user_errors_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_malformed_trace_line_via_cli(tmp_path, capsys):
    t = tmp_path / "t.jsonl"
    run_cli(capsys, "lower", CFG, "gemm:32,32,32", "-o", str(t))
    lines = t.read_text().splitlines()
    lines[2] = "{not json"
    t.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, "replay", str(t))
    assert code == 2 and f"{t}:3: not valid JSON" in err


def test_console_script_entry_point(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: systolic\narray: {rows: 4, cols: 4, dataflow: diagonal}\n")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "validate", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"archsim validate: error: {bad}:2: array.dataflow: got "
                                   "'diagonal'; input should be 'os', 'ws' or 'is'")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0
    for command in ("run", "validate", "lower", "replay", "scalesim"):
        assert command in proc.stdout


def test_result_as_a_dataframe_and_parquet(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from simulator import api

    _, result = api.run(api.load_config(CFG), "resnet18")
    frame = result.to_dataframe()
    assert list(frame["name"]) == [lr.name for lr in result.layers]
    assert int(frame["cycles"].sum()) == result.total_cycles
    assert frame["M"].notna().all() and (frame["macs"] == frame["M"] * frame["N"] *
                                          frame["K"] * frame["groups"]).all()
    code, _, _ = run_cli(capsys, "run", CFG, "resnet18", "--out", str(tmp_path / "o"))
    assert code == 0
    stored = pd.read_parquet(tmp_path / "o" / "layers.parquet")
    assert stored["cycles"].tolist() == frame["cycles"].tolist()
