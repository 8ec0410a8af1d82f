"""The memory side of a SCALE-Sim layer: stalls, SRAM service windows, DRAM traffic.

PLACEHOLDER (first cut): a footprint estimate, to be replaced by a faithful model of SCALE-Sim's
double-buffered scratchpads (CALC estimate mode and USER bandwidth mode).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.systolic import ScaleSimOptions, SystolicConfig
from simulator.scalesim.compute import ComputeStats
from simulator.scalesim.mapping import ScaleSimLayer

OPERANDS = ("ifmap", "filter", "ofmap")


@dataclass(frozen=True)
class MemoryStats:
    """Per operand: SRAM (start, stop) service cycles; DRAM (start, stop, words)."""

    stall_cycles: int
    sram: dict[str, tuple[int, int]]
    dram: dict[str, tuple[int, int, int]]


def simulate_memory(layer: ScaleSimLayer, compute: ComputeStats, config: SystolicConfig,
                    options: ScaleSimOptions) -> MemoryStats:
    last = compute.compute_cycles
    ifmap_words = layer.ifmap_h * layer.ifmap_w * layer.channels
    filter_words = layer.k * layer.n
    prefill = -(-min(ifmap_words, int(config.sram.ifmap_kb * 1024) // 2) // 10)
    sram = {"ifmap": (1, last), "filter": (1, last), "ofmap": (layer.spatial[2] - 1, last)}
    dram = {"ifmap": (-prefill, last, ifmap_words), "filter": (-prefill, last, filter_words),
            "ofmap": (0, last, layer.m * layer.n)}
    return MemoryStats(0, sram, dram)
