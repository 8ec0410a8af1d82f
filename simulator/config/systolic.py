"""Config of the ``systolic`` target: a TPU-like GEMM array with double-buffered operand SRAMs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.config.base import HardwareConfig, Strict, VectorCosts

#: What each dataflow maps onto the array's rows, onto its columns, and streams in time, for a
#: GEMM C[M x N] = A[M x K] x B[K x N] (SCALE-Sim's mapping): the lowering tiles by it and the
#: fold rule (simulator.hw.fold) times by it.
SPATIAL = {"os": ("m", "n", "k"), "ws": ("k", "n", "m"), "is": ("k", "m", "n")}


def spatial(dataflow: str, m: int, n: int, k: int) -> tuple[int, int, int]:
    """(Sr, Sc, T): the GEMM extents on the rows, on the columns and in time."""
    dims = {"m": m, "n": n, "k": k}
    sr, sc, t = (dims[d] for d in SPATIAL[dataflow])
    return sr, sc, t


class ArrayConfig(Strict):
    """The PE array: ``rows`` x ``cols`` and the dataflow (output/weight/input stationary)."""

    rows: int = Field(ge=1, le=65536)
    cols: int = Field(ge=1, le=65536)
    dataflow: Literal["os", "ws", "is"] = "ws"


class SramConfig(Strict):
    """Per-operand SRAM sizes in KiB; each is split into two halves (double buffering)."""

    ifmap_kb: float = Field(512, gt=0)
    filter_kb: float = Field(512, gt=0)
    ofmap_kb: float = Field(256, gt=0)


class VectorConfig(Strict):
    """The vector/post-processing unit that runs non-GEMM ops (activations, pooling, norms):
    ``lanes`` element operations per cycle after a ``pipeline``-cycle fill."""

    lanes: int = Field(128, ge=1)
    pipeline: int = Field(4, ge=0)
    #: per-operator overrides of the catalogue's vector costs (``archsim ops`` lists them)
    costs: VectorCosts = Field(default_factory=dict)


class ScaleSimOptions(Strict):
    """What a SCALE-Sim ``.cfg`` says beyond the common schema; used by ``archsim scalesim``.

    ``bandwidth_mode`` is SCALE-Sim's ``InterfaceBandwidth`` (CALC estimates the bandwidth and never
    stalls reads; USER limits it). In USER mode SCALE-Sim reads IFMAP/FILTER from DRAM at the
    ``[layout]`` bank bandwidths and drains OFMAP at ``Bandwidth``.
    """

    run_name: str = "scale_run"
    bandwidth_mode: Literal["calc", "user"] = "calc"
    ifmap_offset: int = 0
    filter_offset: int = 10_000_000
    ofmap_offset: int = 20_000_000
    ifmap_dram_bandwidth: int = Field(10, ge=1)
    filter_dram_bandwidth: int = Field(10, ge=1)
    ofmap_dram_bandwidth: int = Field(10, ge=1)
    read_request_buffer: int = Field(32, ge=1)
    write_request_buffer: int = Field(32, ge=1)


class SystolicConfig(HardwareConfig):
    """``kind: systolic``. Every field can be named by dotted path (``array.rows``) in sweeps."""

    kind: Literal["systolic"] = "systolic"
    name: str = "systolic"
    array: ArrayConfig
    sram: SramConfig = SramConfig()
    vector: VectorConfig = VectorConfig()
    #: Weight bits one PE multiplies per cycle (default: ``word_bytes`` x 8). With
    #: ``precision_scalable`` a PE splits its multiplier Bit Fusion-style and runs
    #: floor(datapath_bits / b) MACs per cycle on b-bit weights (at least 1), so quantized
    #: weights (``--pass squant:bits=4``) raise the MAC rate; without it the rate is fixed.
    datapath_bits: int | None = Field(None, ge=1, le=64)
    precision_scalable: bool = True
    scalesim: ScaleSimOptions | None = None

    @property
    def pe_count(self) -> int:
        return self.array.rows * self.array.cols

    def macs_per_pe(self, weight_bits: int | None) -> int:
        """MACs a PE runs per cycle on weights of ``weight_bits`` (None: ``word_bytes`` x 8)."""
        if not self.precision_scalable:
            return 1
        word = self.word_bytes * 8
        return max(1, (self.datapath_bits or word) // (weight_bits or word))
