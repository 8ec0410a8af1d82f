"""The DLFusion study: baseline vs heuristic vs oracle kernels on the npu target, per network.

For each network: the untuned layer-by-layer plan on the config's ``default_cores``, the
rule-based (heuristic) plan and the exact (oracle) plan, each lowered and simulated end to end;
their cycles, speedups over the baseline, and the search time each tuner spent.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

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


def light_model_path(name: str) -> str:
    """Path of a model in the onnx wheel's ``backend/test/data/light`` folder."""
    import onnx

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"{name}.onnx")
    return path


def load_network(workload: str) -> Graph:
    """A workload name as ``archsim run`` takes it, or ``light:NAME`` for the onnx wheel's."""
    if workload.startswith("light:"):
        return api.load(light_model_path(workload.removeprefix("light:")))
    return api.load(workload)


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
                  max_group: int = DEFAULT_MAX_GROUP) -> StudyRow:
    graph = load_network(workload)
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
                 max_group: int = DEFAULT_MAX_GROUP, progress=None) -> tuple[list[StudyRow],
                                                                              dict]:
    """Rows for ``networks`` (default: the six of the report) and the profiling facts."""
    if config.kind != "npu":
        raise ConfigError(f"the fusion study needs an npu config, got kind {config.kind!r}")
    start = time.perf_counter()
    table = profile(api.cost_model(config))
    facts = {"profile_s": table.profile_seconds, "profiled_layers": table.profiled_layers,
             "profile_simulations": table.simulations, "cost_model": table.to_json()}
    rows = []
    for name, workload in (networks or NETWORKS).items():
        rows.append(study_network(config, name, workload, max_group))
        if progress is not None:
            progress(rows[-1])
    facts["wall_s"] = time.perf_counter() - start
    return rows, facts


def plot_study(rows: list[StudyRow], path: str, title: str) -> None:
    """Speedup over the baseline (heuristic vs oracle) and search time, one bar pair a net."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from simulator.report.export import atomic_write

    names = [r.network for r in rows]
    x = np.arange(len(rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    w = 0.38
    ax1.bar(x - w / 2, [r.heuristic_speedup for r in rows], w, label="heuristic (DLFusion-style)")
    ax1.bar(x + w / 2, [r.oracle_speedup for r in rows], w, label="oracle (exact DP)")
    ax1.set_xticks(x, names, rotation=20)
    ax1.set_ylabel("speedup over layer-by-layer baseline")
    ax1.legend()
    ax1.grid(axis="y", alpha=0.3)
    ax2.bar(x - w / 2, [max(r.heuristic_search_s, 1e-5) for r in rows], w, label="heuristic")
    ax2.bar(x + w / 2, [r.oracle_search_s for r in rows], w, label="oracle")
    ax2.set_yscale("log")
    ax2.set_xticks(x, names, rotation=20)
    ax2.set_ylabel("search time (s, log)")
    ax2.legend()
    ax2.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
