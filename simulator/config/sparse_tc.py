"""Config of the ``sparse_tc`` target: a dual-side sparse tensor core GPU (DSTC, ISCA 2021).

Defaults describe a V100-like part: 80 SMs at 1.53 GHz, four sub-cores per SM, each with two
8x8x1 outer-product tensor cores (an 8x16x1 outer product per cycle, 128 MACs, the throughput of
Volta's dense tensor cores), fp16 operands, 6 MiB of L2 and HBM2 at 900 GB/s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from simulator.config.base import (
    DramConfig,
    FieldsError,
    HardwareConfig,
    Strict,
    VectorCosts,
)


class OuterProductUnit(Strict):
    """One sub-core's outer product per cycle: ``m`` x ``n`` (two 8x8 OTCs side by side)."""

    m: int = Field(8, ge=1, le=64, description="Rows of one sub-core's outer product per cycle.")
    n: int = Field(16, ge=1, le=64,
        description="Columns of one sub-core's outer product per cycle.")


class WarpTile(Strict):
    """The warp tile a SpWMMA instruction computes: an ``m`` x ``n`` output block over ``k``
    outer-product steps. ``m`` and ``n`` are at most 32: one 32-bit bitmap word per column/row."""

    m: int = Field(32, ge=1, le=32,
        description="Output rows of a SpWMMA (at most 32: one bitmap word).")
    n: int = Field(32, ge=1, le=32, description="Output columns of a SpWMMA (at most 32).")
    k: int = Field(16, ge=1, le=256, description="Outer-product steps of a SpWMMA.")


class BlockTile(Strict):
    """The preferred thread-block tile (multiples of the warp tile); the lowering halves it
    while a layer has fewer thread blocks than SMs."""

    m: int = Field(128, ge=1,
        description="Preferred thread-block tile rows (a multiple of warp_tile.m).")
    n: int = Field(256, ge=1,
        description="Preferred thread-block tile columns (a multiple of warp_tile.n).")


class Accumulator(Strict):
    """The per-warp accumulation buffer the scattered partial products are added into.

    It is banked by output column (``banks``; column c lives in bank c mod banks) and each bank
    has ``lanes`` row lanes (row r in lane r mod lanes), each lane one accumulation per cycle.
    A k-step's products then need max over lanes (A rows per lane) x max over banks (B columns
    per bank) cycles: the bank-conflict bound the outer-product issue rate is checked against.
    """

    banks: int = Field(32, ge=1, le=32,
        description="Accumulator banks (output column c lives in bank c mod banks).")
    lanes: int = Field(16, ge=1, le=32,
        description="Row lanes per bank (row r in lane r mod lanes).")


class CudaCores(Strict):
    """The SM's integer/fp32 lanes: they run the bitmap im2col (mask, shift, popcount, gather)
    of sparse convolutions, the run-time encoding of activations and the non-GEMM operators."""

    lanes: int = Field(64, ge=1,
        description="Integer/fp32 lanes per SM (bitmap im2col, encoding, non-GEMM ops).")
    im2col_ops: int = Field(6, ge=0,
        description="Integer operations per lowered A element of a sparse convolution.")
    encode_ops: int = Field(4, ge=0,
        description="Operations per activation element to bitmap-encode it at run time.")
    pipeline: int = Field(4, ge=0,
        description="Cycles before the first result of a vector instruction.")


class L2Config(Strict):
    """The shared L2: capacity (KiB), bandwidth to the SMs (bytes/cycle) and latency."""

    kb: float = Field(6144, gt=0, description="L2 capacity, KiB.")
    bandwidth: float = Field(1408.0, gt=0, description="L2 to SM bandwidth, bytes per cycle.")
    latency: int = Field(200, ge=0, description="L2 latency, cycles.")


class VectorCostTable(Strict):
    """Per-operator overrides of the catalogue's vector costs for the non-GEMM operators the
    CUDA-core lanes run (``archsim ops`` lists the defaults)."""

    costs: VectorCosts = Field(default_factory=dict,
        description=("Per-operator overrides of the catalogue's vector costs: a number "
                     "(operations per output element) or {per_output, per_input, "
                     "per_tap}."))


class SparseTCConfig(HardwareConfig):
    """``kind: sparse_tc``. Every field can be named by dotted path (``l2.bandwidth``)."""

    kind: Literal["sparse_tc"] = Field("sparse_tc", description="Always sparse_tc.")
    name: str = Field("sparse_tc", description="A name for reports and timelines.")
    clock_ghz: float = Field(1.53, gt=0, description="Clock frequency in GHz.")
    sms: int = Field(80, ge=1, le=1024, description="Streaming multiprocessors.")
    subcores: int = Field(4, ge=1, le=16,
        description="Sub-cores per SM, each with its outer-product tensor cores.")
    otc: OuterProductUnit = Field(OuterProductUnit(),
        description="One sub-core's outer product per cycle.")
    warp_tile: WarpTile = Field(WarpTile(), description="The tile a SpWMMA computes.")
    block_tile: BlockTile = Field(BlockTile(), description="The preferred thread-block tile.")
    k_chunk: int = Field(512, ge=1,
        description="K steps per simulated SPGEMM instruction (a multiple of warp_tile.k).")
    accumulator: Accumulator = Field(Accumulator(), description="The per-warp accumulation buffer.")
    spwmma_overhead: int = Field(2, ge=0,
        description="Cycles per issued SpWMMA (popcount, bitmap AND, offsets).")
    smem_bandwidth: float = Field(128.0, gt=0,
        description="Shared memory to registers, bytes per cycle per SM.")
    cuda: CudaCores = Field(CudaCores(), description="The SMs' CUDA-core lanes.")
    vector: VectorCostTable = Field(VectorCostTable(),
        description="Vector-cost overrides for the operators the CUDA cores run.")
    l2: L2Config = Field(L2Config(), description="The shared L2.")
    dram: DramConfig = Field(DramConfig(bandwidth=588.0, latency=400),
        description="Off-chip memory (HBM2-class by default).")
    word_bytes: int = Field(2, ge=1, le=8, description="Bytes per element (fp16: 2).")

    @model_validator(mode="after")
    def _tiles_fit(self) -> SparseTCConfig:
        wt, bt = self.warp_tile, self.block_tile
        if bt.m % wt.m or bt.n % wt.n:
            raise FieldsError(f"block_tile {bt.m}x{bt.n} must be a multiple of warp_tile "
                              f"{wt.m}x{wt.n}", "block_tile", "warp_tile")
        if self.k_chunk % wt.k:
            raise FieldsError(f"k_chunk {self.k_chunk} must be a multiple of warp_tile.k "
                              f"{wt.k}", "k_chunk", "warp_tile.k")
        return self

    @property
    def pe_count(self) -> int:
        return self.sms * self.subcores * self.otc.m * self.otc.n
