"""The DLFusion-style rule-based tuner: learned core-count thresholds and a fit-on-chip fusion rule.

DLFusion (Liu et al., ISPA 2020) profiles synthesized layers on the accelerator, learns how the
best core count depends on a layer's operation count and feature-map channel size, and groups
consecutive layers with compatible core counts, cutting where the fused data would not stay on
chip. Here:

1. **Profile** (once per config, cached in the process): synthesized Conv+Relu layers (dense 1x1
   and 3x3, depthwise 3x3) and Gemm layers over a grid of sizes and channel counts, each simulated
   as one kernel at every core option.
2. **Learn**: per layer kind and output-channel bin, a non-decreasing step function from MACs to
   core count that minimises the summed relative slowdown over the profiled layers (exact, by
   dynamic programming over the layers sorted by MACs); its thresholds are the geometric means
   of the MACs on both sides of each step.
3. **Apply** (no simulation): walking the units (see :func:`fusion_units`) in order, a unit
   joins the current group while the group stays under ``max_group`` units and every feature
   map passed inside it still fits in the scratchpads at the group's core count (the capacity
   test the lowering applies: large channel x spatial sizes cut groups). A group's core count
   is the table's value for its total MACs, indexed by the kind and output channels of its
   largest layer.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

from simulator.config.npu import NpuConfig
from simulator.lower.npu import KernelSpec, NpuLowering
from simulator.passes.fusion_search import DEFAULT_MAX_GROUP, KernelCoster, fusion_units
from workloads.graph import Graph, Op, Tensor, add_conv

#: Output-channel bins (upper bounds) the learned table is split by.
CHANNEL_BINS = (64, 256, math.inf)
#: Synthesized layers: (kind, spatial size, input channels, output channels, kernel).
_SIZES = (7, 14, 28, 56, 112)
_CHANNELS = (32, 128, 512)
MAX_SYNTH_MACS = 1.3e9


def synthesized_layers() -> list[tuple[str, int, int, int, int]]:
    """The profiling set: dense convs (1x1, 3x3), depthwise 3x3 convs, and Gemm (fc) layers."""
    out = []
    for h in _SIZES:
        for c in _CHANNELS:
            for k in (1, 3):
                if h * h * c * c * k * k <= MAX_SYNTH_MACS:
                    out.append(("conv", h, c, c, k))
            out.append(("dwconv", h, c * 2, c * 2, 3))
    for k_in in (1024, 4096, 9216):
        for n in (1000, 4096):
            out.append(("fc", 1, k_in, n, 1))
    return out


def synth_graph(kind: str, size: int, c_in: int, c_out: int, kernel: int) -> Graph:
    """One synthesized layer: Conv (or Gemm) followed by Relu."""
    g = Graph(f"synth_{kind}_{size}_{c_in}_{c_out}_{kernel}")
    if kind == "fc":
        g.add_tensor(Tensor("x", (1, c_in)))
        g.inputs = ["x"]
        g.add_tensor(Tensor("w", (c_in, c_out), values=None))
        g.add_tensor(Tensor("y", (1, c_out)))
        g.add_op(Op("fc", "Gemm", ["x", "w"], ["y"]))
        y = "y"
    else:
        g.add_tensor(Tensor("x", (1, c_in, size, size)))
        g.inputs = ["x"]
        pad = kernel // 2
        y = add_conv(g, "conv", "x", c_out, (kernel, kernel), pads=(pad,) * 4,
                     group=c_in if kind == "dwconv" else 1)
    g.add_tensor(Tensor("r", g.tensor(y).shape))
    g.add_op(Op("relu", "Relu", [y], ["r"]))
    g.outputs = ["r"]
    return g


def layer_kind(graph: Graph, op: Op) -> str:
    if op.type == "Conv":
        return "dwconv" if int(op.attrs.get("group", 1)) > 1 else "conv"
    return "fc"


def layer_features(graph: Graph, op: Op) -> tuple[str, int, int]:
    """(kind, output channels, MACs): what the table is indexed by."""
    out = graph.tensor(op.outputs[0]).shape
    channels = out[1] if op.type == "Conv" else out[-1]
    w = graph.tensor(op.inputs[1]).shape
    if op.type == "Conv":
        macs = math.prod(out) * math.prod(w[1:])
    else:
        macs = math.prod(out) * graph.tensor(op.inputs[0]).shape[-1]
    return layer_kind(graph, op), channels, macs


def channel_bin(channels: int) -> int:
    return next(i for i, bound in enumerate(CHANNEL_BINS) if channels <= bound)


@dataclass
class CoreTable:
    """Learned rules: (kind, channel bin) -> sorted MAC thresholds and the core count from each."""

    steps: dict[tuple[str, int], tuple[list[float], list[int]]] = field(default_factory=dict)
    profile_seconds: float = 0.0
    profiled_layers: int = 0
    simulations: int = 0

    def cores(self, kind: str, channels: int, macs: int) -> int:
        b = channel_bin(channels)
        keys = [k for k in self.steps if k[0] == kind] or list(self.steps)
        key = min(keys, key=lambda k: (abs(k[1] - b), k[1]))
        thresholds, counts = self.steps[key]
        return counts[bisect.bisect_right(thresholds, macs)]

    def to_json(self) -> dict:
        return {f"{kind}/c<={CHANNEL_BINS[b]}": [
            {"macs_from": 0 if i == 0 else round(th[i - 1]), "cores": c}
            for i, c in enumerate(cs)] for (kind, b), (th, cs) in sorted(self.steps.items())}


def fit_steps(samples: list[tuple[int, dict[int, int]]], options: list[int]
              ) -> tuple[list[float], list[int]]:
    """The non-decreasing MACs -> cores step function minimising the summed relative slowdown
    (chosen cycles / best cycles - 1) of ``samples`` ((macs, {cores: cycles}) each)."""
    samples = sorted(samples, key=lambda s: s[0])
    k = len(options)
    regret = [[s[1][c] / min(s[1].values()) - 1 for c in options] for s in samples]
    cost = [regret[0][:]]
    back: list[list[int]] = [[0] * k]
    for p in range(1, len(samples)):
        row, arg = [], []
        best, best_o = math.inf, 0
        for o in range(k):
            if cost[p - 1][o] < best:
                best, best_o = cost[p - 1][o], o
            row.append(best + regret[p][o])
            arg.append(best_o)
        cost.append(row)
        back.append(arg)
    o = min(range(k), key=lambda i: (cost[-1][i], i))
    chosen = [0] * len(samples)
    for p in range(len(samples) - 1, -1, -1):
        chosen[p] = o
        o = back[p][o]
    thresholds, counts = [], [options[chosen[0]]]
    for p in range(1, len(samples)):
        if chosen[p] != chosen[p - 1]:
            thresholds.append(math.sqrt(samples[p - 1][0] * samples[p][0]))
            counts.append(options[chosen[p]])
    return thresholds, counts


def profile(config: NpuConfig) -> CoreTable:
    """Profile the synthesized layers on ``config`` and learn the table (cached per config)."""
    return _profile(config.model_dump_json())


@lru_cache(maxsize=8)
def _profile(config_json: str) -> CoreTable:
    config = NpuConfig.model_validate_json(config_json)
    start = time.perf_counter()
    options = config.core_options()
    groups: dict[tuple[str, int], list[tuple[int, dict[int, int]]]] = {}
    sims = 0
    layers = synthesized_layers()
    for kind, size, c_in, c_out, kernel in layers:
        g = synth_graph(kind, size, c_in, c_out, kernel)
        coster = KernelCoster(g, config)
        cycles = {c: coster.cost(g.ops, c) for c in options}
        sims += coster.stats.simulations
        _, channels, macs = layer_features(g, g.ops[0])
        groups.setdefault((kind, channel_bin(channels)), []).append((macs, cycles))
    table = CoreTable({key: fit_steps(samples, options) for key, samples in groups.items()})
    table.profile_seconds = time.perf_counter() - start
    table.profiled_layers = len(layers)
    table.simulations = sims
    return table


def heuristic(graph: Graph, config: NpuConfig, max_group: int = DEFAULT_MAX_GROUP,
              table: CoreTable | None = None) -> tuple[list[KernelSpec], CoreTable, float]:
    """The rule-based plan, the table it used, and the seconds the rules took (profiling not
    included: it is done once per config)."""
    table = table or profile(config)
    start = time.perf_counter()
    lowering = NpuLowering(config, graph)
    groups: list[list[Op]] = []
    ops: list[Op] = []
    size = 0
    for unit in fusion_units(graph):
        if ops and size < max_group:
            candidate = ops + unit
            if _fits(lowering, candidate, group_cores(graph, table, candidate, config)):
                ops, size = candidate, size + 1
                continue
        if ops:
            groups.append(ops)
        ops, size = list(unit), 1
    groups.append(ops)
    kernels = [KernelSpec(tuple(op.name for op in g), group_cores(graph, table, g, config))
               for g in groups]
    return kernels, table, time.perf_counter() - start


def group_cores(graph: Graph, table: CoreTable, ops: list[Op], config: NpuConfig) -> int:
    """The table's core count for a group: its total MACs, with the kind and output channels
    of its largest layer (a group without a GEMM-like op runs on the default count)."""
    feats = [layer_features(graph, op) for op in ops if op.type in ("Conv", "Gemm", "MatMul")]
    if not feats:
        return config.default_cores
    kind, channels, _ = max(feats, key=lambda f: f[2])
    return table.cores(kind, channels, sum(f[2] for f in feats))


def _fits(lowering: NpuLowering, ops: list[Op], cores: int) -> bool:
    """Every feature map produced and consumed inside ``ops`` stays in the scratchpads."""
    inside = {lowering.index[op.name] for op in ops}
    internal = set()
    for op in ops:
        for out in op.outputs:
            if out and lowering.root(out) == out and out not in lowering.outputs:
                users = lowering.users.get(out, [])
                if users and all(u in inside for u in users):
                    internal.add(out)
    return internal <= lowering.onchip_buffers(ops, cores)
