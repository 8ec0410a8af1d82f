"""Start-up: whole `archsim` processes, from exec to exit.

Targets (issue 20): `archsim --help` under 0.15 s; a small `archsim run` (gemm:64,64,64 on
systolic-32-ws) and a small `archsim scalesim` (AlexNet on SCALE-Sim's 32x32 OS config) under
0.3 s wall; `archsim run` of `zoo:resnet50` (on configs/tpu-v1-256-ws.yaml, the config that
lowers it into the fewest instructions) under 0.3 s. Each command runs N times after a warm-up
(page cache, numba's kernel cache); the figure is the best wall time, and CPU time (user + sys
of the process) is printed beside it: on a shared machine wall time includes waiting for a core.
The children run without PYTHONDONTWRITEBYTECODE (removed from a copy of the environment), as a
user's install does: with it set, every run would recompile every module it imports.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHSIM = str(Path(sys.executable).with_name("archsim"))
CASES = [
    ("archsim --help", ["--help"], 0.15),
    ("archsim run systolic-32-ws gemm:64,64,64",
     ["run", "-q", "configs/systolic-32-ws.yaml", "gemm:64,64,64"], 0.3),
    ("archsim scalesim alexnet 32x32 os",
     ["scalesim", "-q", "-c", "configs/scalesim/scale_32x32_os.cfg", "-t",
      "configs/scalesim/alexnet.csv", "-p", "{tmp}"], 0.3),
    ("archsim run tpu-v1-256-ws zoo:resnet50",
     ["run", "-q", "configs/tpu-v1-256-ws.yaml", "zoo:resnet50"], 0.3),
]
#: the children's environment: bytecode caches written and read, as in a user's install
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one `archsim ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([ARCHSIM, *args], cwd=ROOT, capture_output=True, text=True,
                          env=ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed: archsim {' '.join(args)}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd, target in CASES:
            cmd = [c.replace("{tmp}", tmp) for c in cmd]
            measure(cmd)   # warm-up
            runs = [measure(cmd) for _ in range(args.repeat)]
            wall = min(w for w, _ in runs)
            cpu = min(c for _, c in runs)
            met = wall < target
            ok &= met
            print(f"{label}: {wall:.3f} s wall, {cpu:.3f} s CPU (best of {args.repeat}) "
                  f"[target < {target} s] {'OK' if met else 'MISSED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
