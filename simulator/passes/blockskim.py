"""``--pass blockskim:keep=1,1,0.8,...`` (or ``threshold=T``): Block-Skim on a transformer Graph.

Block-Skim (Guan et al., AAAI 2022) cuts the sequence into blocks of 32 tokens and, after each
layer, drops the blocks its predictor judges unimportant from the hidden states of every later
layer. Here that is a shape rewrite: a ``Gather`` on the hidden state entering layer ``l`` keeps
the surviving token positions, and the sequence axis is carried forward through every later op
(projections, attention MatMuls, Softmax, reshapes, residuals), so the GEMMs and attention
MatMuls of later layers are lowered at their reduced sizes. A broadcast operand that still has
the original length on a skimmed axis (an attention mask) is gathered too. Before each layer that
drops blocks, the deciding layer's predictor runs as real ops: diagonal-block extraction (a
Gather), two conv3x3 + BatchNorm + ReLU + avgpool stages and a 2-way Gemm (``predictor=cnn``),
or the training-free score's reductions (``predictor=mass``), or nothing (``predictor=none``).

Options (comma-separated ``key=value``; ``keep`` takes one value per encoder layer):

- ``keep=F0,F1,...``: fraction of the original tokens alive entering each layer, non-increasing,
  rounded to whole blocks (missing trailing layers repeat the last value);
- ``threshold=T``: derive the schedule from the model's own attention maps instead (run in
  onnxruntime on seeded inputs; needs a Graph with weight values, e.g. an ONNX model or zoo
  model), keeping blocks whose training-free score is >= T from layer ``start`` on;
- ``block=32``, ``start=1`` (first layer that may be skimmed in threshold mode),
  ``predictor=cnn|mass|none`` (default cnn), ``seed=0``;
- ``weights=FILE.npz`` (or ``weights=packaged``: the predictor trained on real text for MiniLM-L6,
  :data:`~simulator.passes.blockskim_scores.PACKAGED_PREDICTOR`): the CNN predictor's trained
  weights (``layer<L>.<param>``); without it the CNN gets seeded random weights of the right
  shapes, which time the same but decide nothing;
- ``predict_from=L``: run the predictors from layer ``L`` on even where no block is dropped (a
  real run decides at every layer, whatever it then keeps; default: from the first layer that
  drops).

Encoder layers are found structurally, not by name: each attention Softmax whose output feeds a
MatMul marks a layer, and its entry hidden state is the activation operand of the projection
that produced the query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.passes import PassError, copy_graph, register
from workloads import ops
from workloads.graph import Graph, Op, Tensor

PREDICTORS = ("cnn", "mass", "none")


def _spec(op_type: str) -> ops.OpSpec | None:
    return ops.find(op_type)


def carried_elementwise(op_type: str) -> bool:
    """The sequence axis passes through elementwise: every output has the numpy broadcast
    shape of the inputs (elementwise ops, the Softmax family, LayerNormalization, Identity)."""
    spec = _spec(op_type)
    return spec is not None and spec.broadcasts


def carried_along_axis(op_type: str) -> bool:
    """Joins or splits along attribute ``axis``; the other axes pass through (Concat, Split)."""
    spec = _spec(op_type)
    return spec is not None and spec.along_axis


def reduces_axes(op_type: str) -> bool:
    """Reduces over ``axes`` (attribute or input 1) with ``keepdims``: the Reduce* ops."""
    spec = _spec(op_type)
    return spec is not None and spec.reduces_axes


@dataclass
class EncoderLayer:
    """One attention layer: its entry hidden state, that tensor's sequence axis, its Softmax."""

    index: int
    entry: str
    seq_axis: int
    softmax: str        # op name
    probs: str          # the Softmax output tensor


@dataclass
class SkimOptions:
    keep: list[float] | None = None
    threshold: float | None = None
    block: int = 32
    start: int = 1
    predictor: str = "cnn"
    seed: int = 0
    weights: str | None = None
    predict_from: int | None = None


# ---------------------------------------------------------------------------------------------
# options


def parse_options(option: str | None, where: str) -> SkimOptions:
    """``keep=1,1,0.5,block=32`` -> SkimOptions (a bare number continues the previous key)."""
    items: dict[str, list[str]] = {}
    key = None
    for token in filter(None, (option or "").split(",")):
        name, eq, value = token.partition("=")
        if eq:
            key = name.strip()
            items.setdefault(key, []).append(value)
        elif key == "keep":
            items[key].append(token)
        else:
            raise PassError(f"expected key=value, got {token!r}", where=where)
    opts = SkimOptions()
    accepted = ("keep", "threshold", "block", "start", "predictor", "seed", "weights",
                "predict_from")
    for name, values in items.items():
        if name not in accepted:
            raise PassError(f"unknown option {name!r}; accepted: {', '.join(accepted)}",
                            where=where)
        try:
            if name == "keep":
                opts.keep = [float(v) for v in values]
            elif name == "threshold":
                opts.threshold = float(values[-1])
            elif name in ("predictor", "weights"):
                setattr(opts, name, values[-1])
            else:
                setattr(opts, name, int(values[-1]))
        except ValueError:
            raise PassError(f"{name} takes numbers; got {','.join(values)!r}",
                            where=where) from None
    if (opts.keep is None) == (opts.threshold is None):
        raise PassError("give either keep=F0,F1,... (one fraction per layer) or threshold=T",
                        where=where)
    if opts.predictor not in PREDICTORS:
        raise PassError(f"predictor must be one of {', '.join(PREDICTORS)}; got "
                        f"{opts.predictor!r}", where=where)
    if opts.block < 4 or opts.block % 4:
        raise PassError(f"block must be a positive multiple of 4; got {opts.block}", where=where)
    if opts.keep is not None:
        if any(not 0 < f <= 1 for f in opts.keep):
            raise PassError("keep fractions must be in (0, 1]", where=where)
        if any(b > a for a, b in zip(opts.keep, opts.keep[1:], strict=False)):
            raise PassError("keep must be non-increasing (skimmed blocks never come back)",
                            where=where)
    return opts


def blocks_per_layer(keep: list[float], layers: int, length: int, block: int) -> list[int]:
    """Blocks alive entering each layer: round(keep * K), at least 1, non-increasing; the
    schedule is padded with its last value (or cut) to ``layers`` entries."""
    k = length // block
    fractions = (list(keep) + [keep[-1]] * layers)[:layers]
    out, prev = [], k
    for f in fractions:
        n = min(prev, max(1, int(math.floor(f * k + 0.5))))
        out.append(n)
        prev = n
    return out


# ---------------------------------------------------------------------------------------------
# finding the encoder layers


def _constant_tensors(graph: Graph) -> set[str]:
    """Tensors with values, and outputs of ops that read only such tensors (e.g. dequantize)."""
    const = {n for n, t in graph.tensors.items() if t.values is not None and n not in graph.inputs}
    for op in graph.ops:
        if op.inputs and all((not i) or i in const for i in op.inputs):
            const.update(op.outputs)
    return const


def encoder_layers(graph: Graph) -> list[EncoderLayer]:
    """The attention layers in order (see the module doc); [] for a graph without attention."""
    producer = graph.producers()
    const = _constant_tensors(graph)
    consumers: dict[str, list[Op]] = {}
    for op in graph.ops:
        for name in op.inputs:
            consumers.setdefault(name, []).append(op)

    def feeds_matmul(name: str, depth: int = 3) -> bool:
        for c in consumers.get(name, []):
            if c.type == "MatMul" and c.inputs[0] == name:
                return True
            if depth and c.type in ("Where", "Cast", "Dropout", "Identity") and \
                    feeds_matmul(c.outputs[0], depth - 1):
                return True
        return False

    def activation_input(op: Op) -> str | None:
        live = [i for i in op.inputs if i and i not in const]
        return live[0] if len(live) == 1 else None

    layers: list[EncoderLayer] = []
    for op in graph.ops:
        if op.type != "Softmax" or not feeds_matmul(op.outputs[0]):
            continue
        name = op.inputs[0]
        for _ in range(16):                   # back to the scores MatMul
            p = producer.get(name)
            if p is None or p.type == "MatMul":
                break
            name = p.inputs[0] if p.inputs[0] not in const else activation_input(p) or ""
        scores = producer.get(name)
        if scores is None or scores.type != "MatMul":
            continue
        name = scores.inputs[0]
        entry = None
        for _ in range(16):                   # back to the query projection
            p = producer.get(name)
            if p is None:
                break
            if p.type in ("MatMul", "Gemm") and len(p.inputs) > 1 and p.inputs[1] in const:
                entry = p.inputs[0]
                break
            nxt = activation_input(p)
            if nxt is None:
                break
            name = nxt
        if entry is None:
            continue
        rank = len(graph.tensor(entry).shape)
        layers.append(EncoderLayer(len(layers), entry, rank - 2, op.name, op.outputs[0]))
    return layers


def layer_of_ops(graph: Graph, layers: list[EncoderLayer] | None = None) -> dict[str, int]:
    """Op name -> encoder layer index (-1 before the first layer), by position in the op list:
    layer ``l`` starts at the first op that reads its entry hidden state."""
    layers = encoder_layers(graph) if layers is None else layers
    starts = []
    for layer in layers:
        first = next(i for i, op in enumerate(graph.ops) if layer.entry in op.inputs)
        starts.append(first)
    out: dict[str, int] = {}
    current = -1
    for i, op in enumerate(graph.ops):
        while current + 1 < len(starts) and i >= starts[current + 1]:
            current += 1
        out[op.name] = current
    return out


# ---------------------------------------------------------------------------------------------
# MAC counting (the FLOP ratio the pass predicts)


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of a Gemm, MatMul or Conv at the graph's shapes (0 for others)."""
    out = graph.tensor(op.outputs[0]).shape
    if op.type == "MatMul":
        return math.prod(out) * graph.tensor(op.inputs[0]).shape[-1]
    if op.type == "Gemm":
        a = graph.tensor(op.inputs[0]).shape
        return math.prod(out) * (a[0] if op.attrs.get("transA") else a[1])
    if op.type == "Conv":
        w = graph.tensor(op.inputs[1]).shape
        return math.prod(out) * math.prod(w[1:])
    return 0


def macs_by_layer(graph: Graph, n_layers: int, layer_of: dict[str, int]) -> list[int]:
    """MACs per encoder layer (ops before the first layer are counted with layer 0)."""
    out = [0] * max(1, n_layers)
    for op in graph.ops:
        out[max(0, layer_of.get(op.name, 0))] += op_macs(graph, op)
    return out


# ---------------------------------------------------------------------------------------------
# the rewrite


class _Rewriter:
    """One forward sweep: inserts skim Gathers and predictor ops, carries the shrunk axes."""

    def __init__(self, src: Graph, opts: SkimOptions, length: int) -> None:
        self.src = src
        self.out = copy_graph(src)
        self.out.ops = []
        self.opts = opts
        self.length = length
        self.marks: dict[str, dict[int, int]] = {}      # tensor -> {axis: new length}
        self.rename: dict[str, str] = {}
        self.alive = np.arange(length)                  # absolute positions alive now
        self.predictor_macs = 0
        self.aligned: set[str] = set()                  # broadcast operands gathered here
        self.trained = None
        if opts.weights and opts.predictor == "cnn":
            from simulator.passes.blockskim_scores import PredictorError, predictor_weights

            try:
                self.trained = predictor_weights(opts.weights)
            except PredictorError as err:
                raise PassError(err.what, where=f"--pass blockskim: {err.where or ''}") from None

    # -- helpers --------------------------------------------------------------------------------
    def orig(self, name: str) -> tuple[int, ...]:
        return self.src.tensor(name).shape if name in self.src.tensors else \
            self.out.tensor(name).shape

    def const(self, name: str, values: np.ndarray) -> str:
        values = np.asarray(values)
        self.out.add_tensor(Tensor(name, tuple(values.shape), values=values,
                                   dtype=str(values.dtype)))
        return name

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str = "float32") -> str:
        self.out.add_tensor(Tensor(name, tuple(int(d) for d in shape), dtype=dtype))
        return name

    def emit(self, op: Op) -> None:
        self.out.ops.append(op)

    def gather(self, x: str, positions: np.ndarray, axis: int, name: str) -> str:
        """A skim Gather of ``positions`` along ``axis``; the output is marked shrunk."""
        shape = list(self.out.tensor(x).shape)
        shape[axis] = len(positions)
        idx = self.const(f"{name}.indices", positions.astype(np.int64))
        y = self.tensor(name, tuple(shape), self.out.tensor(x).dtype)
        self.emit(Op(name, "Gather", [x, idx], [y], {"axis": axis, "blockskim": True}))
        marks = dict(self.marks.get(x, {}))
        marks[axis] = len(positions)
        self.marks[y] = marks
        return y

    # -- skimming -----------------------------------------------------------------------------
    def skim(self, layer: EncoderLayer, keep_blocks: np.ndarray) -> None:
        """Keep ``keep_blocks`` (absolute block ids, all currently alive) from layer on."""
        b = self.opts.block
        keep_pos = (keep_blocks[:, None] * b + np.arange(b)[None, :]).ravel()
        rel = np.searchsorted(self.alive, keep_pos)
        entry = self.rename.get(layer.entry, layer.entry)
        y = self.gather(entry, rel, layer.seq_axis, f"blockskim.layer{layer.index}")
        self.rename[layer.entry] = y
        self.alive = keep_pos

    def predictor(self, layer: EncoderLayer) -> None:
        """Ops of the predictor that reads ``layer``'s attention probabilities."""
        if self.opts.predictor == "none":
            return
        probs = self.rename.get(layer.probs, layer.probs)
        shape = self.out.tensor(probs).shape
        heads, length, b = shape[-3], shape[-1], self.opts.block
        k = length // b
        base = f"blockskim.predict{layer.index}"
        flat = self.tensor(f"{base}.flat", (math.prod(shape),))
        self.emit(Op(f"{base}.flat", "Reshape", [probs, self.const(
            f"{base}.flat_shape", np.array([-1], np.int64))], [flat], {"shape": [-1]}))
        if self.opts.predictor == "mass":
            cols = self.tensor(f"{base}.received", (length,))
            axes = self.const(f"{base}.axes", np.arange(len(shape) - 1, dtype=np.int64))
            self.emit(Op(f"{base}.received", "ReduceSum", [probs, axes], [cols],
                         {"keepdims": 0}))
            grid = self.tensor(f"{base}.grid", (k, b))
            self.emit(Op(f"{base}.grid", "Reshape", [cols, self.const(
                f"{base}.grid_shape", np.array([k, b], np.int64))], [grid], {"shape": [k, b]}))
            score = self.tensor(f"{base}.score", (k,))
            self.emit(Op(f"{base}.score", "ReduceSum", [grid, self.const(
                f"{base}.score_axes", np.array([1], np.int64))], [score], {"keepdims": 0}))
            return
        # diagonal blocks as one gather from the flattened maps: [K, H, b, b]
        ki, hi, qi, ji = np.meshgrid(np.arange(k), np.arange(heads), np.arange(b), np.arange(b),
                                     indexing="ij")
        flat_idx = (hi * length + ki * b + qi) * length + ki * b + ji
        images = self.tensor(f"{base}.blocks", (k, heads, b, b))
        self.emit(Op(f"{base}.blocks", "Gather", [flat, self.const(
            f"{base}.block_index", flat_idx.astype(np.int64))], [images], {"axis": 0}))
        params = self._cnn_params(layer.index, heads, b)
        x, side = images, b
        for stage in (1, 2):
            name = f"{base}.conv{stage}"
            w = self.const(f"{name}.weight", params[f"conv{stage}.weight"])
            bias = self.const(f"{name}.bias", params[f"conv{stage}.bias"])
            y = self.tensor(name, (k, heads, side, side))
            self.emit(Op(name, "Conv", [x, w, bias], [y], {
                "kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "group": 1,
                "dilations": [1, 1]}))
            self.predictor_macs += k * heads * side * side * heads * 9
            bn = f"{base}.bn{stage}"
            bn_params = [self.const(f"{bn}.{p}", params[f"bn{stage}.{key}"]) for p, key in (
                ("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"),
                ("var", "running_var"))]
            z = self.tensor(bn, (k, heads, side, side))
            self.emit(Op(bn, "BatchNormalization", [y, *bn_params], [z], {"epsilon": 1e-5}))
            r = self.tensor(f"{base}.relu{stage}", (k, heads, side, side))
            self.emit(Op(f"{base}.relu{stage}", "Relu", [z], [r]))
            side //= 2
            x = self.tensor(f"{base}.pool{stage}", (k, heads, side, side))
            self.emit(Op(f"{base}.pool{stage}", "AveragePool", [r], [x], {
                "kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0]}))
        feat = heads * side * side
        flat_x = self.tensor(f"{base}.features", (k, feat))
        self.emit(Op(f"{base}.features", "Reshape", [x, self.const(
            f"{base}.features_shape", np.array([k, feat], np.int64))], [flat_x],
            {"shape": [k, feat]}))
        w = self.const(f"{base}.fc.weight", params["fc.weight"])
        logits = self.tensor(f"{base}.logits", (k, 2))
        self.emit(Op(f"{base}.logits", "Gemm", [flat_x, w, self.const(
            f"{base}.fc.bias", params["fc.bias"])], [logits], {"transB": 1}))
        self.predictor_macs += k * 2 * feat
        p = self.tensor(f"{base}.keep_prob", (k, 2))
        self.emit(Op(f"{base}.keep_prob", "Softmax", [logits], [p], {"axis": -1}))

    def _cnn_params(self, layer: int, heads: int, block: int) -> dict[str, np.ndarray]:
        """The trained predictor of ``layer`` (``weights=``), or seeded random weights with
        an identity BatchNorm (the cost is the same; the decisions are not)."""
        if self.trained is not None:
            from simulator.passes.blockskim_scores import PredictorError

            pred = self.trained.get(layer, self.trained.get(-1))
            if pred is None:
                raise PassError(f"the predictor weights have no layer{layer}.* entries",
                                where=f"--pass blockskim:weights={self.opts.weights}")
            try:
                pred.check(heads, block)
            except PredictorError as err:
                raise PassError(err.what, where=f"--pass blockskim:weights={self.opts.weights}"
                                ) from None
            return {k: np.asarray(v, np.float32) for k, v in pred.params.items()}
        rng = np.random.default_rng(self.opts.seed + layer)
        feat = heads * (block // 4) ** 2
        out: dict[str, np.ndarray] = {}
        for stage in (1, 2):
            out[f"conv{stage}.weight"] = (rng.standard_normal((heads, heads, 3, 3)) /
                                          np.sqrt(9 * heads)).astype(np.float32)
            out[f"conv{stage}.bias"] = np.zeros(heads, np.float32)
            out[f"bn{stage}.weight"] = np.ones(heads, np.float32)
            out[f"bn{stage}.bias"] = np.zeros(heads, np.float32)
            out[f"bn{stage}.running_mean"] = np.zeros(heads, np.float32)
            out[f"bn{stage}.running_var"] = np.ones(heads, np.float32)
        out["fc.weight"] = (rng.standard_normal((2, feat)) / np.sqrt(feat)).astype(np.float32)
        out["fc.bias"] = np.zeros(2, np.float32)
        return out

    # -- carrying the shrunk axes ------------------------------------------------------------
    def carry(self, op: Op) -> None:
        """Append ``op`` (inputs renamed) with its output shapes rewritten for shrunk inputs."""
        op.inputs = [self.rename.get(i, i) for i in op.inputs]
        if not any(i in self.marks for i in op.inputs):
            self.emit(op)
            return
        if carried_elementwise(op.type):
            self._elementwise(op)
        elif op.type == "MatMul":
            self._matmul(op)
        elif op.type == "Gemm":
            self._gemm(op)
        elif op.type == "Transpose":
            (a_marks,) = [self.marks[op.inputs[0]]]
            perm = op.attrs.get("perm") or list(range(len(self.orig(op.inputs[0]))))[::-1]
            self._set(op.outputs[0], {perm.index(a): n for a, n in a_marks.items()})
        elif ops.is_view(op.type):
            self._reshape(op)
        elif op.type == "Gather":
            self._gather(op)
        elif carried_along_axis(op.type):
            self._pass_through(op)
        elif reduces_axes(op.type):
            self._reduce(op)
        else:
            raise PassError(f"cannot carry the skimmed sequence axis through {op.type} "
                            f"(node {op.name!r}); supported: elementwise ops, MatMul, Gemm, "
                            "Transpose, views (Reshape/Flatten/Squeeze/Unsqueeze), Gather, Concat, "
                            "Split, Reduce*",
                            where="--pass blockskim")
        self.emit(op)

    def _set(self, name: str, marks: dict[int, int]) -> None:
        shape = list(self.orig(name))
        for axis, n in marks.items():
            shape[axis] = n
        self.out.tensors[name] = Tensor(name, tuple(shape), self.out.tensor(name).bits,
                                        None, self.out.tensor(name).density,
                                        self.out.tensor(name).dtype)
        self.marks[name] = dict(marks)

    def _align(self, op: Op, index: int, axis: int, n: int) -> None:
        """Input ``index`` must have length ``n`` on ``axis``: gather it if it still has the
        original length there (a broadcast mask), accept 1 (broadcast), else fail."""
        name = op.inputs[index]
        have = self.marks.get(name, {}).get(axis, self.orig(name)[axis])
        if have in (n, 1):
            return
        if have != self.length:
            raise PassError(f"node {op.name!r}: input {name!r} has length {have} on a skimmed "
                            f"axis of length {n}", where="--pass blockskim")
        if name in self.marks and name not in self.aligned:
            raise PassError(f"node {op.name!r}: input {name!r} is skimmed on another axis",
                            where="--pass blockskim")
        # a broadcast operand (a mask) may need the sequence axis cut on two of its axes, e.g. an
        # expanded [1, 1, L, L] attention mask: gather it again on the second one
        suffix = f".{axis}" if name in self.aligned else ""
        op.inputs[index] = self.gather(name, self.alive, axis,
                                       f"{op.name}.skim_in{index}{suffix}")
        self.aligned.add(op.inputs[index])

    def _elementwise(self, op: Op) -> None:
        rank = len(self.orig(op.outputs[0]))
        out: dict[int, int] = {}
        for i in op.inputs:
            if i in self.marks:
                r = len(self.out.tensor(i).shape)
                for a, n in self.marks[i].items():
                    if out.setdefault(a + rank - r, n) != n:
                        raise PassError(f"node {op.name!r}: inputs disagree on a skimmed "
                                        "length", where="--pass blockskim")
        for index, i in enumerate(list(op.inputs)):
            if not i or op.type == "LayerNormalization" and index > 0:
                continue
            r = len(self.out.tensor(i).shape)
            for a, n in out.items():
                if a - (rank - r) >= 0:
                    self._align(op, index, a - (rank - r), n)
        for o in op.outputs:
            if o:
                self._set(o, out)

    def _matmul(self, op: Op) -> None:
        a, b = op.inputs[0], op.inputs[1]
        ra, rb = len(self.orig(a)), len(self.orig(b))
        rank = len(self.orig(op.outputs[0]))
        if ra < 2 or rb < 2:
            raise PassError(f"node {op.name!r}: 1-D MatMul on a skimmed tensor",
                            where="--pass blockskim")
        out: dict[int, int] = {}
        contracted = None
        for name, r, row_axis, inner_axis in ((a, ra, ra - 2, ra - 1), (b, rb, rb - 1, rb - 2)):
            for ax, n in self.marks.get(name, {}).items():
                if ax == inner_axis:
                    contracted = n
                elif ax == row_axis:
                    out[rank - 2 if name == a else rank - 1] = n
                else:
                    out[ax + rank - r] = n
        if contracted is not None:
            for index, inner in ((0, ra - 1), (1, rb - 2)):
                self._align(op, index, inner, contracted)
        self._set(op.outputs[0], out)

    def _gemm(self, op: Op) -> None:
        out: dict[int, int] = {}
        for index, name in enumerate(op.inputs[:2]):
            trans = bool(op.attrs.get("transA" if index == 0 else "transB"))
            for ax, n in self.marks.get(name, {}).items():
                keeps = (ax == 0) != trans if index == 0 else (ax == 1) != trans
                if not keeps:
                    raise PassError(f"node {op.name!r}: Gemm contracts the skimmed axis",
                                    where="--pass blockskim")
                out[index] = n
        self._set(op.outputs[0], out)

    def _reshape(self, op: Op) -> None:
        x, y = op.inputs[0], op.outputs[0]
        src, dst = self.orig(x), self.orig(y)
        out: dict[int, int] = {}
        for ax, n in self.marks[x].items():
            before = math.prod(src[:ax])
            match = [b for b in range(len(dst))
                     if dst[b] == src[ax] and math.prod(dst[:b]) == before]
            if not match:
                raise PassError(f"node {op.name!r}: {op.type} {src} -> {dst} merges or splits "
                                "the skimmed sequence axis", where="--pass blockskim")
            out[match[0]] = n
        self._set(y, out)
        if op.type == "Reshape":
            new_shape = list(self.out.tensor(y).shape)
            op.attrs = {**op.attrs, "shape": new_shape}
            if len(op.inputs) > 1 and op.inputs[1]:
                op.inputs[1] = self.const(f"{op.name}.skim_shape",
                                          np.array(new_shape, np.int64))

    def _gather(self, op: Op) -> None:
        data, idx = op.inputs[0], op.inputs[1]
        axis = op.attrs.get("axis", 0) % len(self.orig(data))
        r_idx = len(self.orig(idx))
        out: dict[int, int] = {}
        for ax, n in self.marks.get(data, {}).items():
            if ax == axis:
                values = self.out.tensor(idx).values
                if values is None or np.any(np.asarray(values) >= n):
                    raise PassError(f"node {op.name!r} gathers along the skimmed axis at "
                                    "positions that may be skimmed", where="--pass blockskim")
                continue
            out[ax if ax < axis else ax + r_idx - 1] = n
        if idx in self.marks:
            raise PassError(f"node {op.name!r}: skimmed gather indices", where="--pass blockskim")
        self._set(op.outputs[0], out)

    def _reduce(self, op: Op) -> None:
        """A reduction over the sequence (mean pooling) consumes the skimmed axis."""
        x = op.inputs[0]
        rank = len(self.orig(x))
        axes = op.attrs.get("axes")
        if axes is None and len(op.inputs) > 1 and op.inputs[1]:
            values = self.out.tensor(op.inputs[1]).values
            axes = None if values is None else np.asarray(values).ravel().tolist()
        axes = sorted(a % rank for a in (axes if axes else range(rank)))
        keepdims = op.attrs.get("keepdims", 1)
        out: dict[int, int] = {}
        for ax, n in self.marks[x].items():
            if ax not in axes:
                out[ax if keepdims else ax - sum(a < ax for a in axes)] = n
        self._set(op.outputs[0], out)

    def _pass_through(self, op: Op) -> None:
        axis = op.attrs.get("axis", 0)
        rank = len(self.orig(op.outputs[0]))
        out: dict[int, int] = {}
        for i in op.inputs:
            for ax, n in self.marks.get(i, {}).items():
                if ax == axis % rank:
                    raise PassError(f"node {op.name!r}: {op.type} along the skimmed axis",
                                    where="--pass blockskim")
                out[ax] = n
        for index, i in enumerate(op.inputs):
            if i and i not in self.marks and len(self.orig(i)) == rank and op.type == "Concat":
                for a, n in out.items():
                    self._align(op, index, a, n)
        for o in op.outputs:
            if o:
                self._set(o, out)


def rewrite(graph: Graph, layers: list[EncoderLayer], kept_blocks: list[np.ndarray],
            opts: SkimOptions) -> tuple[Graph, int]:
    """Apply a skim plan: ``kept_blocks[l]`` is the sorted array of absolute block ids alive
    entering layer ``l``. From the first layer that drops on, the predictor of the layer before
    runs ahead of each layer. Returns the graph and the predictors' MACs."""
    length = graph.tensor(layers[0].entry).shape[layers[0].seq_axis]
    rw = _Rewriter(graph, opts, length)
    first = {next(i for i, op in enumerate(graph.ops) if layer.entry in op.inputs): layer
             for layer in layers}
    n_blocks = length // opts.block
    alive = np.arange(n_blocks)
    skimming = [len(kept_blocks[i]) < (len(kept_blocks[i - 1]) if i else n_blocks)
                for i in range(len(layers))]
    start = next((i for i, s in enumerate(skimming) if s), None)
    if opts.predict_from is not None:
        start = min(opts.predict_from, len(layers) if start is None else start)
    for i, op in enumerate(graph.ops):
        layer = first.get(i)
        if layer is not None and start is not None and layer.index >= max(1, start):
            rw.predictor(layers[layer.index - 1])
        if layer is not None and skimming[layer.index]:
            keep = np.asarray(kept_blocks[layer.index])
            if not np.isin(keep, alive).all():
                raise PassError(f"layer {layer.index} keeps blocks skimmed earlier")
            rw.skim(layer, keep)
            alive = keep
        new = Op(op.name, op.type, list(op.inputs), list(op.outputs), dict(op.attrs))
        rw.carry(new)
    out = rw.out
    out.meta = dict(getattr(graph, "meta", {}))
    out.validate()
    return out, rw.predictor_macs


def plan_from_keep(keep: list[float], n_layers: int, length: int, block: int
                   ) -> list[np.ndarray]:
    """A keep schedule as kept block ids: the first ``n`` blocks of the sequence (which blocks
    survive does not change any cost; a real run decides them from attention, see
    :func:`simulator.passes.blockskim_maps.plan_from_threshold`)."""
    return [np.arange(n) for n in blocks_per_layer(keep, n_layers, length, block)]


@register("blockskim", default=None)
def blockskim_pass(graph: Graph, option: str | None) -> Graph:
    """Block-Skim: drop 32-token blocks from later layers (keep=F0,F1,... or threshold=T)."""
    where = f"--pass blockskim:{option or ''}"
    opts = parse_options(option, where)
    layers = encoder_layers(graph)
    if not layers:
        raise PassError("no attention layers found (a Softmax feeding a MatMul whose scores "
                        "come from query/key projections)", where=where)
    length = graph.tensor(layers[0].entry).shape[layers[0].seq_axis]
    if length % opts.block:
        raise PassError(f"sequence length {length} is not a multiple of block {opts.block}",
                        where=where)
    if opts.keep is not None:
        plan = plan_from_keep(opts.keep, len(layers), length, opts.block)
    else:
        from simulator.passes.blockskim_maps import plan_from_threshold

        plan = plan_from_threshold(graph, layers, opts)
    n_blocks = length // opts.block
    layer_of = layer_of_ops(graph, layers)
    before = macs_by_layer(graph, len(layers), layer_of)
    if all(len(p) == n_blocks for p in plan) and opts.predict_from is None:
        out, predictor_macs = copy_graph(graph), 0
    else:
        out, predictor_macs = rewrite(graph, layers, plan, opts)
    after = macs_by_layer(out, len(layers), layer_of_ops(out, encoder_layers(out)))
    out.meta = {**getattr(graph, "meta", {}), "blockskim": {
        "block": opts.block, "length": length,
        "tokens": [int(len(p)) * opts.block for p in plan],
        "kept_blocks": [p.tolist() for p in plan],
        "macs_before": before, "macs_after": after, "predictor_macs": predictor_macs,
        "flop_speedup": sum(before) / max(1, sum(after)),
    }}
    return out
