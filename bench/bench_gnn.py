"""GNN speed (issue 7): load + compile (redundancy elimination, tiling, lowering) + simulate on
the zipper target, wall time of the library call ``api.run`` (what ``archsim run`` does).

Targets: GCN 2-layer on Cora < 2 s; GCN 2-layer on an RMAT graph of 1,000,000 edges (2**17
vertices, 16 features; plus the self loops GCN adds) < 30 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from simulator import api
from simulator.api import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "zipper.yaml"
CASES = [("gnn:gcn:cora", 2.0), ("gnn:gcn:rmat?edges=1000000&scale=17", 30.0)]


def main() -> int:
    cfg = load_config(CONFIG)
    ok = True
    for workload, target in CASES:
        t0 = time.perf_counter()
        trace, result = api.run(cfg, workload)
        wall = time.perf_counter() - t0
        hit = wall < target
        ok &= hit
        print(f"gnn: {workload} on zipper: {wall:.2f} s ({len(trace.instructions):,} "
              f"instructions, {result.total_cycles:,} cycles) [target < {target:g} s] "
              f"{'OK' if hit else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
