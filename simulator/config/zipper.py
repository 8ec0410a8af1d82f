"""Config of the ``zipper`` target: a GNN accelerator with one block per primitive (GEMM unit,
vector unit, gather/scatter unit), vertex and edge tile buffers, DRAM, and a run-time scheduler
that keeps ``scheduler.tiles_in_flight`` graph tiles in flight."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.config.base import DramConfig, HardwareConfig, Strict, VectorCosts


class GemmUnitConfig(Strict):
    """The systolic GEMM unit (output stationary): ``rows`` x ``cols`` MACs."""

    rows: int = Field(32, ge=1, le=4096)
    cols: int = Field(32, ge=1, le=4096)


class LanesConfig(Strict):
    """A streaming unit: ``lanes`` elements per cycle after a ``pipeline``-cycle fill."""

    lanes: int = Field(32, ge=1)
    pipeline: int = Field(4, ge=0)


class ZipperVector(LanesConfig):
    """The vector unit, with per-operator overrides of the catalogue's costs of the GNN
    operators it runs (operations per output element)."""

    costs: VectorCosts = Field(default_factory=dict)


class BufferConfig(Strict):
    """On-chip buffers in KiB: vertex rows (sources and destination accumulators), edge tensors
    of the tiles in flight, and weights."""

    vertex_kb: float = Field(1024, gt=0)
    edge_kb: float = Field(512, gt=0)
    weight_kb: float = Field(512, gt=0)


class ZipperDram(DramConfig):
    """DRAM plus the burst size: a random row fetch moves whole bursts."""

    burst_bytes: int = Field(64, ge=1)


class SchedulerConfig(Strict):
    """``zipper``: S tiles in flight, ready instructions of any of them go to idle units.
    ``op_by_op``: one operator over all tiles at a time, intermediates through DRAM, no
    overlap (the baseline)."""

    tiles_in_flight: int = Field(4, ge=1, le=1024)
    policy: Literal["zipper", "op_by_op"] = "zipper"


class TilingConfig(Strict):
    """Graph tile sizes; 0 = derived from the buffers and ``tiles_in_flight``. ``vertex_rows``:
    rows per tile of a vertex segment that no edge segment precedes (e.g. GCN's X*W), so loads
    of the next tile overlap the GEMM of this one."""

    dst: int = Field(0, ge=0)
    src: int = Field(0, ge=0)
    max_edges: int = Field(0, ge=0)
    vertex_rows: int = Field(0, ge=0)


class CompilerConfig(Strict):
    redundancy_elimination: bool = True


class ZipperConfig(HardwareConfig):
    """``kind: zipper``."""

    kind: Literal["zipper"] = "zipper"
    name: str = "zipper"
    gemm: GemmUnitConfig = GemmUnitConfig()
    vector: ZipperVector = ZipperVector(lanes=64, pipeline=4)
    gather: LanesConfig = LanesConfig(lanes=32, pipeline=8)
    buffers: BufferConfig = BufferConfig()
    dram: ZipperDram = ZipperDram(bandwidth=128.0, latency=100)
    scheduler: SchedulerConfig = SchedulerConfig()
    tiling: TilingConfig = TilingConfig()
    compiler: CompilerConfig = CompilerConfig()
    word_bytes: int = Field(4, ge=1, le=8)

    @property
    def pe_count(self) -> int:
        return self.gemm.rows * self.gemm.cols
