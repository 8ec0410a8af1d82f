"""`archsim scalesim` wall time, and the speed-up over SCALE-Sim 3.0.0 itself when it is installed.

Target (issue 2): ResNet-18 (SCALE-Sim's own topology) on a 32x32 array in under 2 s wall for
the whole command, process start included; >= 100x faster than SCALE-Sim with identical
COMPUTE_REPORT compute columns. Set SCALESIM_PYTHON to a python with `pip install scalesim==3.0.0
'numpy<2.4'` to run SCALE-Sim too (it takes minutes).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 2.0
TARGET_SPEEDUP = 100
COMPUTE_COLUMNS = slice(2, 7)  # Total Cycles .. Compute Util %


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return elapsed


def _compute_rows(folder: Path) -> list[list[str]]:
    (report,) = folder.glob("*/COMPUTE_REPORT.csv")
    with report.open() as fh:
        return [[f.strip() for f in row][COMPUTE_COLUMNS] for row in list(csv.reader(fh))[1:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs/scalesim/scale_32x32_os.cfg"))
    parser.add_argument("--topology", default=str(ROOT / "configs/scalesim/resnet18.csv"))
    args = parser.parse_args(argv)
    archsim = [sys.executable, "-m", "simulator.cli", "scalesim", "-c", args.config,
               "-t", args.topology]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _timed(archsim + ["-p", str(tmp / "warm")], ROOT)  # numba cache, page cache
        ours = min(_timed(archsim + ["-p", str(tmp / "a")], ROOT) for _ in range(3))
        ok &= ours < TARGET_S
        print(f"archsim scalesim: {Path(args.topology).name} on {Path(args.config).name}: "
              f"{ours:.2f} s wall [target < {TARGET_S} s] {'OK' if ours < TARGET_S else 'MISSED'}")
        scalesim_python = os.environ.get("SCALESIM_PYTHON")
        if not scalesim_python:
            print("SCALE-Sim comparison skipped (set SCALESIM_PYTHON to a python with "
                  "scalesim==3.0.0)")
            return 0 if ok else 1
        layout = ROOT / "configs/scalesim/layout.csv"  # SCALE-Sim's CLI insists on one
        theirs = _timed([scalesim_python, "-m", "scalesim.scale", "-c", args.config, "-t",
                         args.topology, "-l", str(layout), "-p", str(tmp / "s")], tmp)
        same = _compute_rows(tmp / "a") == _compute_rows(tmp / "s")
        speedup = theirs / ours
        ok &= same and speedup >= TARGET_SPEEDUP
        print(f"SCALE-Sim 3.0.0: {theirs:.1f} s wall -> archsim is {speedup:,.0f}x faster "
              f"[target >= {TARGET_SPEEDUP}x] {'OK' if speedup >= TARGET_SPEEDUP else 'MISSED'}; "
              f"COMPUTE_REPORT compute columns {'identical' if same else 'DIFFER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
