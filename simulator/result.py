"""What a simulation returns: plain data that reports render and sweeps store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BYTE_KEYS = ("dram_read", "dram_write", "sram_read", "sram_write")
ENERGY_KEYS = ("energy_pj", "energy_mac_pj", "energy_vector_pj", "energy_sram_pj",
               "energy_dram_pj", "energy_leakage_pj", "energy_sram_read_pj",
               "energy_sram_write_pj", "energy_dram_read_pj", "energy_dram_write_pj")


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
    #: the layer's energy by component (mac + vector + sram + dram + leakage = ``energy_pj``;
    #: sram = sram_read + sram_write, dram = dram_read + dram_write; docs/energy.md)
    energy_mac_pj: float = 0.0
    energy_vector_pj: float = 0.0
    energy_sram_pj: float = 0.0
    energy_dram_pj: float = 0.0
    energy_leakage_pj: float = 0.0
    energy_sram_read_pj: float = 0.0
    energy_sram_write_pj: float = 0.0
    energy_dram_read_pj: float = 0.0
    energy_dram_write_pj: float = 0.0

    @property
    def shape(self) -> tuple[int | None, int | None, int | None]:
        """The layer's GEMM shape (M, N, K) when it has one."""
        return self.dims.get("m"), self.dims.get("n"), self.dims.get("k")


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
    dram_bytes: int = 0   # bytes the instruction moves to or from DRAM


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
    #: What passes noted about the workload (a fusion plan and its search time, Block-Skim's
    #: kept tokens); travels with the trace, so a replay reports it too (wall-clock times
    #: excepted: those are measured by the run that lowered).
    notes: dict[str, Any] = field(default_factory=dict)
    #: The target's own results beyond the common ones, under the keys its registry entry
    #: declares (``simulator.targets.Target.extras``): sparse_tc's ``baselines``, the npu's
    #: ``npu`` kernels, zipper's ``stages``. Top-level keys of the JSON summary.
    extras: dict[str, Any] = field(default_factory=dict)
    #: the complete config the run used (every default filled in), as plain JSON
    config: dict[str, Any] = field(default_factory=dict)
    #: estimated silicon area by component (``mac``, ``sram``, ``vector``, ``total``), mm^2
    #: (simulator.hw.energy; docs/energy.md)
    area_mm2: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def time_us(self) -> float:
        return self.total_cycles / (self.clock_ghz * 1e3)

    def layer_records(self) -> list[dict[str, Any]]:
        """One flat record per layer, with the names of the JSON summary and layers.csv:
        ``name``, ``op``, ``M``, ``N``, ``K``, ``groups``, ``cycles``, ``start``, ``end``,
        ``macs``, ``utilization``, the byte counts, ``energy_pj`` and its split."""
        out = []
        for lr in self.layers:
            m, n, k = lr.shape
            out.append({"name": lr.name, "op": lr.op, "M": m, "N": n, "K": k,
                        "groups": lr.dims.get("groups", 1 if m is not None else None),
                        "cycles": lr.cycles, "start": lr.start, "end": lr.end, "macs": lr.macs,
                        "utilization": lr.utilization, **lr.bytes,
                        **{key: getattr(lr, key) for key in ENERGY_KEYS}})
        return out

    def to_dataframe(self):
        """The layers as a pandas DataFrame (one row per layer, :meth:`layer_records`' columns);
        pandas is an optional extra (``pip install 'archsim[pandas]'``)."""
        from simulator.errors import ArchsimError

        try:
            import pandas as pd
        except ImportError:
            raise ArchsimError("Result.to_dataframe needs pandas: pip install "
                               "'archsim[pandas]'") from None
        frame = pd.DataFrame(self.layer_records())
        frame.attrs.update(workload=self.workload, config=self.config_name, kind=self.kind,
                           total_cycles=self.total_cycles)
        return frame

    def summary(self) -> dict[str, Any]:
        """The JSON summary (``--json`` and summary.json): everything but the timeline, with
        the target's extras as top-level keys."""
        from simulator import __version__

        out = asdict(self)
        out.pop("timeline")
        extras = out.pop("extras")
        if not out["notes"]:
            out.pop("notes")
        out["time_us"] = self.time_us
        out["archsim_version"] = __version__
        out.update(extras)
        return out
