"""``kind: simd``: a SIMD vector machine as a third-party archsim target.

The whole plug-in is three things: a config model derived from archsim's shared base, a
lowering (:mod:`archsim_simd.lower`) and a timing model (:mod:`archsim_simd.timing`), joined
in one :class:`simulator.targets.Target` that the ``archsim.targets`` entry point names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.config.base import HardwareConfig, Strict, VectorCosts
from simulator.targets import Target, op_category


class OutputTile(Strict):
    """The output block the accumulator registers hold: ``m`` rows x ``n`` columns."""

    m: int = Field(8, ge=1)
    n: int = Field(64, ge=1)


class SimdConfig(HardwareConfig):
    """``kind: simd`` (``name``, ``clock_ghz``, ``dram``, ``word_bytes``, ``energy`` come from
    the shared base)."""

    kind: Literal["simd"] = "simd"
    name: str = "simd"
    lanes: int = Field(64, ge=1, le=4096)
    pipeline: int = Field(6, ge=0)
    tile: OutputTile = OutputTile()
    k_chunk: int = Field(256, ge=1)
    scratchpad_kb: float = Field(256, gt=0)
    costs: VectorCosts = Field(default_factory=dict)   # per-operator vector-cost overrides

    @property
    def pe_count(self) -> int:
        return self.lanes


def lower(graph, config: SimdConfig, workload: str | None = None):
    from archsim_simd.lower import lower_simd

    return lower_simd(graph, config, workload)


def simulate(trace, config: SimdConfig, timeline: bool = False, progress=None):
    from archsim_simd.timing import simulate_simd

    return simulate_simd(trace, config, timeline, progress)


def lowers(op_type: str, domain: str = "") -> bool:
    """GEMM-like ops as tiles of lane MACs, views for free, every other operator with a vector
    cost on the same lanes; GNN programs and import-time (control) operators are not run."""
    return op_category(op_type, domain) not in (None, "control", "gnn")


TARGET = Target(kind="simd", config_model=SimdConfig, lower=lower, simulate=simulate,
                lowers=lowers, description="SIMD vector machine (example third-party target)")
