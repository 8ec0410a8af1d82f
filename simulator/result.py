"""What a simulation returns: plain data that reports render and sweeps store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BYTE_KEYS = ("dram_read", "dram_write", "sram_read", "sram_write")


@dataclass
class LayerResult:
    """One layer. ``cycles`` is the time from the previous layer's completion to this layer's
    completion, so layer cycles add up to the total even when layers overlap."""

    name: str
    op: str
    cycles: int
    start: int
    end: int
    macs: int
    utilization: float
    bytes: dict[str, int]
    energy_pj: float
    dims: dict[str, int] = field(default_factory=dict)
    vector_ops: int = 0


@dataclass
class UnitResult:
    name: str
    busy: int
    stall: int
    utilization: float


@dataclass
class TimelineEvent:
    unit: str
    start: int
    end: int
    instruction: int
    op: str
    layer: str


@dataclass
class Result:
    """Totals, per-layer and per-unit statistics, and (on request) the instruction timeline."""

    kind: str
    config_name: str
    workload: str
    total_cycles: int
    clock_ghz: float
    macs: int
    utilization: float
    pe_count: int
    instructions: int
    layers: list[LayerResult]
    units: list[UnitResult]
    bytes: dict[str, int]
    energy_pj: dict[str, float]
    timeline: list[TimelineEvent] | None = None
    #: Target- or pass-specific facts (an npu plan's kernels, a tuner's search time).
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def time_us(self) -> float:
        return self.total_cycles / (self.clock_ghz * 1e3)

    def summary(self) -> dict[str, Any]:
        """The JSON summary (``--json`` and summary.json): everything but the timeline."""
        out = asdict(self)
        out.pop("timeline")
        if not out["notes"]:
            out.pop("notes")
        out["time_us"] = self.time_us
        return out
