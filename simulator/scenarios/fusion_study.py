"""The DLFusion study: baseline vs heuristic vs oracle kernels on the npu target, per network.

For each network: the untuned layer-by-layer plan on the config's ``default_cores``, the
rule-based (heuristic) plan and the exact (oracle) plan, each lowered and simulated end to end;
their cycles, speedups over the baseline, and the search time each tuner spent.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from simulator import api
from simulator.config.npu import KernelSpec, NpuConfig
from simulator.errors import ConfigError
from simulator.passes.fusion_heuristic import heuristic, profile
from simulator.passes.fusion_search import DEFAULT_MAX_GROUP, oracle
from workloads.graph import Graph

#: The report's networks: display name -> workload (``light:NAME`` = the onnx wheel's model).
NETWORKS = {
    "AlexNet": "light:light_bvlc_alexnet",
    "VGG-19": "light:light_vgg19",
    "ResNet-50": "light:light_resnet50",
    "GoogLeNet": "light:light_inception_v1",
    "MobileNet-v2": "zoo:mobilenet_v2",
    "SqueezeNet": "light:light_squeezenet",
}
#: Networks outside the report's table, to judge the rule on models it was never tuned on.
HELD_OUT = {
    "DenseNet-121": "light:light_densenet121",
    "Inception-v2": "light:light_inception_v2",
    "ShuffleNet": "light:light_shufflenet",
    "ZFNet-512": "light:light_zfnet512",
}


def light_model_path(name: str) -> str:
    """Path of a model in the onnx wheel's ``backend/test/data/light`` folder."""
    import onnx

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"{name}.onnx")
    return path


def load_network(workload: str, input_shapes: dict | None = None,
                 input_values: dict | None = None) -> Graph:
    """A workload name as ``archsim run`` takes it (an ONNX file with ``input_shapes`` /
    ``input_values`` pinning its inputs), or ``light:NAME`` for the onnx wheel's."""
    if workload.startswith("light:"):
        workload = light_model_path(workload.removeprefix("light:"))
    return api.load(workload, input_shapes, input_values)


@dataclass
class StudyRow:
    """One network under the three plans."""

    network: str
    workload: str
    baseline_cycles: int
    heuristic_cycles: int
    oracle_cycles: int
    heuristic_search_s: float
    oracle_search_s: float
    oracle_simulations: int
    baseline_kernels: int
    heuristic_kernels: int
    oracle_kernels: int
    heuristic_groups: list[dict]
    oracle_groups: list[dict]

    @property
    def heuristic_speedup(self) -> float:
        return self.baseline_cycles / self.heuristic_cycles

    @property
    def oracle_speedup(self) -> float:
        return self.baseline_cycles / self.oracle_cycles

    @property
    def heuristic_gap(self) -> float:
        """How much slower the heuristic's plan is than the oracle's (0.02 = 2 %)."""
        return self.heuristic_cycles / self.oracle_cycles - 1

    def to_json(self) -> dict:
        return {**asdict(self), "heuristic_speedup": self.heuristic_speedup,
                "oracle_speedup": self.oracle_speedup, "heuristic_gap": self.heuristic_gap}


def _groups(kernels: list[KernelSpec]) -> list[dict]:
    return [{"layers": list(k.ops), "cores": k.cores} for k in kernels]


def study_network(config: NpuConfig, name: str, workload: str,
                  max_group: int = DEFAULT_MAX_GROUP, input_shapes: dict | None = None,
                  input_values: dict | None = None) -> StudyRow:
    graph = load_network(workload, input_shapes, input_values)
    model = api.cost_model(config)
    base = model.layer_by_layer(graph, config.default_cores)
    rule, _, rule_s = heuristic(graph, model, max_group)
    best = oracle(graph, model, max_group)
    return StudyRow(
        network=name, workload=workload, baseline_cycles=model.plan_cycles(graph, base),
        heuristic_cycles=model.plan_cycles(graph, rule),
        oracle_cycles=model.plan_cycles(graph, best.kernels), heuristic_search_s=rule_s,
        oracle_search_s=best.stats.seconds, oracle_simulations=best.stats.simulations,
        baseline_kernels=len(base), heuristic_kernels=len(rule), oracle_kernels=len(best.kernels),
        heuristic_groups=_groups(rule), oracle_groups=_groups(best.kernels))


def fusion_study(config: NpuConfig, networks: dict[str, str] | None = None,
                 max_group: int = DEFAULT_MAX_GROUP, progress=None,
                 input_shapes: dict | None = None, input_values: dict | None = None
                 ) -> tuple[list[StudyRow], dict]:
    """Rows for ``networks`` (default: the six of the report) and the profiling facts."""
    if config.kind != "npu":
        raise ConfigError(f"the fusion study needs an npu config, got kind {config.kind!r}")
    start = time.perf_counter()
    table = profile(api.cost_model(config))
    facts = {"profile_s": table.profile_seconds, "profiled_layers": table.profiled_layers,
             "profile_simulations": table.simulations, "cost_model": table.to_json()}
    rows = []
    for name, workload in (networks or NETWORKS).items():
        rows.append(study_network(config, name, workload, max_group, input_shapes,
                                  input_values))
        if progress is not None:
            progress(rows[-1])
    facts["wall_s"] = time.perf_counter() - start
    return rows, facts


@dataclass
class HoldOutRow:
    """One network judged by a rule that never saw it."""

    network: str
    oracle_cycles: int
    synthesized_cycles: int       # rule learned on the synthesized kernels only
    lono_cycles: int              # rule learned on them plus every other network's units
    lono_samples: int             # (kernel, core count) samples of the other networks

    @property
    def synthesized_gap(self) -> float:
        return self.synthesized_cycles / self.oracle_cycles - 1

    @property
    def lono_gap(self) -> float:
        return self.lono_cycles / self.oracle_cycles - 1

    def to_json(self) -> dict:
        return {**asdict(self), "synthesized_gap": self.synthesized_gap,
                "lono_gap": self.lono_gap}


def unit_samples(graph: Graph, model) -> tuple[np.ndarray, np.ndarray]:
    """Every fusion unit of ``graph`` as a one-unit kernel at every core count, simulated:
    the learned cost's features and the cycles above the fixed cost (as the profile's)."""
    from simulator.passes.fusion_heuristic import KernelFeatures
    from simulator.passes.fusion_search import fusion_units

    coster, feats = model.kernel_coster(graph), KernelFeatures(graph, model)
    index = {op.name: i for i, op in enumerate(graph.ops)}
    rows, target = [], []
    for unit in fusion_units(graph):
        lo, hi = index[unit[0].name], index[unit[-1].name]
        for c in model.core_options():
            rows.append(feats.features(lo, hi, c))
            target.append(coster.cost(graph.ops[lo:hi + 1], c) - feats.fixed(c))
    return np.array(rows, float), np.array(target, float)


def leave_one_network_out(config: NpuConfig, rows: list[StudyRow],
                          max_group: int = DEFAULT_MAX_GROUP) -> list[HoldOutRow]:
    """For each network i of ``rows``: the heuristic's plan under a rule learned on the
    synthesized kernels plus every fusion unit (one-unit kernels, at every core count) of the
    *other* networks, i's units held out; next to the rule learned on synthesized kernels only.
    Both are judged against the oracle's plan of ``rows``."""
    from simulator.passes.fusion_heuristic import (
        CostModel,
        fit_weights,
        profile_samples,
        synthesized_kernels,
    )

    model = api.cost_model(config)
    base_x, base_y, _, _ = profile_samples(synthesized_kernels(), model)
    graphs = {r.network: load_network(r.workload) for r in rows}
    samples = {name: unit_samples(g, model) for name, g in graphs.items()}
    out = []
    for r in rows:
        others = [samples[n] for n in graphs if n != r.network]
        x = np.vstack([base_x, *(s[0] for s in others)])
        y = np.concatenate([base_y, *(s[1] for s in others)])
        table = CostModel(fit_weights(x, y))
        kernels, _, _ = heuristic(graphs[r.network], model, max_group, table=table)
        out.append(HoldOutRow(r.network, r.oracle_cycles, r.heuristic_cycles,
                              model.plan_cycles(graphs[r.network], kernels),
                              sum(len(s[1]) for s in others)))
    return out


def plot_study(rows: list[StudyRow], path: str, title: str, dpi: int = 110,
               size: tuple[float, float] = (12.0, 4.6)) -> None:
    """Speedup over the baseline (heuristic vs oracle) and search time, one bar pair a net;
    the legends sit above the bars (a bar as tall as the axis would hide an inset legend)."""
    from simulator.report.figure import save, subplots

    names = [r.network for r in rows]
    x = np.arange(len(rows))
    _, fig, (ax1, ax2) = subplots(1, 2, size, dpi)
    w = 0.38
    ax1.bar(x - w / 2, [r.heuristic_speedup for r in rows], w, label="heuristic (DLFusion-style)")
    ax1.bar(x + w / 2, [r.oracle_speedup for r in rows], w, label="oracle (exact DP)",
            hatch="//", edgecolor="white")
    ax1.set_xticks(x, names, rotation=20)
    ax1.set_xlabel("network (workload)")
    ax1.set_ylabel("speedup over layer-by-layer baseline (x)")
    ax2.bar(x - w / 2, [max(r.heuristic_search_s, 1e-5) for r in rows], w, label="heuristic")
    ax2.bar(x + w / 2, [r.oracle_search_s for r in rows], w, label="oracle", hatch="//",
            edgecolor="white")
    ax2.set_yscale("log")
    ax2.set_xticks(x, names, rotation=20)
    ax2.set_xlabel("network (workload)")
    ax2.set_ylabel("search time (s, log scale)")
    for ax in (ax1, ax2):
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=9,
                  frameon=False)
    fig.suptitle(title)
    save(fig, path, dpi)
