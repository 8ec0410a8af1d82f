"""Sweep throughput: a 64-point sweep on 2 local workers vs 1, and the per-point overhead.

Targets (issue 9): 2 workers close to 2x faster than 1 (>= 1.6x, on a machine with >= 2
cores), and a small per-point overhead beyond the simulation itself (<= 5 ms). The sweep is
gemm:384,384,384 on 8x8 and 12x12 arrays at 16 DRAM bandwidths (64 points, ~0.05-0.1 s each).

- "the simulation itself" is each point's ``run_point`` time (config validation, lowering,
  simulation), measured inside the worker in the same run, so a busy machine slows both sides
  alike; the plain ``api.run`` loop over the same points is printed for reference;
- the 1-worker overhead is (sweep wall - sum of point times) / 64: spec loading and
  expansion, config hashing, one SQLite commit per point, results.csv;
- the 2-worker overhead is (2 x sweep wall - sum of point times) / 64: that plus process
  start-up, pickling, and the idle tail while the last point finishes.

Each sweep writes into a fresh folder (an old one would be resumed, i.e. skipped). Times are
the best of ``--repeat`` runs. The load average is printed: on a shared machine other
processes take cores from the 2-worker run and the ratio drops accordingly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from simulator import api
from simulator.api import config_from_dict
from simulator.sweep import default_workers, load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
POINTS = 64
TARGET_RATIO = 1.6
TARGET_OVERHEAD_MS = 5.0

SPEC = f"""\
base: {ROOT / "configs" / "systolic-32-ws.yaml"}
workloads:
  - gemm:384,384,384
grid:
  array.rows: [8, 12]
  array.cols: [8, 12]
  dram.bandwidth: {{range: [8, 128], step: 8}}
"""


def plain_loop(spec_path: Path) -> float:
    points = load_spec(spec_path).expand().points
    t0 = time.perf_counter()
    for p in points:
        api.run(config_from_dict(p.config), p.workload)
    return time.perf_counter() - t0


def timed_sweep(spec_path: Path, workers: int) -> tuple[float, float]:
    """(sweep wall time, sum of the points' own times)."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
        report = run_sweep(spec_path, out, workers=workers)
        assert report.ok == POINTS, report
        return report.wall_s, report.sim_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-spec-") as tmp:
        spec_path = Path(tmp) / "spec.yaml"
        spec_path.write_text(SPEC)
        assert len(load_spec(spec_path).expand().points) == POINTS
        plain_loop(spec_path)  # warm imports and caches, as a pool worker's preload does
        plain = min(plain_loop(spec_path) for _ in range(args.repeat))
        one, sim1 = min(timed_sweep(spec_path, 1) for _ in range(args.repeat))
        two, sim2 = min(timed_sweep(spec_path, 2) for _ in range(args.repeat))
    ratio = one / two
    over1 = (one - sim1) / POINTS * 1e3
    over2 = (2 * two - sim2) / POINTS * 1e3
    cores = default_workers()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ratio_ok = ratio >= TARGET_RATIO or cores < 2
    over_ok = over1 <= TARGET_OVERHEAD_MS
    print(f"sweep: {POINTS} points, plain api.run loop {plain:.2f} s "
          f"({plain / POINTS * 1e3:.1f} ms/point); 1 worker {one:.2f} s, 2 workers {two:.2f} s "
          f"-> {ratio:.2f}x [target >= {TARGET_RATIO}x on >= 2 cores; {cores} here] "
          f"{'OK' if ratio_ok else 'MISSED'}; overhead per point {over1:.2f} ms on 1 worker "
          f"[target <= {TARGET_OVERHEAD_MS:g} ms] {'OK' if over_ok else 'MISSED'}, "
          f"{over2:.2f} ms of worker time on 2 (start-up, IPC, idle tail); workers busy "
          f"{sim2 / (2 * two):.0%} of the 2-worker run; sum of point times {sim1:.2f} s on 1 "
          f"worker, {sim2:.2f} s on 2 (more on 2: other processes took cores); "
          f"load average {load:.1f}")
    return 0 if ratio_ok and over_ok else 1


if __name__ == "__main__":
    sys.exit(main())
