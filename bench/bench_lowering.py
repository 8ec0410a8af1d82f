"""Lowering throughput: instructions built per second.

Target (issue 20): >= 1,000,000 instructions/s. The workload is the engine benchmark's: ResNet-18
on an 8x8 systolic array with 4 KiB SRAMs (~430k LOAD/GEMM/STORE instructions). Time is CPU time
(the machine is shared), the best of N calls of `api.lower` on the prepared graph (import and
passes excluded: `api.prepare` runs once). Large GEMMs fold in the compiled loop
(simulator/lower/_fold_kernel.py) once numba pays: the first call in a process folds its first
KERNEL_LOAD_FOLDS folds in Python and then loads numba; it is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench_engine import bench_config

from simulator import api

TARGET = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workload", default="resnet18")
    args = parser.parse_args(argv)
    cfg = bench_config()
    graph = api.prepare(cfg, args.workload)
    times = []
    for _ in range(args.repeat):
        t0 = time.process_time()
        trace = api.lower(cfg, graph)
        times.append(time.process_time() - t0)
        n = len(trace.instructions)
        del trace
    best = min(times)
    rate = n / best
    print(f"lowering: {n:,} instructions ({args.workload} on 8x8), {best:.2f} s CPU (first in "
          f"the process {times[0]:.2f} s) -> {rate:,.0f} instructions/s [target >= {TARGET:,}] "
          f"{'OK' if rate >= TARGET else 'MISSED'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
