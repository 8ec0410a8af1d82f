"""Explicit vs implicit im2col on one network: footprint, traffic and cycles, layer by layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from simulator import api
from simulator.result import Result
from workloads.graph import Graph, conv_needs_im2col
from workloads.loader import load_workload
from workloads.ops import element_bytes, gemm_shapes


@dataclass
class Im2colRow:
    """One layer under both lowerings. Footprints are the A operand's size in memory: the lowered
    matrix for explicit, the input feature map for implicit."""

    layer: str
    stride: int
    kernel: str
    input_bytes: int
    lowered_bytes: int
    explicit_dram_bytes: int
    implicit_dram_bytes: int
    explicit_cycles: int
    implicit_cycles: int

    @property
    def footprint_ratio(self) -> float:
        return self.lowered_bytes / self.input_bytes if self.input_bytes else 0.0

    @property
    def slowdown(self) -> float:
        """Explicit cycles over implicit cycles (>1: explicit is slower)."""
        return self.explicit_cycles / self.implicit_cycles if self.implicit_cycles else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "footprint_ratio": self.footprint_ratio,
                "slowdown": self.slowdown}


@dataclass
class Im2colStudy:
    workload: str
    config_name: str
    rows: list[Im2colRow]
    explicit: Result
    implicit: Result


def _dram(result: Result) -> dict[str, int]:
    return {lr.name: lr.bytes["dram_read"] + lr.bytes["dram_write"] for lr in result.layers}


def compare_im2col(config, workload: str | Graph,
                   input_shapes: dict[str, tuple[int, ...]] | None = None) -> Im2colStudy:
    """Simulate the workload twice (``--pass im2col=explicit`` and ``=implicit``) and pair the
    convolutions that need lowering. ``input_shapes`` pins an ONNX workload's dynamic dims."""
    graph = load_workload(workload, input_shapes) if isinstance(workload, str) else workload
    name = workload if isinstance(workload, str) else graph.name
    _, explicit = api.run(config, graph, passes=["im2col=explicit"])
    _, implicit = api.run(config, graph, passes=["im2col=implicit"])
    cycles_e = {lr.name: lr.cycles for lr in explicit.layers}
    cycles_i = {lr.name: lr.cycles for lr in implicit.layers}
    dram_e, dram_i = _dram(explicit), _dram(implicit)
    rows = []
    for op in graph.ops:
        if not conv_needs_im2col(op):
            continue
        shapes = gemm_shapes(graph, op, config.word_bytes)
        width = element_bytes(graph, op.inputs[0], config.word_bytes)
        kh, kw = op.attrs["kernel_shape"]
        rows.append(Im2colRow(
            layer=op.name, stride=int(op.attrs.get("strides", [1, 1])[0]), kernel=f"{kh}x{kw}",
            input_bytes=graph.tensor(op.inputs[0]).numel * width,
            lowered_bytes=sum(s.m * s.k for s in shapes) * width,
            explicit_dram_bytes=dram_e[op.name], implicit_dram_bytes=dram_i[op.name],
            explicit_cycles=cycles_e[op.name], implicit_cycles=cycles_i[op.name]))
    return Im2colStudy(name, config.name, rows, explicit, implicit)
