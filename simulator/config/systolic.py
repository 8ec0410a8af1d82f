"""Config of the ``systolic`` target: a TPU-like GEMM array with double-buffered operand SRAMs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.config.base import HardwareConfig, Strict, VectorCosts
from simulator.config.methods import SPATIAL, SystolicMethods, spatial

__all__ = ["SPATIAL", "ArrayConfig", "ScaleSimOptions", "SramConfig", "SystolicConfig",
           "VectorConfig", "spatial"]


class ArrayConfig(Strict):
    """The PE array: ``rows`` x ``cols`` and the dataflow (output/weight/input stationary)."""

    rows: int = Field(ge=1, le=65536, description="PE rows of the systolic array.")
    cols: int = Field(ge=1, le=65536, description="PE columns of the systolic array.")
    dataflow: Literal["os", "ws", "is"] = Field("ws",
        description="os (output stationary), ws (weight stationary) or is (input stationary).")


class SramConfig(Strict):
    """Per-operand SRAM sizes in KiB; each is split into two halves (double buffering)."""

    ifmap_kb: float = Field(512, gt=0,
        description="Input (activation) SRAM, KiB; double-buffered (half per tile).")
    filter_kb: float = Field(512, gt=0, description="Weight SRAM, KiB; double-buffered.")
    ofmap_kb: float = Field(256, gt=0,
        description="Output / partial-sum SRAM, KiB; double-buffered.")


class VectorConfig(Strict):
    """The vector/post-processing unit that runs non-GEMM ops (activations, pooling, norms):
    ``lanes`` element operations per cycle after a ``pipeline``-cycle fill."""

    lanes: int = Field(128, ge=1, description="Element operations per cycle of the vector unit.")
    pipeline: int = Field(4, ge=0,
        description="Cycles before the first result of a vector instruction.")
    #: per-operator overrides of the catalogue's vector costs (``archsim ops`` lists them)
    costs: VectorCosts = Field(default_factory=dict,
        description=("Per-operator overrides of the catalogue's vector costs: a number "
                     "(operations per output element) or {per_output, per_input, "
                     "per_tap}."))


class ScaleSimOptions(Strict):
    """What a SCALE-Sim ``.cfg`` says beyond the common schema; used by ``archsim scalesim``.

    ``bandwidth_mode`` is SCALE-Sim's ``InterfaceBandwidth`` (CALC estimates the bandwidth and never
    stalls reads; USER limits it). In USER mode SCALE-Sim reads IFMAP/FILTER from DRAM at the
    ``[layout]`` bank bandwidths and drains OFMAP at ``Bandwidth``.
    """

    run_name: str = Field("scale_run", description="SCALE-Sim's run name (report folder).")
    bandwidth_mode: Literal["calc", "user"] = Field("calc",
        description=("SCALE-Sim's InterfaceBandwidth: calc (estimated, reads never stall) or user "
                    "(limited)."))
    ifmap_offset: int = Field(0, description="SCALE-Sim's IFMAP address offset.")
    filter_offset: int = Field(10_000_000, description="SCALE-Sim's filter address offset.")
    ofmap_offset: int = Field(20_000_000, description="SCALE-Sim's OFMAP address offset.")
    ifmap_dram_bandwidth: int = Field(10, ge=1,
        description="USER mode: IFMAP DRAM read bandwidth, words per cycle.")
    filter_dram_bandwidth: int = Field(10, ge=1,
        description="USER mode: filter DRAM read bandwidth, words per cycle.")
    ofmap_dram_bandwidth: int = Field(10, ge=1,
        description="USER mode: OFMAP drain bandwidth, words per cycle.")
    read_request_buffer: int = Field(32, ge=1,
        description="SCALE-Sim's read request buffer entries.")
    write_request_buffer: int = Field(32, ge=1,
        description="SCALE-Sim's write request buffer entries.")


class SystolicConfig(SystolicMethods, HardwareConfig):
    """``kind: systolic``. Every field can be named by dotted path (``array.rows``) in sweeps."""

    kind: Literal["systolic"] = Field("systolic", description="Always systolic.")
    name: str = Field("systolic", description="A name for reports and timelines.")
    array: ArrayConfig = Field(description="The PE array: rows, cols, dataflow.")
    sram: SramConfig = Field(SramConfig(), description="Operand SRAM sizes.")
    vector: VectorConfig = Field(VectorConfig(),
        description="The vector unit for non-GEMM operators.")
    #: Weight bits one PE multiplies per cycle (default: ``word_bytes`` x 8). With
    #: ``precision_scalable`` a PE splits its multiplier Bit Fusion-style and runs
    #: floor(datapath_bits / b) MACs per cycle on b-bit weights (at least 1), so quantized
    #: weights (``--pass squant:bits=4``) raise the MAC rate; without it the rate is fixed.
    datapath_bits: int | None = Field(None, ge=1, le=64,
        description="Weight bits a PE multiplies per cycle (default word_bytes x 8).")
    precision_scalable: bool = Field(True,
        description="Narrower weights run more MACs per PE and cycle (Bit Fusion-style).")
    scalesim: ScaleSimOptions | None = Field(None,
        description="What a SCALE-Sim .cfg adds (archsim scalesim only).")
    memory_gb: float | None = Field(None, gt=0,
        description=("Off-chip memory capacity, GB (10^9 bytes): holds an LLM's weights and KV "
                     "cache in archsim serve's LLM study. None: not modelled."))
