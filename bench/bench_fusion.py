"""The DLFusion study (issue 6) on configs/mlu.yaml: baseline, heuristic and oracle per network.

Targets, from the issue and the paper (DLFusion saw 3.6-7.9x over no optimisation):
- the oracle's plan is >= 3x faster than the layer-by-layer baseline on every network;
- the heuristic's plan is within 5 % of the oracle's on every network ("a few percent");
- the heuristic searches in < 1 % of the oracle's time (profiling excluded: once per config);
- on the four held-out networks (DenseNet-121, Inception-v2, ShuffleNet, ZFNet-512) and on
  GoogLeNet (Inception-v1) the heuristic is within 1 % of the oracle.
Writes docs/fusion-mlu16.png (the report's six). Takes a few minutes (the oracle simulates
~8,500 kernels for the six, more for DenseNet-121).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.api import load_config
from simulator.scenarios.fusion_study import HELD_OUT, NETWORKS, fusion_study, plot_study

ROOT = Path(__file__).resolve().parents[1]
MIN_ORACLE_SPEEDUP = 3.0
MAX_HEURISTIC_GAP = 0.05
MAX_SEARCH_RATIO = 0.01
MAX_HELD_OUT_GAP = 0.01
STRICT = {*HELD_OUT, "GoogLeNet"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(ROOT / "configs" / "mlu.yaml"))
    parser.add_argument("--plot", default=str(ROOT / "docs" / "fusion-mlu16.png"))
    parser.add_argument("networks", nargs="*", help=f"subset of {', '.join(NETWORKS)}")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    nets = {k: v for k, v in {**NETWORKS, **HELD_OUT}.items()
            if not args.networks or k in args.networks}
    rows, facts = fusion_study(config, nets)
    print(f"profiling: {facts['profiled_layers']} synthesized layers and fused groups, "
          f"{facts['profile_simulations']} simulations, {facts['profile_s']:.1f} s")
    print(f"{'network':14} {'baseline':>11} {'heuristic':>10} {'oracle':>10} {'h x':>6} "
          f"{'o x':>6} {'h-o':>7} {'h search':>9} {'o search':>9}")
    failed = []
    for r in rows:
        print(f"{r.network:14} {r.baseline_cycles:>11,} {r.heuristic_cycles:>10,} "
              f"{r.oracle_cycles:>10,} {r.heuristic_speedup:>5.2f}x {r.oracle_speedup:>5.2f}x "
              f"{100 * r.heuristic_gap:>+6.1f}% {r.heuristic_search_s:>8.4f}s "
              f"{r.oracle_search_s:>8.1f}s")
        if r.oracle_speedup < MIN_ORACLE_SPEEDUP:
            failed.append(f"{r.network}: oracle speedup {r.oracle_speedup:.2f}x < "
                          f"{MIN_ORACLE_SPEEDUP}x")
        if r.heuristic_gap > MAX_HEURISTIC_GAP:
            failed.append(f"{r.network}: heuristic {100 * r.heuristic_gap:.1f}% slower than "
                          f"the oracle (target <= {100 * MAX_HEURISTIC_GAP:.0f}%)")
        if r.network in STRICT and r.heuristic_gap > MAX_HELD_OUT_GAP:
            failed.append(f"{r.network}: heuristic {100 * r.heuristic_gap:.2f}% slower than "
                          f"the oracle (target <= {100 * MAX_HELD_OUT_GAP:.0f}%)")
        if r.heuristic_search_s > MAX_SEARCH_RATIO * r.oracle_search_s:
            failed.append(f"{r.network}: heuristic search {r.heuristic_search_s:.3f} s is over "
                          f"{100 * MAX_SEARCH_RATIO:.0f}% of the oracle's")
    plot_study([r for r in rows if r.network in NETWORKS], args.plot,
               f"fusion and core-count tuning on {config.name}")
    print(f"wrote {args.plot}")
    for line in failed:
        print(f"target missed: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
