"""Start-up stays light: what ``archsim`` imports before it knows what it will need.

No timings here (they are in bench/bench_startup.py): these tests check which modules a fresh
interpreter has loaded, which is what start-up time follows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

from simulator.cli import COMMAND_MODULES, COMMANDS


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_command_map_names_the_module_of_every_command():
    registered = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        for command in importlib.import_module(f"simulator.cli.{name}").add_parsers(sub):
            registered[command] = name
    assert registered == COMMANDS


def test_importing_the_cli_and_the_error_types_pulls_no_heavy_library():
    loaded = _modules_after("import simulator.cli, workloads, workloads.errors, "
                            "simulator.errors")
    assert not loaded & {"numpy", "pydantic", "yaml", "rich", "simpy", "numba", "onnx"}


def test_help_builds_every_command_without_heavy_imports():
    loaded = _modules_after("import contextlib, io\nfrom simulator.cli import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    try:\n        main(['--help'])\n"
                            "    except SystemExit:\n        pass")
    assert {f"simulator.cli.{m}" for m in COMMAND_MODULES} <= loaded
    assert not loaded & {"numpy", "pydantic", "rich", "simpy", "numba"}


def test_a_command_builds_only_its_own_parser():
    loaded = _modules_after("import contextlib, io\nfrom simulator.cli import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    try:\n        main(['scalesim', '--help'])\n"
                            "    except SystemExit:\n        pass")
    assert "simulator.cli.scalesim" in loaded
    assert not loaded & {f"simulator.cli.{m}" for m in COMMAND_MODULES if m != "scalesim"}


def test_graph_types_load_on_first_use():
    import workloads
    from workloads.graph import Graph

    assert workloads.Graph is Graph


def _blas_threads_asked(argv: list[str], env: dict[str, str] | None = None) -> str | None:
    """OPENBLAS_NUM_THREADS as ``archsim ARGV`` leaves it before its handler runs (a fresh
    interpreter: numpy not imported yet; the handler is replaced so nothing runs)."""
    code = ("import os, sys, json\n"
            "import simulator.cli as cli\n"
            "real = cli.build_parser\n"
            "def build(modules):\n"
            "    parser, commands = real(modules)\n"
            "    return parser, {k: (lambda args: 0) for k in commands}\n"
            "cli.build_parser = build\n"
            f"cli.main({argv!r})\n"
            "print(json.dumps(os.environ.get('OPENBLAS_NUM_THREADS')))")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**clean, **(env or {})}).stdout
    return json.loads(out.splitlines()[-1])


def test_timing_commands_ask_openblas_for_one_thread_unless_told_otherwise():
    run = ["run", "-q", "configs/systolic-32-ws.yaml", "gemm:8,8,8"]
    assert _blas_threads_asked(run) == "1"
    assert _blas_threads_asked([*run, "--functional"]) is None   # matmuls on real numbers
    assert _blas_threads_asked(run, {"OMP_NUM_THREADS": "4"}) is None   # the user's choice
    assert _blas_threads_asked(run, {"OPENBLAS_NUM_THREADS": "3"}) == "3"
    assert _blas_threads_asked(["ops"]) is None
