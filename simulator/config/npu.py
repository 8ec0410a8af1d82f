"""Config of the ``npu`` target: a Cambricon-MLU-like multi-core NPU.

Each core has a systolic matrix unit (the ``systolic`` target's array, so a one-core NPU times a
layer exactly as the systolic target does), double-buffered operand buffers, a vector unit and a
scratchpad that keeps a fused group's intermediate feature maps on chip. All cores share one DRAM
channel; an on-chip network (ring or mesh) moves feature maps between cores inside a fused group.
A kernel (one layer, or one fused group) pays a launch overhead; cores meeting at a barrier pay a
synchronisation cost that grows with their number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from simulator.config.base import FieldsError, HardwareConfig, Strict
from simulator.config.systolic import ArrayConfig, SramConfig, VectorConfig


class NpuCoreConfig(Strict):
    """One core: matrix unit, operand buffers (KiB each, double-buffered), vector unit, and the
    scratchpad (KiB) that holds feature maps a fused group keeps on chip; ``scratchpad_bandwidth``
    is bytes/cycle between the scratchpad and the operand buffers."""

    array: ArrayConfig = Field(ArrayConfig(rows=32, cols=32, dataflow="ws"),
        description="The core's systolic matrix unit.")
    sram: SramConfig = Field(SramConfig(ifmap_kb=128, filter_kb=256, ofmap_kb=128),
        description="The core's operand buffers (KiB, double-buffered).")
    vector: VectorConfig = Field(VectorConfig(), description="The core's vector unit.")
    scratchpad_kb: float = Field(512, ge=0,
        description="KiB per core that hold a fused group's intermediate feature maps.")
    scratchpad_bandwidth: float = Field(256, gt=0,
        description="Bytes per cycle between the scratchpad and the operand buffers.")
    #: Physical folds per side one GEMM instruction covers: the lowering tiles for a virtual
    #: (rows*g) x (cols*g) array and each instruction runs up to g*g real folds back to back,
    #: each paying the systolic fold rule. 1 gives the ``systolic`` target's per-fold stream.
    fold_group: int = Field(4, ge=1, le=64,
        description="Physical array folds per side one GEMM instruction covers.")


class NocConfig(Strict):
    """The on-chip network: each core's inbound port moves ``link_bandwidth`` bytes/cycle; a
    message pays ``hop_latency`` cycles per hop of the ring or 2-D mesh."""

    topology: Literal["ring", "mesh"] = Field("ring", description="ring or mesh.")
    link_bandwidth: float = Field(64, gt=0,
        description="Bytes per cycle into each core's network port.")
    hop_latency: int = Field(2, ge=0, description="Cycles per hop of a message.")


class NpuConfig(HardwareConfig):
    """``kind: npu``. ``default_cores`` is the core count of the untuned layer-by-layer compile
    (``--pass fusion=none``, or no pass at all)."""

    kind: Literal["npu"] = Field("npu", description="Always npu.")
    name: str = Field("npu", description="A name for reports and timelines.")
    cores: int = Field(16, ge=1, le=32, description="Cores on the chip (1-32).")
    default_cores: int = Field(1, ge=1, le=32,
        description="Cores of the untuned layer-by-layer compile.")
    core: NpuCoreConfig = Field(NpuCoreConfig(), description="One core's units and buffers.")
    noc: NocConfig = Field(NocConfig(), description="The on-chip network.")
    launch_cycles: int = Field(2000, ge=0, description="Cycles of a kernel launch.")
    sync_cycles_per_core: int = Field(8, ge=0,
        description="Barrier cost per participating core (plus the network diameter in hops).")
    memory_gb: float | None = Field(None, gt=0,
        description=("Off-chip memory capacity, GB (10^9 bytes): holds an LLM's weights and KV "
                     "cache in archsim serve's LLM study. None: not modelled."))

    @property
    def pe_count(self) -> int:
        return self.cores * self.core.array.rows * self.core.array.cols

    @model_validator(mode="after")
    def _default_within_cores(self) -> NpuConfig:
        if self.default_cores > self.cores:
            raise FieldsError(f"default_cores ({self.default_cores}) exceeds cores "
                              f"({self.cores})", "default_cores", "cores")
        return self

    def core_options(self) -> list[int]:
        """Core counts a kernel may use: powers of two up to ``cores``, and ``cores`` itself."""
        opts = [1 << i for i in range(6) if 1 << i <= self.cores]
        return sorted(set(opts) | {self.cores})


def mesh_shape(cores: int) -> tuple[int, int]:
    """The most nearly square rows x cols grid holding exactly ``cores`` cores."""
    rows = max(r for r in range(1, math.isqrt(cores) + 1) if cores % r == 0)
    return rows, cores // rows


def mean_hops(topology: str, cores: int) -> int:
    """Average hop count between two distinct cores of a ``cores``-core ring or mesh (rounded
    up): what one message of an all-to-all exchange travels."""
    if cores <= 1:
        return 0
    if topology == "ring":  # bidirectional: distances 1..c/2 around the ring
        total = sum(min(d, cores - d) for d in range(1, cores))
    else:
        r, c = mesh_shape(cores)
        total = sum(abs(a // c - b // c) + abs(a % c - b % c)
                    for a in range(cores) for b in range(cores)) // cores
        return -(-total // (cores - 1))
    return -(-total // (cores - 1))


def diameter(topology: str, cores: int) -> int:
    """Longest shortest path in hops: what a barrier's release travels."""
    if cores <= 1:
        return 0
    if topology == "ring":
        return cores // 2
    r, c = mesh_shape(cores)
    return (r - 1) + (c - 1)


@dataclass(frozen=True)
class KernelSpec:
    """A kernel of an npu program: consecutive op names (in graph order) compiled for
    ``cores`` cores. Plans made of these are what the fusion tuner chooses and the npu
    lowering compiles."""

    ops: tuple[str, ...]
    cores: int
