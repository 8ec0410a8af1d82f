"""Sweeps: spec expansion and errors, constraints, error rows, resume after a real SIGKILL,
and equal results from 1 worker, a 2-process pool and a Dask LocalCluster with 2 workers."""

from __future__ import annotations

import contextlib
import csv
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.sweep import SweepError, load_spec, run_sweep
from simulator.sweep.constraints import Constraint, ConstraintSyntaxError
from simulator.sweep.plot import pareto_front, read_results

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "systolic-32-ws.yaml"

MINIMAL = f"""\
base: {BASE}
workloads:
  - gemm:512,512,512
grid:
  array.rows: [32, 64]
  array.cols: [32, 64]
"""

TINY = f"""\
base: {BASE}
set:
  dram.latency: 10
workloads:
  - gemm:64,64,64
  - conv:14,14,8,3,3,8,1
grid:
  array.rows: [8, 16, 32]
  array.cols: [8, 16, 32]
zip:
  sram.ifmap_kb: [16, 64]
  sram.filter_kb: [16, 64]
constraints:
  - array.rows <= array.cols
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def query(db: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute(sql).fetchall()


def count_points(db: Path) -> int:
    return query(db, "SELECT COUNT(*) FROM points")[0][0]


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


# ------------------------------------------------------------------------------------------
# spec expansion


def test_grid_expansion_is_the_cartesian_product_in_order(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    points = spec.expand().points
    assert spec.param_names == ["array.rows", "array.cols"]
    assert [(p.params["array.rows"], p.params["array.cols"]) for p in points] == [
        (32, 32), (32, 64), (64, 32), (64, 64)]
    assert [p.index for p in points] == [0, 1, 2, 3]
    assert all(p.config["array"]["dataflow"] == "ws" for p in points)  # the base's own value
    assert (points[3].config["array"]["rows"], points[3].config["array"]["cols"]) == (64, 64)
    assert len({p.point_id for p in points}) == 4
    # ids are a function of the point, not of its position in the spec
    again = load_spec(write(tmp_path, MINIMAL.replace("[32, 64]", "[64, 32]"), "b.yaml"))
    assert {p.point_id for p in again.expand().points} == {p.point_id for p in points}


def test_ranges_zip_and_seeded_random(tmp_path):
    text = f"""\
base: {BASE}
workloads: ['gemm:64,64,64']
grid:
  dram.bandwidth: {{range: [8, 64], step: 8}}
  clock_ghz: {{range: [0.5, 0.7], step: 0.1}}
zip:
  sram.ifmap_kb: [16, 32]
  sram.filter_kb: [48, 64]
random:
  samples: 3
  seed: 11
  params:
    array.rows: {{range: [4, 64], step: 4}}
    dram.latency: {{range: [10, 20]}}
    array.dataflow: [os, ws, is]
"""
    spec = load_spec(write(tmp_path, text))
    grid = spec.params[0].values
    assert grid == [8, 16, 24, 32, 40, 48, 56, 64]
    assert spec.params[1].values == [0.5, 0.6, 0.7]  # rounded, not 0.6000000000000001
    points = spec.expand().points
    assert len(points) == 8 * 3 * 2 * 3
    assert {(p.params["sram.ifmap_kb"], p.params["sram.filter_kb"]) for p in points} == {
        (16, 48), (32, 64)}
    draws = [(p.params["array.rows"], p.params["dram.latency"], p.params["array.dataflow"])
             for p in points[:3]]
    assert all(r % 4 == 0 and 4 <= r <= 64 and 10 <= lat <= 20 and df in ("os", "ws", "is")
               for r, lat, df in draws)
    assert len(set(draws)) == 3
    # the same seed gives the same samples; another seed other ones
    assert [p.point_id for p in load_spec(write(tmp_path, text, "same.yaml")).expand().points
            ] == [p.point_id for p in points]
    other = load_spec(write(tmp_path, text.replace("seed: 11", "seed: 12"), "o.yaml"))
    assert [p.params["array.rows"] for p in other.expand().points[:3]] != [d[0] for d in draws]


def test_constraints_skip_points(tmp_path):
    text = MINIMAL + "constraints:\n  - array.rows == array.cols\n"
    expansion = load_spec(write(tmp_path, text)).expand()
    assert [(p.params["array.rows"], p.params["array.cols"]) for p in expansion.points] == [
        (32, 32), (64, 64)]
    assert expansion.excluded == 2
    # a constraint may read fields that are not varied (defaults included) and the workload
    text = MINIMAL.replace("- gemm:512,512,512", "- gemm:512,512,512\n  - gemm:64,64,64") + \
        "constraints:\n  - array.rows * array.cols <= sram.ifmap_kb * 64 and " \
        "vector.lanes == 128\n  - workload != 'gemm:64,64,64' or max(array.rows, " \
        "array.cols) < 64\n"
    points = load_spec(write(tmp_path, text, "c.yaml")).expand().points
    pairs = {(p.workload, p.params["array.rows"], p.params["array.cols"]) for p in points}
    assert pairs == {("gemm:512,512,512", 32, 32), ("gemm:512,512,512", 32, 64),
                     ("gemm:512,512,512", 64, 32), ("gemm:512,512,512", 64, 64),
                     ("gemm:64,64,64", 32, 32)}


def test_constraints_are_not_eval():
    c = Constraint.parse("array.rows == array.cols and not (dram.bandwidth < 2 ** 3)")
    values = {"array.rows": 4, "array.cols": 4, "dram.bandwidth": 16}
    assert c.holds(values.__getitem__)
    assert c.names == ("array.rows", "array.cols", "dram.bandwidth")
    for bad in ("__import__('os').system('true')", "array.rows[0] == 1",
                "(lambda: 1)() == 1", "open('x')", "[x for x in y]", "a if b else c"):
        with pytest.raises(ConstraintSyntaxError):
            Constraint.parse(bad)
    with pytest.raises(ValueError, match="exponent"):
        Constraint.parse("2 ** 10 ** 9 > 1").holds(values.__getitem__)


@pytest.mark.parametrize("text, line, message", [
    ("bogus: 1\n", 7, "bogus: unknown key"),
    ("grid:\n  array.rowz: [1]\n", 8, "unknown config key 'rowz'"),
    ("grid:\n  array: [1]\n", 8, "array is a section"),
    ("grid:\n  array.rows: [0, 32]\n", 8, "greater than or equal to 1"),
    ("zip:\n  array.rows: [8, 16]\n  array.cols: [8]\n", 9, "must be equally long"),
    ("grid:\n  dram.bandwidth: {range: [64, 8], step: 8}\n", 8, "above high"),
    ("constraints:\n  - array.rows ==\n", 8, "not an expression"),
    ("constraints:\n  - array.rowz == 1\n", 8, "'array.rowz' is not a config key"),
    ("random:\n  samples: 0\n  params: {array.rows: [8]}\n", 8, "positive integer"),
])
def test_spec_errors_name_the_line_and_key(tmp_path, text, line, message):
    head = f"base: {BASE}\nworkloads:\n  - gemm:64,64,64\n# pad\n# pad\n# pad\n"
    path = write(tmp_path, head + text)
    with pytest.raises(SweepError) as err:
        load_spec(path).expand()
    assert err.value.where == f"{path}:{line}"
    assert message in err.value.what


def test_flow_list_of_workloads_explains_the_comma(tmp_path):
    path = write(tmp_path, f"base: {BASE}\nworkloads: [gemm:64,64,64]\n")
    with pytest.raises(SweepError, match="comma splits items") as err:
        load_spec(path)
    assert err.value.where == f"{path}:2"


# ------------------------------------------------------------------------------------------
# running, the store, the CLI


def test_minimal_spec_from_the_issue_via_cli(tmp_path, capsys):
    spec = write(tmp_path, MINIMAL.replace(str(BASE), "configs/systolic-32-ws.yaml"))
    cwd = os.getcwd()
    os.chdir(ROOT)  # the issue's spec names the config relative to the project folder
    try:
        assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    finally:
        os.chdir(cwd)
    rows = csv_rows(tmp_path / "out" / "results.csv")
    header = list(rows[0])
    assert header[:7] == ["array.rows", "array.cols", "workload", "total_cycles", "energy_pj",
                          "status", "error"]
    assert [(r["array.rows"], r["array.cols"], r["status"]) for r in rows] == [
        ("32", "32", "ok"), ("32", "64", "ok"), ("64", "32", "ok"), ("64", "64", "ok")]
    assert (tmp_path / "out" / "results.sqlite").is_file()
    # the numbers are those of a plain run of the same config
    from simulator import api
    from simulator.api import load_config

    _, result = api.run(load_config(BASE, {"array.rows": 64, "array.cols": 32}),
                        "gemm:512,512,512")
    assert int(rows[2]["total_cycles"]) == result.total_cycles
    assert float(rows[2]["energy_pj"]) == result.energy_pj["total"]
    assert "ran 4 points (4 ok, 0 failed)" in capsys.readouterr().err


def test_error_rows_do_not_stop_the_sweep(tmp_path):
    text = TINY.replace("  - gemm:64,64,64\n", "  - gemm:64,64,64\n  - missing.csv\n")
    report = run_sweep(write(tmp_path, text), tmp_path / "out", workers=2)
    rows = csv_rows(report.csv_path)
    bad = [r for r in rows if r["workload"] == "missing.csv"]
    good = [r for r in rows if r["workload"] != "missing.csv"]
    assert report.failed == len(bad) == 12 and report.ok == len(good) == 24
    assert all(r["status"] == "error" and "no such topology file" in r["error"]
               and r["total_cycles"] == "" for r in bad)
    assert all(r["status"] == "ok" and r["error"] == "" and int(r["total_cycles"]) > 0
               for r in good)
    # a rerun does not recompute errors unless asked to
    again = run_sweep(write(tmp_path, text), tmp_path / "out", workers=1)
    assert (again.ran, again.already_done) == (0, 36)
    retried = run_sweep(write(tmp_path, text), tmp_path / "out", workers=1, retry_errors=True)
    assert (retried.ran, retried.failed) == (12, 12)
    assert len(csv_rows(report.csv_path)) == 36


def test_cli_spec_error_exits_2_with_file_and_line(tmp_path, capsys):
    spec = write(tmp_path, MINIMAL + "grid2: {}\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"archsim sweep: error: {spec}:7: grid2:")
    assert not (tmp_path / "o").exists()


def test_same_results_on_1_worker_2_workers_and_dask(tmp_path):
    pytest.importorskip("dask.distributed")
    spec = write(tmp_path, TINY)
    one = run_sweep(spec, tmp_path / "one", workers=1)
    two = run_sweep(spec, tmp_path / "two", workers=2)
    dask = run_sweep(spec, tmp_path / "dask", cluster="local:2")
    assert (one.runner, two.runner, dask.runner) == (
        "1 worker (in process)", "2 local workers", "dask local:2")
    assert one.ok == two.ok == dask.ok == 24
    reference = without_timing(csv_rows(one.csv_path))
    assert without_timing(csv_rows(two.csv_path)) == reference
    assert without_timing(csv_rows(dask.csv_path)) == reference
    assert len({r["total_cycles"] for r in reference}) > 5  # the points really differ
    assert list(reference[0])[-1] == "dram.latency"    # the fixed set: value is recorded
    assert {r["dram.latency"] for r in reference} == {"10"}


def test_resume_after_sigkill_mid_sweep(tmp_path):
    """Kill the driver and its workers with SIGKILL part-way; the rerun keeps what was stored,
    computes only the rest, and duplicates nothing."""
    spec = write(tmp_path, f"""\
base: {BASE}
workloads:
  - gemm:512,512,512
grid:
  array.rows: [8]
  array.cols: [8]
  dram.bandwidth: {{range: [8, 100], step: 4}}
""")
    out = tmp_path / "out"
    db = out / "results.sqlite"
    cmd = [sys.executable, "-m", "simulator.cli", "sweep", str(spec), "--out", str(out),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                stored = count_points(db)
            except sqlite3.OperationalError:  # created but the schema not yet committed
                stored = 0
            if stored >= 3:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    before = query(db, "SELECT id, total_cycles, energy_pj, run FROM points")
    assert 3 <= len(before) < 24

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already done, {24 - len(before)} to run" in done.stderr
    after = query(db, "SELECT id, total_cycles, energy_pj, run FROM points")
    assert query(db, "SELECT COUNT(*) FROM runs") == [(2,)]
    assert len(after) == 24 == len({r[0] for r in after})
    assert set(before) <= set(after)  # nothing written before the kill changed
    assert sum(r[3] == 2 for r in after) == 24 - len(before)  # only the rest was recomputed
    rows = csv_rows(out / "results.csv")
    assert [int(r["point"]) for r in rows] == list(range(24))
    assert all(r["status"] == "ok" for r in rows)


# ------------------------------------------------------------------------------------------
# analysis


def test_pareto_front_per_workload():
    rows = [
        {"workload": "a", "total_cycles": 10, "energy_pj": 5.0, "pe_count": 4},
        {"workload": "a", "total_cycles": 12, "energy_pj": 5.0, "pe_count": 4},   # dominated
        {"workload": "a", "total_cycles": 8, "energy_pj": 9.0, "pe_count": 4},
        {"workload": "a", "total_cycles": 10, "energy_pj": 5.0, "pe_count": 4},   # tie: kept
        {"workload": "b", "total_cycles": 100, "energy_pj": 50.0, "pe_count": 1},  # own group
        {"workload": "a", "total_cycles": 20, "energy_pj": 20.0, "pe_count": 1},
        {"workload": "a", "total_cycles": None, "energy_pj": 1.0, "pe_count": 1},  # error row
    ]
    objectives = [("total_cycles", False), ("energy_pj", False), ("pe_count", False)]
    assert pareto_front(rows, objectives) == [0, 2, 3, 4, 5]
    assert pareto_front(rows, objectives[:2]) == [0, 2, 3, 4]
    assert pareto_front(rows, [("total_cycles", True)]) == [4, 5]


def test_plot_png_svg_and_pareto_table(tmp_path, capsys):
    spec = write(tmp_path, TINY)
    run_sweep(spec, tmp_path / "out", workers=1)
    png = tmp_path / "out" / "cycles.png"
    assert main(["plot", str(tmp_path / "out"), "--x", "array.cols", "--y", "total_cycles",
                 "--hue", "workload", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "Pareto front" in out and "gemm:64,64,64" in out
    results = read_results(tmp_path / "out")
    ok = results.ok()
    front = pareto_front(ok, [("total_cycles", False), ("energy_pj", False),
                              ("pe_count", False)])
    assert 0 < len(front) < len(ok)
    svg = tmp_path / "e.svg"
    assert main(["plot", str(tmp_path / "out" / "results.csv"), "--x", "energy_pj", "--y",
                 "total_cycles", "--pareto", "total_cycles,energy_pj", "-o", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "out"), "--x", "nope", "--y", "total_cycles"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "out"), "--x", "array.cols", "--y", "total_cycles",
                 "-o", str(tmp_path / "x.pdf")]) == 2


def _pool_workers(pid: int) -> list[int]:
    """Children of ``pid`` forked from it (same command line): the pool workers, not the
    multiprocessing resource tracker."""
    def cmdline(p: int | str) -> bytes:
        return Path(f"/proc/{p}/cmdline").read_bytes()

    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and cmdline(stat.parent.name) == cmdline(pid):
                kids.append(int(stat.parent.name))
        except OSError:
            continue
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_pool_worker_loses_no_point(tmp_path):
    """SIGKILL one pool worker mid-sweep: the pool is rebuilt, its points rerun, all end ok."""
    spec = write(tmp_path, f"""\
base: {BASE}
workloads:
  - gemm:512,512,512
grid:
  array.rows: [8]
  array.cols: [8]
  dram.bandwidth: {{range: [8, 100], step: 4}}
""")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "sweep", str(spec), "--out",
                             str(out), "--workers", "2"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db = out / "results.sqlite"
            try:
                if db.exists() and count_points(db) >= 2:
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.02)
        workers = _pool_workers(proc.pid)
        assert len(workers) == 2 and proc.poll() is None
        os.kill(workers[0], signal.SIGKILL)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    rows = csv_rows(out / "results.csv")
    assert len(rows) == 24 and all(r["status"] == "ok" for r in rows)


def test_shipped_example_spec_expands_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec(ROOT / "configs" / "sweeps" / "systolic-shape.yml")
    expansion = spec.expand()
    assert len(expansion.points) == 96 and expansion.excluded == 54
    assert all(p.config["sram"]["ifmap_kb"] == 256 for p in expansion.points)


def test_one_sweep_writes_to_a_folder_at_a_time(tmp_path, monkeypatch):
    from simulator.sweep import store

    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.2)
    spec = write(tmp_path, MINIMAL)
    with store.ResultStore(tmp_path / "out"):
        with pytest.raises(SweepError, match="another archsim sweep is writing"):
            run_sweep(spec, tmp_path / "out", workers=1)
    assert run_sweep(spec, tmp_path / "out", workers=1).ok == 4  # released on close


def test_inline_base_and_passes(tmp_path):
    text = """\
base:
  kind: systolic
  array: {rows: 16, cols: 16, dataflow: os}
workloads:
  - conv:14,14,8,3,3,8,1,1
passes: [im2col=implicit]
grid:
  dram.bandwidth: [8, 64]
"""
    spec = load_spec(write(tmp_path, text))
    assert spec.passes == ("im2col=implicit",)
    report = run_sweep(spec, tmp_path / "out", workers=1)
    rows = csv_rows(report.csv_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert int(rows[0]["total_cycles"]) > int(rows[1]["total_cycles"])  # less bandwidth, slower
    # the pass is part of the point: the same config without it is another point
    plain = load_spec(write(tmp_path, text.replace("passes: [im2col=implicit]\n", ""), "p.yaml"))
    assert not {p.point_id for p in plain.expand().points} & {
        p.point_id for p in spec.expand().points}
    bad = write(tmp_path, text.replace("im2col=implicit", "im2col=sideways"), "bad.yaml")
    with pytest.raises(SweepError, match=r"passes\[0\]: pass im2col takes one of") as err:
        load_spec(bad)
    assert err.value.where == f"{bad}:6"


def _fake_point(log: str, victim: str):
    """A point function that logs each run and, the first time it meets ``victim``, dies the
    way an out-of-memory kill does (SIGKILL: no cleanup, no row)."""
    def run(task: dict) -> dict:
        with open(log, "a") as fh:
            fh.write(f"{task['id']}\n")
        marker = f"{log}.{victim}"
        if task["id"] == victim and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.01)
        return {"id": task["id"], "index": task["index"], "status": "ok", "error": None,
                "wall_s": 0.01}
    return run


@pytest.mark.parametrize("victim", ["p3", "p0"])
def test_a_lost_worker_costs_only_its_own_point(tmp_path, monkeypatch, victim):
    from simulator.sweep import runner

    log = str(tmp_path / "runs.log")
    monkeypatch.setattr(runner, "run_point", _fake_point(log, victim))
    # fork, so the workers run the patched point (earlier tests may have left threads alive,
    # which makes the pool pick forkserver)
    monkeypatch.setattr(runner, "_mp_context", lambda: mp.get_context("fork"))
    tasks = [{"id": f"p{i}", "index": i} for i in range(12)]
    rows = list(runner._pool(tasks, 3, lambda: None))
    assert sorted(r["id"] for r in rows) == sorted(t["id"] for t in tasks)
    assert all(r["status"] == "ok" for r in rows)
    runs = open(log).read().split()
    assert {t: runs.count(t) for t in set(runs)} == {t["id"]: 1 + (t["id"] == victim)
                                                    for t in tasks}


def test_a_point_that_kills_every_worker_becomes_an_error_row(tmp_path, monkeypatch):
    from simulator.sweep import runner

    def deadly(task: dict) -> dict:
        if task["id"] == "bad":
            os.kill(os.getpid(), signal.SIGKILL)
        return {"id": task["id"], "index": task["index"], "status": "ok", "error": None,
                "wall_s": 0.0}

    monkeypatch.setattr(runner, "run_point", deadly)
    monkeypatch.setattr(runner, "_mp_context", lambda: mp.get_context("fork"))
    tasks = [{"id": "a", "index": 0}, {"id": "bad", "index": 1}, {"id": "b", "index": 2}]
    rows = {r["id"]: r for r in runner._pool(tasks, 2, lambda: None)}
    assert rows["a"]["status"] == rows["b"]["status"] == "ok"
    assert rows["bad"]["status"] == "error" and "died" in rows["bad"]["error"]


def test_a_cluster_without_workers_says_it_waits_and_times_out(tmp_path, capsys):
    import logging

    from dask.distributed import LocalCluster

    spec = write(tmp_path, f"base: {BASE}\nworkloads: ['gemm:64,64,64']\n"
                           "grid:\n  array.rows: [8, 16]\n")
    with LocalCluster(n_workers=0, dashboard_address=None, silence_logs=logging.ERROR,
                      processes=True, protocol="tcp") as cluster:
        address = cluster.scheduler_address
        start = time.monotonic()
        code = main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--cluster", address,
                     "--cluster-timeout", "1.5"])
        waited = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2 and f"waiting for Dask workers to join the scheduler at {address}" in err
    assert "no Dask worker joined the scheduler within 1.5 s" in err and waited < 30


def test_results_load_as_a_dataframe_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from simulator.sweep import load_sweep

    spec = write(tmp_path, TINY)
    report = run_sweep(spec, tmp_path / "o", workers=1)
    frame = load_sweep(tmp_path / "o")
    rows = csv_rows(report.csv_path)
    assert len(frame) == len(rows) == 24
    assert list(frame.columns) == list(rows[0])
    assert frame["total_cycles"].tolist() == [int(r["total_cycles"]) for r in rows]
    parquet = pd.read_parquet(tmp_path / "o" / "results.parquet")
    assert parquet["total_cycles"].tolist() == frame["total_cycles"].tolist()
    with pytest.raises(SweepError, match="no such results file"):
        load_sweep(tmp_path / "nope")
