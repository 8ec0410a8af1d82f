"""Config of the ``zipper`` target: a GNN accelerator with one block per primitive (GEMM unit,
vector unit, gather/scatter unit), vertex and edge tile buffers, DRAM, and a run-time scheduler
that keeps ``scheduler.tiles_in_flight`` graph tiles in flight."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.config.base import DramConfig, HardwareConfig, Strict, VectorCosts


class GemmUnitConfig(Strict):
    """The systolic GEMM unit (output stationary): ``rows`` x ``cols`` MACs."""

    rows: int = Field(32, ge=1, le=4096, description="Rows of the output-stationary GEMM unit.")
    cols: int = Field(32, ge=1, le=4096, description="Columns of the GEMM unit.")


class LanesConfig(Strict):
    """A streaming unit: ``lanes`` elements per cycle after a ``pipeline``-cycle fill."""

    lanes: int = Field(32, ge=1, description="Elements per cycle.")
    pipeline: int = Field(4, ge=0, description="Cycles before the first result.")


class ZipperVector(LanesConfig):
    """The vector unit, with per-operator overrides of the catalogue's costs of the GNN
    operators it runs (operations per output element)."""

    costs: VectorCosts = Field(default_factory=dict,
        description=("Per-operator overrides of the GNN operators' vector costs "
                     "(operations per output element)."))


class BufferConfig(Strict):
    """On-chip buffers in KiB: vertex rows (sources and destination accumulators), edge tensors
    of the tiles in flight, and weights."""

    vertex_kb: float = Field(1024, gt=0,
        description="Vertex buffer (sources and destination accumulators), KiB.")
    edge_kb: float = Field(512, gt=0, description="Edge buffer of the tiles in flight, KiB.")
    weight_kb: float = Field(512, gt=0, description="Weight buffer, KiB.")


class ZipperDram(DramConfig):
    """DRAM plus the burst size: a random row fetch moves whole bursts."""

    burst_bytes: int = Field(64, ge=1,
        description="DRAM burst: a random row fetch moves whole bursts.")


class SchedulerConfig(Strict):
    """``zipper``: S tiles in flight, ready instructions of any of them go to idle units.
    ``op_by_op``: one operator over all tiles at a time, intermediates through DRAM, no
    overlap (the baseline)."""

    tiles_in_flight: int = Field(4, ge=1, le=1024,
        description="Graph tiles the run-time scheduler keeps in flight (S).")
    policy: Literal["zipper", "op_by_op"] = Field("zipper",
        description="zipper (tiles overlap on the units) or op_by_op (the baseline).")


class TilingConfig(Strict):
    """Graph tile sizes; 0 = derived from the buffers and ``tiles_in_flight``. ``vertex_rows``:
    rows per tile of a vertex segment that no edge segment precedes (e.g. GCN's X*W), so loads
    of the next tile overlap the GEMM of this one."""

    dst: int = Field(0, ge=0, description="Destination vertices per tile (0: from the buffers).")
    src: int = Field(0, ge=0, description="Source vertices per tile (0: from the buffers).")
    max_edges: int = Field(0, ge=0, description="Edges per tile at most (0: from the edge buffer).")
    vertex_rows: int = Field(0, ge=0,
        description="Rows per tile of a vertex phase no edge phase precedes (0: from the buffers).")


class CompilerConfig(Strict):
    redundancy_elimination: bool = Field(True,
        description="Run the GNN redundancy-elimination pass before lowering.")


class ZipperConfig(HardwareConfig):
    """``kind: zipper``."""

    kind: Literal["zipper"] = Field("zipper", description="Always zipper.")
    name: str = Field("zipper", description="A name for reports and timelines.")
    gemm: GemmUnitConfig = Field(GemmUnitConfig(), description="The GEMM unit.")
    vector: ZipperVector = Field(ZipperVector(lanes=64, pipeline=4), description="The vector unit.")
    gather: LanesConfig = Field(LanesConfig(lanes=32, pipeline=8),
        description="The gather/scatter unit.")
    buffers: BufferConfig = Field(BufferConfig(), description="On-chip buffers.")
    dram: ZipperDram = Field(ZipperDram(bandwidth=128.0, latency=100),
        description="Off-chip memory with its burst size.")
    scheduler: SchedulerConfig = Field(SchedulerConfig(),
        description="The run-time tile scheduler.")
    tiling: TilingConfig = Field(TilingConfig(), description="Graph tile sizes.")
    compiler: CompilerConfig = Field(CompilerConfig(),
        description="Passes the target runs before lowering.")
    word_bytes: int = Field(4, ge=1, le=8, description="Bytes per feature element (fp32: 4).")

    @property
    def pe_count(self) -> int:
        return self.gemm.rows * self.gemm.cols
