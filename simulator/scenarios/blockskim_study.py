"""Block-Skim on a target: simulated cycles per encoder layer with and without skimming, next
to the MAC (FLOP) ratio the pass predicts.

The FLOP ratio counts multiply-accumulates only; cycles also pay for what does not shrink with
the sequence (weight loads: every layer still streams its full 7M weights from DRAM), for the
parts that shrink quadratically (attention MatMuls, Softmax) and for array under-utilization of
short GEMMs (a 96-row operand on a 256-row array wastes folds), so the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator import api
from simulator.passes import apply_passes
from simulator.passes.blockskim import encoder_layers, layer_of_ops
from workloads.loader import load_workload


@dataclass
class LayerRow:
    layer: int          # -1: ops before the first encoder layer
    tokens: int
    macs_base: int
    macs_skim: int
    cycles_base: int
    cycles_skim: int

    @property
    def flop_speedup(self) -> float:
        return self.macs_base / max(1, self.macs_skim)

    @property
    def cycle_speedup(self) -> float:
        return self.cycles_base / max(1, self.cycles_skim)


@dataclass
class StudyResult:
    config: str
    kind: str
    workload: str
    option: str
    rows: list[LayerRow]
    flop_speedup: float         # the pass's prediction, predictor MACs included
    cycles_base: int
    cycles_skim: int

    @property
    def cycle_speedup(self) -> float:
        return self.cycles_base / max(1, self.cycles_skim)

    def to_json(self) -> dict:
        return {"config": self.config, "kind": self.kind, "workload": self.workload,
                "pass": f"blockskim:{self.option}", "flop_speedup": self.flop_speedup,
                "cycle_speedup": self.cycle_speedup, "cycles_base": self.cycles_base,
                "cycles_skim": self.cycles_skim,
                "layers": [{**row.__dict__, "flop_speedup": row.flop_speedup,
                            "cycle_speedup": row.cycle_speedup} for row in self.rows]}


def _cycles_by_layer(graph, result, n: int) -> list[int]:
    layer_of = layer_of_ops(graph, encoder_layers(graph))
    out = [0] * (n + 1)                      # index 0: before layer 0
    for row in result.layers:
        out[layer_of.get(row.name, -1) + 1] += row.cycles
    return out


def blockskim_study(config, workload: str, option: str) -> StudyResult:
    """Simulate ``workload`` plain and with ``--pass blockskim:<option>`` on ``config``."""
    base = load_workload(workload)
    skim = apply_passes(base, [f"blockskim:{option}"])
    meta = skim.meta["blockskim"]
    results = [api.simulate(api.lower(config, g), config) for g in (base, skim)]
    n = len(meta["tokens"])
    cb, cs = (_cycles_by_layer(g, r, n) for g, r in zip((base, skim), results, strict=True))
    rows = [LayerRow(-1, meta["length"], 0, 0, cb[0], cs[0])] if cb[0] or cs[0] else []
    rows += [LayerRow(i, meta["tokens"][i], meta["macs_before"][i], meta["macs_after"][i],
                      cb[i + 1], cs[i + 1]) for i in range(n)]
    return StudyResult(getattr(config, "name", ""), config.kind, workload, option, rows,
                       meta["flop_speedup"], results[0].total_cycles, results[1].total_cycles)
