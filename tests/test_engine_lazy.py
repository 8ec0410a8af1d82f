"""The engine loads its heavy helpers only where they run: SimPy for ready-window runs and
processes, numba for in-order runs of at least ``COMPILED_MIN_TASKS`` tasks (no timings: which
modules a fresh interpreter holds is what start-up time follows; bench/bench_startup.py times)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import CONFIGS


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_a_small_in_order_run_loads_neither_simpy_nor_numba():
    loaded = _modules_after(f"from simulator import api\n"
                            f"api.run(api.load_config({str(CONFIGS / 'systolic-32-ws.yaml')!r}),"
                            f" 'gemm:64,64,64')")
    assert "simulator.engine.core" in loaded
    assert not loaded & {"simpy", "numba"}


def test_processes_and_ready_window_runs_load_simpy():
    assert "simpy" in _modules_after("from simulator.engine import Simulation")
    loaded = _modules_after(
        "from simulator.engine import Engine, ReadyWindow\n"
        "Engine([], ReadyWindow(2)).run_columns(['a', 'a'], [1, 2], [None, None], [0, 0],"
        " [(), (0,)], groups=[0, 1])")
    assert "simpy" in loaded and "numba" not in loaded
