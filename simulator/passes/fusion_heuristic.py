"""The DLFusion-style tuner: a kernel-cost rule learned from synthesized layers and fused groups.

DLFusion (Liu et al., ISPA 2020) profiles synthesized layers on the accelerator, learns how
performance depends on a layer's operation count and feature-map channel size, and from that
picks core counts and fusion cuts without trying candidates on the real network. Here:

1. **Profile** (once per config, cached in the process): synthesized single layers (dense 1x1
   and 3x3 convs, depthwise convs, FC layers) *and* synthesized fused groups (3x3 conv chains,
   ResNet bottlenecks, MobileNet inverted residuals, squeeze/expand pairs) over spatial sizes and
   channel counts, each simulated as one kernel at every core count. Profiling single layers
   alone is not enough: a layer run alone is DRAM-bound, the same layer inside a group whose
   feature maps stay on chip is compute-bound and wants more cores.
2. **Learn**: a kernel's cycles on ``c`` cores are ``launch + sync(c)`` plus a weighted sum of
   :data:`FEATURES`, computed from shapes only: per layer the larger and the smaller of its
   compute time (operation count over ``c`` cores, in array folds sized by the channel counts,
   or vector-unit cycles) and its DRAM time (the bytes of weights, inputs and outputs that are
   not on chip, with the replication the core split causes); the array folds (fill/drain); the
   layers; the barriers of layers that read a feature map produced in the kernel; and the
   scratchpad traffic of on-chip feature maps. Which feature maps stay on chip is the lowering's
   own capacity rule (the on-chip footprint). The weights are a least-squares fit of relative
   error over the profiled (kernel, core count) samples.
3. **Apply** (no simulation): the cheapest partition of the network's units into runs of at most
   ``max_group`` units, each with its cheapest core count, under the learned cost, found by the
   same dynamic program the oracle runs on simulated costs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from simulator.config.npu import KernelSpec
from simulator.passes.fusion_search import DEFAULT_MAX_GROUP, fusion_units
from workloads.graph import Graph, Op, Tensor, add_conv
from workloads.ops import gemm_shapes, is_matmul, is_view, vector_work

#: What the learned cost weighs (cycles each, summed over the kernel's layers).
FEATURES = ("layer_bound", "layer_overlap", "array_folds", "layers", "barrier_sync",
            "scratchpad", "constant")

# The synthesized shapes are off the usual CNN grid on purpose (8/15/30/60/100 px, 40/144/448
# channels, FC 1200/3000/8000 -> 900/3500): no synthesized layer has the shape of a layer of any
# network the study evaluates (the six of the report, DenseNet-121, Inception-v2, ShuffleNet,
# ZFNet-512), so the rule is learned on data disjoint from what it is judged on (tested).
_SIZES = (8, 15, 30, 60, 100)
_CHANNELS = (40, 144, 448)
_FC_INPUTS = (1200, 3000, 8000)
_FC_OUTPUTS = (900, 3500)
MAX_SYNTH_MACS = 1.3e9
#: Synthesized fused groups: (pattern, spatial size, channels).
GROUP_PATTERNS = ("chain", "bottleneck", "inverted", "squeeze", "inception", "inception2",
                  "reduction", "dense")
_GROUP_SIZES = (8, 15, 30, 60)
_GROUP_CHANNELS = (20, 40, 72, 144, 288, 448)


def synthesized_layers() -> list[tuple[str, int, int, int, int]]:
    """Single layers: dense convs (1x1, 3x3), depthwise 3x3 convs, and Gemm (fc) layers, as
    (kind, spatial size, input channels, output channels, kernel)."""
    out = []
    for h in _SIZES:
        for c in _CHANNELS:
            for k in (1, 3):
                if h * h * c * c * k * k <= MAX_SYNTH_MACS:
                    out.append(("conv", h, c, c, k))
            out.append(("dwconv", h, c * 2, c * 2, 3))
    for k_in in _FC_INPUTS:
        for n in _FC_OUTPUTS:
            out.append(("fc", 1, k_in, n, 1))
    return out


def synthesized_groups() -> list[tuple[str, int, int]]:
    """Fused groups as (pattern, spatial size, channels), capped at ~1.5 GMAC each."""
    out = []
    for pattern in GROUP_PATTERNS:
        for h in _GROUP_SIZES:
            for c in _GROUP_CHANNELS:
                macs = h * h * c * c * (18 if pattern == "chain" else 12)
                if pattern in ("inception", "inception2", "reduction", "dense") and c < 40:
                    continue
                if macs <= 1.5e9 and not (pattern == "inverted" and c > 160):
                    out.append((pattern, h, c))
    return out


def layer_signatures(graph: Graph) -> set[tuple]:
    """The shape of every array layer of ``graph``: a Conv as (input H, W, C, output C, kernel
    H, W, strides, group), a Gemm/MatMul with a constant operand as its sorted weight dims.
    Two graphs share a layer shape when their signature sets intersect."""
    out: set[tuple] = set()
    for op in graph.ops:
        if op.type == "Conv":
            x, w = graph.tensor(op.inputs[0]).shape, graph.tensor(op.inputs[1]).shape
            out.add(("conv", x[2], x[3], x[1], w[0], w[2], w[3],
                     tuple(op.attrs.get("strides") or (1, 1)), op.attrs.get("group", 1)))
        elif op.type == "Gemm" or (op.type == "MatMul" and len(op.inputs) > 1
                                   and graph.tensor(op.inputs[1]).values is not None):
            out.add(("fc", *sorted(graph.tensor(op.inputs[1]).shape)))
    return out


def _unary(g: Graph, name: str, kind: str, x: str) -> str:
    g.add_tensor(Tensor(f"{name}.Y", g.tensor(x).shape))
    g.add_op(Op(name, kind, [x], [f"{name}.Y"]))
    return f"{name}.Y"


def _add(g: Graph, name: str, a: str, b: str) -> str:
    g.add_tensor(Tensor(f"{name}.Y", g.tensor(a).shape))
    g.add_op(Op(name, "Add", [a, b], [f"{name}.Y"]))
    return f"{name}.Y"


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
    g.outputs = [_unary(g, "relu", "Relu", y)]
    return g


def synth_group(pattern: str, size: int, channels: int) -> Graph:
    """One synthesized fused group on a ``channels x size x size`` input (see
    :data:`GROUP_PATTERNS`): the block shapes CNNs are made of, with residual adds."""
    g = Graph(f"synth_{pattern}_{size}_{channels}")
    g.add_tensor(Tensor("x", (1, channels, size, size)))
    g.inputs = ["x"]
    x, c, same = "x", channels, (1, 1, 1, 1)
    if pattern == "chain":          # two 3x3 convs (VGG, AlexNet)
        for i in range(2):
            x = _unary(g, f"r{i}", "Relu", add_conv(g, f"c{i}", x, c, (3, 3), pads=same))
    elif pattern == "bottleneck":   # 1x1 -> 3x3 -> 1x1 (c/4 wide) + residual (ResNet)
        m = max(c // 4, 8)
        y = _unary(g, "r0", "Relu", add_conv(g, "c0", x, m, (1, 1)))
        y = _unary(g, "r1", "Relu", add_conv(g, "c1", y, m, (3, 3), pads=same))
        x = _unary(g, "r2", "Relu", _add(g, "a", add_conv(g, "c2", y, c, (1, 1)), x))
    elif pattern == "inverted":     # 1x1 expand x6 -> depthwise 3x3 -> 1x1 project + residual
        e = c * 6
        y = _unary(g, "r0", "Relu", add_conv(g, "c0", x, e, (1, 1)))
        y = _unary(g, "r1", "Relu", add_conv(g, "c1", y, e, (3, 3), pads=same, group=e))
        x = _add(g, "a", add_conv(g, "c2", y, c, (1, 1)), x)
    elif pattern == "squeeze":      # 1x1 squeeze to c/8 -> 3x3 to c/2 (SqueezeNet, Inception)
        y = _unary(g, "r0", "Relu", add_conv(g, "c0", x, max(c // 8, 8), (1, 1)))
        x = _unary(g, "r1", "Relu", add_conv(g, "c1", y, c // 2, (3, 3), pads=same))
    elif pattern == "inception":    # four branches concatenated (GoogLeNet, Inception)
        b1 = _unary(g, "r0", "Relu", add_conv(g, "c0", x, c // 4, (1, 1)))
        b2 = _unary(g, "r1", "Relu", add_conv(g, "c1", x, c // 8, (1, 1)))
        b2 = _unary(g, "r2", "Relu", add_conv(g, "c2", b2, c // 4, (3, 3), pads=same))
        b3 = _unary(g, "r3", "Relu", add_conv(g, "c3", x, c // 16, (1, 1)))
        b3 = _unary(g, "r4", "Relu", add_conv(g, "c4", b3, c // 8, (5, 5), pads=(2, 2, 2, 2)))
        g.add_tensor(Tensor("pool.Y", g.tensor(x).shape))
        g.add_op(Op("pool", "MaxPool", [x], ["pool.Y"], {"kernel_shape": [3, 3],
                                                          "strides": [1, 1], "pads": [1] * 4}))
        b4 = _unary(g, "r5", "Relu", add_conv(g, "c5", "pool.Y", c // 8, (1, 1)))
        x = _concat(g, "cat", [b1, b2, b3, b4])
    elif pattern == "inception2":   # BN-Inception: double 3x3 instead of 5x5, avg-pool branch
        b1 = _unary(g, "r0", "Relu", add_conv(g, "c0", x, c // 4, (1, 1)))
        b2 = _unary(g, "r1", "Relu", add_conv(g, "c1", x, c // 8, (1, 1)))
        b2 = _unary(g, "r2", "Relu", add_conv(g, "c2", b2, c // 4, (3, 3), pads=same))
        b3 = _unary(g, "r3", "Relu", add_conv(g, "c3", x, c // 8, (1, 1)))
        b3 = _unary(g, "r4", "Relu", add_conv(g, "c4", b3, c // 8, (3, 3), pads=same))
        b3 = _unary(g, "r5", "Relu", add_conv(g, "c5", b3, c // 8, (3, 3), pads=same))
        g.add_tensor(Tensor("pool.Y", g.tensor(x).shape))
        g.add_op(Op("pool", "AveragePool", [x], ["pool.Y"], {"kernel_shape": [3, 3],
                                                              "strides": [1, 1], "pads": [1] * 4}))
        b4 = _unary(g, "r6", "Relu", add_conv(g, "c6", "pool.Y", c // 8, (1, 1)))
        x = _concat(g, "cat", [b1, b2, b3, b4])
    elif pattern == "reduction":    # stride-2 module: two conv branches and a max pool
        half = (1, 1, 1, 1)
        b1 = _unary(g, "r0", "Relu", add_conv(g, "c0", x, c // 4, (1, 1)))
        b1 = _unary(g, "r1", "Relu", add_conv(g, "c1", b1, c // 4, (3, 3), (2, 2), half))
        b2 = _unary(g, "r2", "Relu", add_conv(g, "c2", x, c // 8, (1, 1)))
        b2 = _unary(g, "r3", "Relu", add_conv(g, "c3", b2, c // 8, (3, 3), pads=same))
        b2 = _unary(g, "r4", "Relu", add_conv(g, "c4", b2, c // 8, (3, 3), (2, 2), half))
        shape = g.tensor(b1).shape
        g.add_tensor(Tensor("pool.Y", (1, c, shape[2], shape[3])))
        g.add_op(Op("pool", "MaxPool", [x], ["pool.Y"], {"kernel_shape": [3, 3],
                                                          "strides": [2, 2], "pads": [1] * 4}))
        x = _concat(g, "cat", [b1, b2, "pool.Y"])
    elif pattern == "dense":        # a DenseNet layer: BN-free 1x1 -> 3x3, concat with input
        y = _unary(g, "r0", "Relu", add_conv(g, "c0", x, c // 2, (1, 1)))
        y = _unary(g, "r1", "Relu", add_conv(g, "c1", y, c // 8, (3, 3), pads=same))
        x = _concat(g, "cat", [x, y])
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    g.outputs = [x]
    return g


def _concat(g: Graph, name: str, parts: list[str]) -> str:
    shape = list(g.tensor(parts[0]).shape)
    shape[1] = sum(g.tensor(p).shape[1] for p in parts)
    g.add_tensor(Tensor(f"{name}.Y", tuple(shape)))
    g.add_op(Op(name, "Concat", parts, [f"{name}.Y"], {"axis": 1}))
    return f"{name}.Y"


@dataclass
class _OpTerms:
    """One op on ``c`` cores, before knowing which feature maps stay on chip."""

    compute: float                 # array cycles (stream) or vector cycles per core
    folds: int = 0                 # array folds per core
    fixed_dram: float = 0.0        # weights / constants, with the split's replication
    gemm_input: str | None = None  # the GEMM's activation buffer
    gemm_input_dram: float = 0.0   # its bytes from DRAM (replicated cn times)
    gemm_input_bytes: float = 0.0
    inputs: list[tuple[str, int]] = field(default_factory=list)   # vector op: (buffer, bytes)
    outputs: list[tuple[str, int]] = field(default_factory=list)


class KernelFeatures:
    """The learned cost's features of runs of a graph's ops, from shapes only (cached per op
    and core count; the on-chip set is the lowering's capacity rule, recomputed per run).
    ``model`` is the npu's cost model: its compile rules (buffers, core split, barrier cost)."""

    def __init__(self, graph: Graph, model) -> None:
        self.graph, self.model, self.cfg = graph, model, model.config
        self.low = model.buffers(graph)
        self.terms: dict[tuple[int, int], _OpTerms | None] = {}
        low = self.low
        self.sizes: dict[str, int] = {}
        # per op: the buffers it writes that may stay on chip, with first/last reader
        self.candidates: list[list[tuple[str, int, int]]] = []
        for op in graph.ops:
            cands = []
            if not is_view(op.type):
                for out in op.outputs:
                    if not out or low.root(out) != out or out in low.outputs:
                        continue
                    users = low.users.get(out, [])
                    if users:
                        cands.append((out, min(users), max(users)))
            self.candidates.append(cands)

    def nbytes(self, name: str) -> int:
        size = self.sizes.get(name)
        if size is None:
            size = self.sizes[name] = self.low.nbytes(name)
        return size

    def onchip(self, lo: int, hi: int, cores: int) -> set[str]:
        """``NpuLowering.onchip_buffers`` for the ops ``lo..hi`` (a run of the order)."""
        capacity = int(self.cfg.core.scratchpad_kb * 1024)
        usage = [0] * (hi - lo + 1)
        keep: set[str] = set()
        for p in range(lo, hi + 1):
            for out, first, last in self.candidates[p]:
                if first < lo or last > hi:
                    continue
                share = -(-self.nbytes(out) // cores)
                span = range(p - lo, last - lo + 1)
                if all(usage[t] + share <= capacity for t in span):
                    for t in span:
                        usage[t] += share
                    keep.add(out)
        return keep

    def _terms(self, p: int, c: int) -> _OpTerms | None:
        key = (p, c)
        if key in self.terms:
            return self.terms[key]
        g, low, op = self.graph, self.low, self.graph.ops[p]
        t: _OpTerms | None
        if is_view(op.type):
            t = None
        elif is_matmul(op.type) and self.model.vector_only(g, op) is None:
            shapes = gemm_shapes(g, op, low.word_bytes)
            s, groups = shapes[0], len(shapes)
            x, w = op.inputs[0], op.inputs[1]
            a_total = self.nbytes(x)
            b_total = math.ceil(g.tensor(w).numel * s.b_bytes)
            cm, cn = self.model.split(c, s.m, groups if groups > 1 else s.n, a_total, b_total)
            per_core_groups, n = (-(-groups // cn), s.n) if groups > 1 else (1, -(-s.n // cn))
            rows, cols = self.cfg.core.array.rows, self.cfg.core.array.cols
            folds = per_core_groups * -(-s.k // rows) * -(-n // cols)
            t = _OpTerms(folds * -(-s.m // cm), folds, cm * b_total, low.root(x),
                         cn * a_total, a_total)
        else:
            work = self.model.vector_only(g, op)
            if work is None:
                work = vector_work(g, op, self.model.vector_costs)
            t = _OpTerms(work / c / self.cfg.core.vector.lanes)
            for name in dict.fromkeys(i for i in op.inputs if i):
                if g.tensor(name).values is not None:
                    t.fixed_dram += c * self.nbytes(name)
                else:
                    t.inputs.append((low.root(name), self.nbytes(name)))
        if t is not None:
            t.outputs = [(low.root(o), self.nbytes(o)) for o in op.outputs if o]
        self.terms[key] = t
        return t

    def features(self, lo: int, hi: int, cores: int) -> list[float]:
        """:data:`FEATURES` of the kernel made of ops ``lo..hi`` on ``cores`` cores."""
        onchip = self.onchip(lo, hi, cores)
        bw = self.cfg.dram.bandwidth
        bound = overlap = folds = layers = barriers = pad = 0.0
        for p in range(lo, hi + 1):
            t = self._terms(p, cores)
            if t is None:
                continue
            layers += 1
            folds += t.folds
            dram, local = t.fixed_dram, 0.0
            if t.gemm_input is not None:
                if t.gemm_input in onchip:
                    barriers += 1
                    local += t.gemm_input_bytes
                else:
                    dram += t.gemm_input_dram
            for name, size in t.inputs + t.outputs:
                if name in onchip:
                    local += size
                else:
                    dram += size
            dram /= bw
            bound += max(t.compute, dram)
            overlap += min(t.compute, dram)
            pad += local / cores / self.cfg.core.scratchpad_bandwidth
        return [bound, overlap, folds, layers, barriers * self.model.sync_cycles(cores), pad,
                1.0]

    def fixed(self, cores: int) -> int:
        """The cycles every kernel pays that the config states: launch and closing barrier."""
        return self.model.fixed_cycles(cores)


@dataclass
class CostModel:
    """The learned weights of :data:`FEATURES`, and what learning them cost."""

    weights: tuple[float, ...]
    profile_seconds: float = 0.0
    profiled_layers: int = 0      # synthesized kernels profiled (single layers + fused groups)
    simulations: int = 0

    def cycles(self, feats: KernelFeatures, lo: int, hi: int, cores: int) -> float:
        """Predicted cycles of the kernel ``lo..hi`` on ``cores`` cores."""
        x = feats.features(lo, hi, cores)
        return feats.fixed(cores) + sum(w * v for w, v in zip(self.weights, x, strict=True))

    def best_cores(self, feats: KernelFeatures, lo: int, hi: int, options) -> tuple[int, float]:
        """The core count the learned cost prefers for a kernel, and its predicted cycles."""
        return min(((c, self.cycles(feats, lo, hi, c)) for c in options),
                   key=lambda cv: (cv[1], cv[0]))

    def to_json(self) -> dict:
        return {name: round(w, 4) for name, w in zip(FEATURES, self.weights, strict=True)}


def synthesized_kernels() -> list[Graph]:
    """Every graph the profile simulates: the single layers and the fused groups."""
    return [synth_graph(*s) for s in synthesized_layers()] + \
        [synth_group(*s) for s in synthesized_groups()]


def profile_samples(graphs: list[Graph], model
                    ) -> tuple[np.ndarray, np.ndarray, list[dict[int, int]], int]:
    """Simulate each graph as one kernel at every core count: features (rows), cycles above the
    fixed launch+sync cost, the cycles per core count of each graph, simulations run."""
    rows, target, per_graph, sims = [], [], [], 0
    for g in graphs:
        coster, feats = model.kernel_coster(g), KernelFeatures(g, model)
        cycles = {}
        for c in model.core_options():
            cycles[c] = coster.cost(g.ops, c)
            rows.append(feats.features(0, len(g.ops) - 1, c))
            target.append(cycles[c] - feats.fixed(c))
        sims += coster.stats.simulations
        per_graph.append(cycles)
    return np.array(rows, float), np.array(target, float), per_graph, sims


def fit_weights(rows: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """Least squares on relative error (each sample weighted by 1 / its cycles)."""
    scale = 1.0 / np.maximum(target, 1.0)
    weights, *_ = np.linalg.lstsq(rows * scale[:, None], target * scale, rcond=None)
    return tuple(float(w) for w in weights)


def learn(graphs: list[Graph], model) -> CostModel:
    """Profile ``graphs`` on the npu ``model`` describes and fit the learned cost."""
    start = time.perf_counter()
    rows, target, _, sims = profile_samples(graphs, model)
    model = CostModel(fit_weights(rows, target))
    model.profile_seconds = time.perf_counter() - start
    model.profiled_layers = len(graphs)
    model.simulations = sims
    return model


#: learned costs by config (JSON), at most a few: profiling takes about a second per config
_PROFILES: dict[str, CostModel] = {}


def profile(model) -> CostModel:
    """The cost learned from the synthesized kernels on the npu ``model`` describes (the npu
    target's cost model), cached per config."""
    key = model.config.model_dump_json()
    if key not in _PROFILES:
        if len(_PROFILES) >= 8:
            _PROFILES.pop(next(iter(_PROFILES)))
        _PROFILES[key] = learn(synthesized_kernels(), model)
    return _PROFILES[key]


def heuristic(graph: Graph, model, max_group: int = DEFAULT_MAX_GROUP,
              table: CostModel | None = None) -> tuple[list[KernelSpec], CostModel, float]:
    """The plan the learned cost prefers, the learned cost it used, and the seconds the search
    took (profiling not included: it is done once per config). ``model`` is the npu target's
    cost model."""
    learned = table or profile(model)
    start = time.perf_counter()
    feats = KernelFeatures(graph, model)
    index = {op.name: i for i, op in enumerate(graph.ops)}
    units = fusion_units(graph)
    bounds = [(index[u[0].name], index[u[-1].name]) for u in units]
    options = model.core_options()
    n = len(units)
    best = [0.0] + [math.inf] * n
    choice = [(0, 0)] * (n + 1)
    for j in range(1, n + 1):
        hi = bounds[j - 1][1]
        for i in range(max(0, j - max_group), j):
            cores, cycles = learned.best_cores(feats, bounds[i][0], hi, options)
            if best[i] + cycles < best[j]:
                best[j], choice[j] = best[i] + cycles, (i, cores)
    kernels: list[KernelSpec] = []
    j = n
    while j > 0:
        i, cores = choice[j]
        kernels.append(KernelSpec(tuple(op.name for u in units[i:j] for op in u), cores))
        j = i
    kernels.reverse()
    return kernels, learned, time.perf_counter() - start
