"""Peak memory of lowering and simulating a large trace, in a fresh process.

Target (issue 20): a 10M-instruction trace simulates in under 2 GB peak memory. The trace is a
GEMM on an 8x8 systolic array with 4 KiB SRAMs (gemm:8192,N,64: ~384 instructions per N), sized
by --instructions (default 10M, the target's size: about 15 s in all with the compiled fold loop;
the trace is a columnar InstructionTable of ~64 bytes an instruction, and the engine runs numpy
task columns).
Peak is the child's maximum resident set (ru_maxrss); the per-instruction figure subtracts the
peak of the same process on a 12-instruction GEMM.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

TARGET_INSTRUCTIONS = 10_000_000
TARGET_BYTES = 2 * 1024**3
CHILD = """
import sys
from simulator import api
from simulator.api import config_from_dict
cfg = config_from_dict({"kind": "systolic", "name": "bench-8x8",
    "array": {"rows": 8, "cols": 8, "dataflow": "os"},
    "sram": {"ifmap_kb": 4, "filter_kb": 4, "ofmap_kb": 4},
    "dram": {"bandwidth": 16, "latency": 50}})
trace = api.lower(cfg, sys.argv[1])
result = api.simulate(trace, cfg)
print(len(trace.instructions), result.total_cycles)
"""


def peak(workload: str) -> tuple[int, int]:
    """(instructions, peak resident bytes) of one child lowering and simulating ``workload``."""
    done = subprocess.run([sys.executable, "-c", CHILD, workload], capture_output=True,
                          text=True, check=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)   # the largest child so far
    return int(done.stdout.split()[0]), usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instructions", type=int, default=TARGET_INSTRUCTIONS)
    args = parser.parse_args(argv)
    _, base = peak("gemm:64,64,64")
    n_cols = max(8, round(args.instructions / 384 / 8) * 8)
    n, rss = peak(f"gemm:8192,{n_cols},64")
    per = (rss - base) / n
    met = n >= TARGET_INSTRUCTIONS and rss < TARGET_BYTES
    print(f"memory: {n:,} instructions lowered and simulated in {rss / 1024**3:.2f} GB peak "
          f"({per:,.0f} bytes per instruction over a {base / 1024**2:.0f} MB process) "
          f"[target: {TARGET_INSTRUCTIONS:,} instructions < {TARGET_BYTES / 1024**3:.0f} GB] "
          f"{'OK' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
