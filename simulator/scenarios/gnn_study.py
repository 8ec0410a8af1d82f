"""GNN characterization (``archsim gnn-report``): per model and graph, where the time goes on the
zipper target (scatter / apply-edge / gather / apply-vertex), bytes moved, unit utilization,
and the two baselines: op-by-op on the same hardware and the systolic target.

The stage split is the busy time of each stage's instructions summed over all units (DRAM
transfers included, charged to the op that reads or writes the data): with operator overlap the
stages run at the same time, so the split says what the hardware spends its time on, not which
stage a given cycle belongs to. The systolic baseline is matched to the zipper config: the same
array size (output stationary), DRAM bandwidth and latency, vector lanes and word size, and its
SRAMs sized like the zipper buffers.

The CPU columns are *measured*, not simulated: the same program (redundancy eliminated when
zipper's is) run op by op on this machine with scipy.sparse and numpy
(:mod:`simulator.scenarios.gnn_cpu`), wall time per stage; next to them the simulated zipper and
systolic times at the configs' clocks. Measurements vary with the machine and its load; they are
taken by this study command (and ``bench/bench_gnn.py``), never in unit tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from simulator import api
from simulator.api import config_from_dict
from simulator.config.zipper import ZipperConfig
from workloads.gnn.ir import STAGES


@dataclass
class GnnRow:
    model: str
    graph: str
    vertices: int
    edges: int
    zipper_cycles: int
    op_by_op_cycles: int
    systolic_cycles: int
    stage_cycles: dict[str, int]
    dram_bytes: int
    utilization: dict[str, float]
    ops_saved: dict[str, int] = field(default_factory=dict)
    instructions: int = 0
    clock_ghz: float = 1.0
    cpu_stage_s: dict[str, float] = field(default_factory=dict)   # measured, per stage

    @property
    def zipper_us(self) -> float:
        return self.zipper_cycles / (self.clock_ghz * 1e3)

    @property
    def systolic_us(self) -> float:
        return self.systolic_cycles / (self.clock_ghz * 1e3)

    @property
    def cpu_us(self) -> float:
        return 1e6 * sum(self.cpu_stage_s.values())

    @property
    def cpu_share(self) -> dict[str, float]:
        total = sum(self.cpu_stage_s.values()) or 1.0
        return {s: self.cpu_stage_s.get(s, 0.0) / total for s in STAGES}

    @property
    def stage_share(self) -> dict[str, float]:
        total = sum(self.stage_cycles.values()) or 1
        return {s: self.stage_cycles[s] / total for s in STAGES}

    @property
    def dominant(self) -> str:
        return max(STAGES, key=lambda s: self.stage_cycles[s])

    def to_json(self) -> dict:
        out = asdict(self)
        out["stage_share"] = self.stage_share
        out["dominant_stage"] = self.dominant
        out.update(zipper_us=self.zipper_us, systolic_us=self.systolic_us)
        if self.cpu_stage_s:
            out.update(cpu_us=self.cpu_us, cpu_share=self.cpu_share,
                       cpu_dominant_stage=max(STAGES, key=lambda s: self.cpu_stage_s[s]))
        return out


def matched_systolic(cfg: ZipperConfig):
    """A systolic config with the zipper's array, DRAM, vector unit and word size."""
    return config_from_dict({
        "kind": "systolic", "name": f"systolic-like-{cfg.name}", "clock_ghz": cfg.clock_ghz,
        "array": {"rows": cfg.gemm.rows, "cols": cfg.gemm.cols, "dataflow": "os"},
        "sram": {"ifmap_kb": cfg.buffers.vertex_kb, "filter_kb": cfg.buffers.weight_kb,
                 "ofmap_kb": cfg.buffers.edge_kb},
        "dram": {"bandwidth": cfg.dram.bandwidth, "latency": cfg.dram.latency},
        "vector": {"lanes": cfg.vector.lanes, "pipeline": cfg.vector.pipeline},
        "word_bytes": cfg.word_bytes, "energy": cfg.energy.model_dump()})


def characterize(cfg: ZipperConfig, model: str, graph_name: str, options: str = "",
                 cpu_repeats: int = 0) -> GnnRow:
    """Run one model on one graph on zipper, op-by-op and the matched systolic target, and
    (``cpu_repeats`` > 0) measure it on this CPU."""
    sep = "&" if "?" in graph_name else "?"
    spec = f"gnn:{model}:{graph_name}" + (f"{sep}{options}" if options else "")
    graph = api.load(spec)
    trace, result = api.run(cfg, graph)
    serial = cfg.model_copy(deep=True)
    serial.scheduler.policy = "op_by_op"
    op_by_op = api.run(serial, graph)[1]
    # the systolic baseline runs the same program (redundancy eliminated when zipper's is)
    same = ["gnn_redundancy"] if cfg.compiler.redundancy_elimination else []
    sys_result = api.run(matched_systolic(cfg), graph, passes=same)[1]
    adj = graph.tensor("adj")
    return GnnRow(model=model, graph=graph_name, vertices=graph.tensor("x").shape[0],
                  edges=adj.shape[1], zipper_cycles=result.total_cycles,
                  op_by_op_cycles=op_by_op.total_cycles,
                  systolic_cycles=sys_result.total_cycles,
                  stage_cycles=result.stages,
                  dram_bytes=result.bytes["dram_read"] + result.bytes["dram_write"],
                  utilization={u.name: u.utilization for u in result.units},
                  ops_saved=result.notes.get("gnn_redundancy", {}).get("saved", {}),
                  instructions=len(trace.instructions), clock_ghz=cfg.clock_ghz,
                  cpu_stage_s=_measure_cpu(graph, same, cpu_repeats) if cpu_repeats else {})


def _measure_cpu(graph, passes: list[str], repeats: int) -> dict[str, float]:
    from simulator.passes import apply_passes
    from simulator.scenarios.gnn_cpu import run_cpu

    program = apply_passes(graph, passes) if passes else graph
    return run_cpu(program, repeats).stage_s


def gnn_report(cfg: ZipperConfig, models: list[str], graphs: list[str], options: str = "",
               cpu_repeats: int = 0) -> list[GnnRow]:
    return [characterize(cfg, m, g, options, cpu_repeats) for g in graphs for m in models]
