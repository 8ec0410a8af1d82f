"""The global flags (-q, -v), the command line recorded in summary.json, and SIGTERM: a killed
command exits 143 and leaves no temporary or half-written file behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CONFIGS, ROOT

from simulator.cli import main

CFG = str(CONFIGS / "systolic-32-ws.yaml")
BAD = str(ROOT / "tests" / "bad_inputs" / "rows_true.yaml")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_prints_no_wrote_lines(where: str, tmp_path: Path, capsys) -> None:
    argv = ["run", CFG, "gemm:16,16,16", "--out", tmp_path / "o", "--timeline", tmp_path / "t.json"]
    code, _, err = run(capsys, *argv)
    assert code == 0 and err.count("wrote ") == 4   # summary, layers.csv, .parquet, timeline
    quiet = ["-q", *argv] if where == "before" else [argv[0], "-q", *argv[1:]]
    code, out, err = run(capsys, *quiet)
    assert code == 0 and err == "" and "total cycles" in out
    assert (tmp_path / "o" / "summary.json").is_file() and (tmp_path / "t.json").is_file()
    code, _, err = run(capsys, "lower", CFG, "gemm:16,16,16", "-o", tmp_path / "t.jsonl",
                       "--quiet")
    assert code == 0 and err == "" and (tmp_path / "t.jsonl").is_file()


def test_quiet_still_prints_errors(capsys) -> None:
    code, _, err = run(capsys, "-q", "validate", BAD)
    assert code == 2 and err.strip() == f"archsim validate: error: {BAD}:3: array.rows: " \
        "expected a number, got true"


@pytest.mark.parametrize("flag", [["-v"], ["--verbose"]])
def test_verbose_user_error_shows_traceback_and_exits_2(flag: list[str], capsys) -> None:
    code, _, err = run(capsys, *flag, "validate", BAD)
    assert code == 2
    assert err.startswith("Traceback (most recent call last):")
    assert "ConfigError" in err
    assert err.strip().splitlines()[-1] == f"archsim validate: error: {BAD}:3: array.rows: " \
        "expected a number, got true"
    code, _, plain = run(capsys, "validate", BAD)
    assert code == 2 and "Traceback" not in plain


def test_summary_records_the_command_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    argv = ["run", CFG, "gemm:16,16,16", "--set", "array.rows=16", "--out", str(out)]
    assert run(capsys, *argv)[0] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == ["archsim", *argv]
    assert summary["config"]["array"]["rows"] == 16
    trace = tmp_path / "t.jsonl"
    assert run(capsys, "lower", CFG, "gemm:16,16,16", "-o", trace)[0] == 0
    replay = ["-q", "replay", str(trace), "--out", str(tmp_path / "r")]
    assert run(capsys, *replay)[0] == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["command"] == \
        ["archsim", *replay]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_sigterm_during_a_long_run_exits_143_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "run", CFG,
                             "gemm:4096,4096,4096", "--out", str(out), "--timeline",
                             str(tmp_path / "t.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    time.sleep(3.0)   # past start-up (the handler is installed), well before the end (~20 s)
    assert proc.poll() is None, "the run ended before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "terminated" and "Traceback" not in err
    assert _leftovers(tmp_path) == []
    assert not (out / "summary.json").exists() and not (tmp_path / "t.json").exists()


SCRIPT = """
import os, signal, sys
import simulator.files as files
real_chmod = files.os.chmod
def chmod_then_terminated(path, mode):   # SIGTERM while the temporary file is written
    real_chmod(path, mode)
    os.kill(os.getpid(), signal.SIGTERM)
files.os.chmod = chmod_then_terminated
from simulator.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_writing_removes_the_temporary_file(tmp_path: Path) -> None:
    """SIGTERM inside an atomic writer (between writing the temporary file and renaming it):
    the command exits 143, the temporary file is removed, no output appears."""
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "run", CFG, "gemm:16,16,16", "--out",
                           str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "terminated"
    assert out.is_dir() and list(out.iterdir()) == []   # no .summary.json.*.tmp, no summary


def test_quiet_sweep_prints_nothing(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.yml"
    spec.write_text(f"base: {CFG}\nworkloads: ['gemm:8,8,8']\ngrid: {{array.rows: [4, 8]}}\n")
    argv = ["sweep", spec, "--out", tmp_path / "o", "--workers", "1"]
    code, _, err = run(capsys, "-q", *argv)
    assert code == 0 and err == ""
    assert len((tmp_path / "o" / "results.csv").read_text().splitlines()) == 3   # header + 2
    code, _, err = run(capsys, *argv)   # resumed: nothing to run, and it says so
    assert code == 0 and "sweep: 2 points, 2 already done, 0 to run" in err and "wrote" in err
