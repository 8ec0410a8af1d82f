"""Lower a Graph onto the ``npu`` target: kernels (fused groups) split across cores.

The program is a sequence of kernels. A kernel is a run of consecutive graph ops (one op in the
layer-by-layer baseline, a fused group otherwise) compiled for ``c`` cores: a launch ``BARRIER``,
one instruction stream per core, and a closing ``BARRIER`` all cores meet at. Kernels run one
after another, so a network's cycles are the sum of its kernels' cycles and every kernel can be
lowered (and timed) on its own: :func:`lower_kernels` is the reusable entry point.

Inside a kernel a GEMM-like op is split over a ``cm x cn`` grid of cores (``cm`` blocks of output
pixels/rows, ``cn`` blocks of output channels, or of groups for a grouped conv), choosing the grid
that reads the fewest replicated operand bytes. Each core's part is folded onto its array exactly
as the ``systolic`` target folds a GEMM (same tiles, double buffering, partial-sum spills), with
convolutions read in place (implicit im2col). Vector ops split their elements evenly.

A tensor produced and consumed only inside the kernel stays in the cores' scratchpads when its
share fits next to the other live ones (greedy, in program order); otherwise it is stored to
DRAM and read back. A consumer whose layout differs from the producer's pulls the missing part
from other cores over the on-chip network (``RECV``) after a ``BARRIER``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.config.npu import KernelSpec, NpuConfig, mean_hops
from simulator.config.systolic import SystolicConfig
from simulator.errors import WorkloadError
from simulator.lower.implicit_conv import ConvGeometry
from simulator.lower.systolic import SystolicLowering
from simulator.lower.vector_ops import gemm_args, op_args
from simulator.trace import Instruction, LayerInfo, Trace, TraceBuilder
from workloads.graph import Graph, Op
from workloads.ops import (
    element_bytes,
    gemm_shapes,
    is_matmul,
    is_view,
    needs_im2col,
    vector_work,
)

SYNC_UNIT = "sync"


def core_unit(core: int, unit: str) -> str:
    return f"core{core}.{unit}"


def alias_roots(graph: Graph) -> dict[str, str]:
    """Tensor -> the buffer it views (through Reshape/Flatten/...); itself if not a view."""
    roots: dict[str, str] = {}
    for op in graph.ops:
        if is_view(op.type) and op.inputs:
            src = roots.get(op.inputs[0], op.inputs[0])
            for out in op.outputs:
                roots[out] = src
    return roots


def buffer_users(graph: Graph, roots: dict[str, str]) -> dict[str, list[int]]:
    """Buffer -> indices of the non-view ops that read it (directly or through a view)."""
    users: dict[str, list[int]] = {}
    for i, op in enumerate(graph.ops):
        if is_view(op.type):
            continue
        for name in dict.fromkeys(t for t in op.inputs if t):
            users.setdefault(roots.get(name, name), []).append(i)
    return users


def choose_split(cores: int, m: int, n_parts: int, a_bytes: int, b_bytes: int
                 ) -> tuple[int, int]:
    """The ``(cm, cn)`` core grid for a GEMM: ``cm`` row blocks each read all of B, ``cn``
    column blocks each read all of A, so replicated reads are ``cn*A + cm*B``; take the grid
    that minimises them (ties: more row blocks). Fewer than ``cores`` cores are used only when
    the layer has too few rows and columns to give every core a block."""
    best: tuple[float, int, int] | None = None
    for cm in range(1, cores + 1):
        if cores % cm:
            continue
        cn = cores // cm
        if cm > m or cn > n_parts:
            continue
        cost = cn * a_bytes + cm * b_bytes
        if best is None or cost < best[0] or (cost == best[0] and cm > best[1]):
            best = (cost, cm, cn)
    if best is not None:
        return best[1], best[2]
    cm = min(m, cores)
    return cm, max(1, min(n_parts, cores // cm))


class _CoreBuilder(TraceBuilder):
    """One core's view of the shared instruction list: units get the core's prefix, traffic of
    tensors kept on chip goes to the scratchpad instead of DRAM, and an instruction with no
    dependency waits for the kernel's launch."""

    def __init__(self, out: list[Instruction], core: int, onchip: set[str],
                 roots: dict[str, str], launch: int) -> None:
        super().__init__(out)
        self.prefix = f"core{core}."
        self.onchip = onchip
        self.roots = roots
        self.launch = launch
        self.last: dict[str, int] = {}     # unit -> last instruction id
        self.writes: dict[str, int] = {}   # buffer -> last instruction writing it

    def emit(self, op: str, unit: str, layer: str, dims: dict, nbytes: dict, deps,
             tensor: str | None = None) -> int:
        root = self.roots.get(tensor, tensor) if tensor is not None else None
        if root is not None and root in self.onchip:
            if op == "LOAD":
                moved = nbytes.get("dram_read", 0)
                nbytes = {"sram_read": moved, "sram_write": moved}
            elif op == "STORE":
                moved = nbytes.get("dram_write", 0)
                nbytes = {"sram_read": moved, "sram_write": moved}
        deps = [d for d in deps if d is not None and d >= self.launch] or [self.launch]
        full_unit = self.prefix + unit
        ident = super().emit(op, full_unit, layer, dims, nbytes, deps, tensor)
        self.last[full_unit] = ident
        if op == "STORE" and root is not None:
            self.writes[root] = ident
        return ident


class _CoreLowering(SystolicLowering):
    """The systolic folding of one core's share of a layer, emitting through the core's view."""

    def __init__(self, config: SystolicConfig, emitter: _CoreBuilder) -> None:
        super().__init__(config)
        self.out = emitter  # type: ignore[assignment]


def core_systolic_config(config: NpuConfig) -> SystolicConfig:
    """The systolic config the lowering tiles one core's share for: its buffers and DRAM port,
    and its array enlarged ``fold_group`` times per side (see ``NpuCoreConfig.fold_group``)."""
    g = config.core.fold_group
    array = config.core.array.model_copy(update={"rows": config.core.array.rows * g,
                                                 "cols": config.core.array.cols * g})
    return SystolicConfig(name=f"{config.name}.core", clock_ghz=config.clock_ghz,
                          array=array, sram=config.core.sram, dram=config.dram,
                          vector=config.core.vector, word_bytes=config.word_bytes,
                          energy=config.energy)


class NpuLowering:
    """Lowers kernels of one graph into one instruction list; cores are numbered from
    ``first_core`` (so a caller can place a network on a slice of the chip)."""

    def __init__(self, config: NpuConfig, graph: Graph, first_core: int = 0) -> None:
        self.cfg = config
        self.graph = graph
        self.first_core = first_core
        self.core_cfg = core_systolic_config(config)
        self.builder = TraceBuilder()
        self.layers: list[LayerInfo] = []
        self.roots = alias_roots(graph)
        self.users = buffer_users(graph, self.roots)
        self.index = {op.name: i for i, op in enumerate(graph.ops)}
        self.outputs = {self.roots.get(t, t) for t in graph.outputs}
        self.wb = config.word_bytes

    @property
    def instructions(self) -> list[Instruction]:
        return self.builder.instructions

    def reset(self) -> None:
        """Forget what was lowered (the graph's analysis stays): to lower kernels one by one."""
        self.builder = TraceBuilder()
        self.layers = []

    # ------------------------------------------------------------------ helpers
    def root(self, name: str) -> str:
        return self.roots.get(name, name)

    def nbytes(self, name: str) -> int:
        return self.graph.tensor(name).numel * element_bytes(self.graph, name, self.wb)

    def _sync(self, layer: str, deps: Sequence[int | None], **dims: int) -> int:
        return self.builder.emit("BARRIER", SYNC_UNIT, layer, dims, {}, deps)

    def onchip_buffers(self, ops: Sequence[Op], cores: int) -> set[str]:
        """Buffers produced and consumed only inside the kernel whose per-core share fits in the
        scratchpad next to the others live at the same time (greedy in program order)."""
        positions = {self.index[op.name] for op in ops}
        first = min(positions)
        capacity = int(self.cfg.core.scratchpad_kb * 1024)
        usage = [0] * (max(positions) - first + 1)
        keep: set[str] = set()
        for op in ops:
            if is_view(op.type):
                continue
            p = self.index[op.name]
            for out in op.outputs:
                if not out or self.root(out) != out or out in self.outputs:
                    continue
                users = self.users.get(out, [])
                if not users or not all(u in positions for u in users):
                    continue
                share = -(-self.nbytes(out) // cores)
                span = range(p - first, max(users) - first + 1)
                if all(usage[t] + share <= capacity for t in span):
                    for t in span:
                        usage[t] += share
                    keep.add(out)
        return keep

    # ------------------------------------------------------------------ kernels
    def lower_kernel(self, ops: Sequence[Op], cores: int, kernel: int) -> None:
        """Append one kernel: launch, every op split over ``cores`` cores, closing barrier."""
        launch = self._sync(ops[0].name, [self.instructions[-1].id] if self.instructions else [],
                            launch=1, cores=cores, kernel=kernel)
        onchip = self.onchip_buffers(ops, cores)
        emitters = [_CoreBuilder(self.instructions, self.first_core + i, onchip, self.roots,
                                 launch) for i in range(cores)]
        lowerings = [_CoreLowering(self.core_cfg, e) for e in emitters]
        state = _KernelState(cores, kernel, launch, onchip, emitters, lowerings)
        for op in ops:
            if is_depthwise(self.graph, op):
                info = self._vector(op, state, depthwise_work(self.graph, op))
                info.macs = info.vector_ops
            elif is_matmul(op.type):
                info = self._gemm(op, state)
            elif is_view(op.type):
                for low in lowerings:
                    src = low.last_write.get(op.inputs[0])
                    for out in op.outputs:
                        if src is not None:
                            low.last_write[out] = src
                info = LayerInfo(op.name, op.type, 0, args=op_args(self.graph, op))
            else:
                info = self._vector(op, state)
            info.dims.update(kernel=kernel, cores=cores)
            self.layers.append(info)
        last = {i for e in emitters for i in e.last.values()}
        self._sync(ops[-1].name, [launch, *last], launch=0, cores=cores, kernel=kernel)

    def _ready(self, name: str, state: _KernelState) -> list[int]:
        """The instructions (on every core) that last wrote buffer ``name`` in this kernel."""
        root = self.root(name)
        return [w for e in state.emitters if (w := e.writes.get(root)) is not None]

    def _gemm(self, op: Op, state: _KernelState) -> LayerInfo:
        graph, c = self.graph, state.cores
        shapes = gemm_shapes(graph, op, self.wb)
        s, groups = shapes[0], len(shapes)
        x, w = op.inputs[0], op.inputs[1]
        a_root = self.root(x)
        on_chip = a_root in state.onchip
        a_total = self.nbytes(x)
        b_total = math.ceil(graph.tensor(w).numel * s.b_bytes)
        n_parts = groups if groups > 1 else s.n
        conv = op.type == "Conv" and needs_im2col(op)
        if op.attrs.get("tp") == "row" and c > 1 and groups == 1 and not conv and s.k >= c \
                and s.n >= c:
            return self._gemm_split_k(op, state, s)
        cm, cn = choose_split(c, s.m, n_parts, a_total, b_total)
        active = cm * cn
        produced_here = self._ready(x, state)
        barrier = None
        if c > 1 and produced_here:  # the input was written by this kernel's cores: meet first
            barrier = self._sync(op.name, produced_here, launch=0, cores=c, kernel=state.kernel)
        geo = ConvGeometry.of(graph, op) if conv else None
        R = self.core_cfg.array.rows
        on_rows = self.core_cfg.array.dataflow in ("ws", "is")
        folds = geo.row_folds(R) if geo is not None and on_rows else None
        remote = self._remote_bytes(x, geo, cm, cn, state) if on_chip and c > 1 else 0
        hops = mean_hops(self.cfg.noc.topology, c)
        for ci in range(active):
            im, jn = divmod(ci, cn)
            low, emitter = state.lowerings[ci], state.emitters[ci]
            m0, m1 = s.m * im // cm, s.m * (im + 1) // cm
            if barrier is not None:
                low.last_write[x] = barrier
                if remote:
                    low.last_write[x] = emitter.emit(
                        "RECV", "noc", op.name, {"hops": hops}, {"noc": remote,
                                                                  "sram_write": remote},
                        [barrier], x)
            if groups > 1:
                parts = [(g, s.n) for g in range(groups * jn // cn, groups * (jn + 1) // cn)]
                n_off = 0
            else:
                parts = [(0, s.n * (jn + 1) // cn - s.n * jn // cn)]
                n_off = s.n * jn // cn
            for g, n_len in parts:
                sub = dataclasses.replace(shapes[g], m=m1 - m0, n=n_len)
                if geo is not None:
                    def a_tiles(o: dict, g=g, width=s.a_bytes, m0=m0, geo=geo):
                        return [((x, g, *key), elems * width) for key, elems in
                                geo.region_tiles(o["m0"] + m0, o["dm"], o["k0"], o["dk"], R)]
                else:
                    def a_tiles(o: dict, g=g, width=s.a_bytes, m0=m0):
                        return [((x, g, o["m0"] + m0, o["k0"]), o["dm"] * o["dk"] * width)]
                low._lower_gemm(sub, op.name, x, g, folds, a_tiles, origin=(m0, n_off))
        state.layout[self.root(op.outputs[0])] = (cm, cn)
        return LayerInfo(op.name, op.type, sum(g.m * g.n * g.k for g in shapes),
                         dims={"m": s.m, "n": s.n, "k": s.k, "groups": groups,
                               "split_m": cm, "split_n": cn},
                         args=gemm_args(graph, op, x, "implicit" if conv else None))

    def _gemm_split_k(self, op: Op, state: _KernelState, s) -> LayerInfo:
        """Tensor parallelism for a row-parallel projection (``tp = "row"``, Megatron's output
        and down projections): core ``i`` multiplies the ``i``-th block of K of A and B into a
        partial C kept in its scratchpad; then a ring reduce-scatter over the on-chip network:
        each core receives the other ``c - 1`` partials of its ``N / c`` columns (``RECV``
        after a barrier), adds them (``VEC``) and stores its columns of C. The all-reduce's
        all-gather half is the next kernel reading C. Functional execution sums the partial
        tiles (absolute ``k0``) into C."""
        c = state.cores
        x, y = op.inputs[0], op.outputs[0]
        partial = f"{y}.partial"
        state.onchip.add(partial)
        produced_here = self._ready(x, state)
        barrier = None
        if produced_here:
            barrier = self._sync(op.name, produced_here, launch=0, cores=c, kernel=state.kernel)
        partial_stores = []
        for ci in range(c):
            low, emitter = state.lowerings[ci], state.emitters[ci]
            if barrier is not None:
                low.last_write[x] = barrier
            k0, k1 = s.k * ci // c, s.k * (ci + 1) // c
            sub = dataclasses.replace(s, k=k1 - k0, c_tensor=partial)

            def a_tiles(o: dict, width=s.a_bytes, k0=k0):
                return [((x, 0, o["m0"], o["k0"] + k0), o["dm"] * o["dk"] * width)]
            first = len(self.instructions)
            low._lower_gemm(sub, op.name, x, 0, None, a_tiles)
            for ins in self.instructions[first:]:
                if ins.op == "GEMM":
                    ins.dims["k0"] += k0
            partial_stores.append(emitter.writes.get(partial))
        meet = self._sync(op.name, partial_stores, launch=0, cores=c, kernel=state.kernel)
        hops = mean_hops(self.cfg.noc.topology, c)
        for ci in range(c):
            low, emitter = state.lowerings[ci], state.emitters[ci]
            n_len = s.n * (ci + 1) // c - s.n * ci // c
            part = s.m * n_len * s.c_bytes
            recv = emitter.emit("RECV", "noc", op.name, {"hops": hops, "steps": c - 1},
                                {"noc": (c - 1) * part, "sram_write": (c - 1) * part},
                                [meet], partial)
            add = emitter.emit("VEC", "vector", op.name,
                               {"work": (c - 1) * s.m * n_len, "elements": s.m * n_len},
                               {}, [recv], y)
            low.last_write[y] = emitter.emit("STORE", "dma_store", op.name, {},
                                             {"sram_read": part, "dram_write": part}, [add], y)
        state.layout[self.root(y)] = (1, c)
        return LayerInfo(op.name, op.type, s.m * s.n * s.k,
                         dims={"m": s.m, "n": s.n, "k": s.k, "groups": 1, "split_m": 1,
                               "split_n": 1, "split_k": c},
                         args=gemm_args(self.graph, op, x))

    def _remote_bytes(self, x: str, geo: ConvGeometry | None, cm: int, cn: int,
                      state: _KernelState) -> int:
        """Bytes of the on-chip input ``x`` one core must pull from other cores: it needs its
        row block's pixels (plus the halo a kxk window reads) with all channels; it holds
        ``1/cn_p`` of that if the producer used the same row blocks, else ``1/cores``."""
        total = self.nbytes(x)
        needed = -(-total // cm)
        if geo is not None and cm > 1 and geo.kh > 1:
            needed = min(total, needed + (geo.kh - 1) * -(-total // max(1, geo.height)))
        pm, pn = state.layout.get(self.root(x), (state.cores, 1))
        local = needed // pn if pm == cm else needed // state.cores
        return needed - local

    def _vector(self, op: Op, state: _KernelState, work: int | None = None) -> LayerInfo:
        """Each core: LOAD its share of every input, one VEC, STORE its share of the outputs."""
        graph, c = self.graph, state.cores
        work = vector_work(graph, op, self.cfg.core.vector.costs) if work is None else work
        out_elems = sum(graph.tensor(t).numel for t in op.outputs if t)
        inputs = list(dict.fromkeys(t for t in op.inputs if t))
        ready = {name: self._ready(name, state) for name in inputs}
        for ci in range(c):
            emitter = state.emitters[ci]
            loads = []
            for name in inputs:
                tensor = graph.tensor(name)
                total = self.nbytes(name)
                if op.attrs.get("gather_rows") and name == op.inputs[0]:
                    total = sum(graph.tensor(t).numel for t in op.outputs if t) * \
                        element_bytes(graph, name, self.wb)  # a lookup: the rows it takes
                    share = total * (ci + 1) // c - total * ci // c
                else:
                    share = total if tensor.values is not None else \
                        total * (ci + 1) // c - total * ci // c
                loads.append(emitter.emit("LOAD", "dma_load", op.name, {},
                                          {"dram_read": share, "sram_write": share},
                                          ready[name], name))
            part = work * (ci + 1) // c - work * ci // c
            elems = out_elems * (ci + 1) // c - out_elems * ci // c
            vec = emitter.emit("VEC", "vector", op.name, {"work": part, "elements": elems}, {},
                               loads, op.outputs[0])
            for name in (t for t in op.outputs if t):
                total = self.nbytes(name)
                share = total * (ci + 1) // c - total * ci // c
                store = emitter.emit("STORE", "dma_store", op.name, {},
                                     {"sram_read": share, "dram_write": share}, [vec], name)
                state.lowerings[ci].last_write[name] = store
        first = self.root(inputs[0]) if inputs else None
        for name in op.outputs:
            if name:
                state.layout[self.root(name)] = state.layout.get(first, (c, 1))
        return LayerInfo(op.name, op.type, 0, dims={"elements": out_elems}, vector_ops=work,
                         args=op_args(graph, op))


def is_depthwise(graph: Graph, op: Op) -> bool:
    """A conv with one input channel per group: it runs on the vector unit (one multiply-add
    per tap and output), as NPUs run depthwise layers, not as one-column GEMMs on the array."""
    if op.type != "Conv":
        return False
    group = int(op.attrs.get("group", 1))
    return group > 1 and graph.tensor(op.inputs[1]).shape[1] == 1


def depthwise_work(graph: Graph, op: Op) -> int:
    kh, kw = op.attrs["kernel_shape"]
    return graph.tensor(op.outputs[0]).numel * kh * kw


@dataclass
class _KernelState:
    cores: int
    kernel: int
    launch: int
    onchip: set[str]
    emitters: list[_CoreBuilder]
    lowerings: list[_CoreLowering]
    layout: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


def check_plan(graph: Graph, kernels: Sequence[KernelSpec], config: NpuConfig,
               first_core: int = 0) -> None:
    """Kernels must cover the graph's ops once, in order, each on 1..cores cores."""
    names = [name for k in kernels for name in k.ops]
    if names != [op.name for op in graph.ops]:
        raise WorkloadError("an npu plan must list every op once, in graph order, as "
                            "consecutive kernels", where=graph.name)
    for k in kernels:
        if not 1 <= k.cores or first_core + k.cores > config.cores:
            raise WorkloadError(f"kernel {k.ops[0]!r}..{k.ops[-1]!r} asks for {k.cores} cores "
                                f"from core {first_core}; the config has {config.cores}",
                                where=graph.name)


def layer_by_layer(graph: Graph, cores: int) -> list[KernelSpec]:
    """The untuned plan: every op its own kernel; a free view joins the kernel before it."""
    kernels: list[list[str]] = []
    for op in graph.ops:
        if is_view(op.type) and kernels:
            kernels[-1].append(op.name)
        else:
            kernels.append([op.name])
    return [KernelSpec(tuple(k), cores) for k in kernels]


def lower_kernels(graph: Graph, config: NpuConfig, kernels: Sequence[KernelSpec],
                  workload: str | None = None, first_core: int = 0) -> Trace:
    """Lower ``graph`` as the given kernels (each a run of consecutive ops on its core count)."""
    graph.validate()
    check_plan(graph, kernels, config, first_core)
    by_name = {op.name: op for op in graph.ops}
    lowering = NpuLowering(config, graph, first_core)
    for k, spec in enumerate(kernels):
        lowering.lower_kernel([by_name[n] for n in spec.ops], spec.cores, k)
    return lowering.builder.trace("npu", config, workload or graph.name, lowering.layers)


def plan_from_graph(graph: Graph, config: NpuConfig) -> list[KernelSpec]:
    """The kernels a fusion pass wrote into op attrs (``npu_kernel``, ``npu_cores``); without
    them, layer by layer on the config's ``default_cores``."""
    if not any("npu_kernel" in op.attrs for op in graph.ops):
        return layer_by_layer(graph, config.default_cores)
    kernels: list[KernelSpec] = []
    current: list[str] = []
    tag, cores = None, config.default_cores
    for op in graph.ops:
        key = op.attrs.get("npu_kernel")
        if current and key != tag:
            kernels.append(KernelSpec(tuple(current), cores))
            current = []
        current.append(op.name)
        tag, cores = key, int(op.attrs.get("npu_cores", config.default_cores))
    kernels.append(KernelSpec(tuple(current), cores))
    return kernels


def lower_npu(graph: Graph, config: NpuConfig, workload: str | None = None) -> Trace:
    """The target's lowering: the plan from the graph (see :func:`plan_from_graph`)."""
    return lower_kernels(graph, config, plan_from_graph(graph, config), workload)
