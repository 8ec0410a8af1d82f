"""Rewrite a transformer ONNX model so onnxruntime hands back its attention maps.

:func:`instrument` makes every attention Softmax output a graph output (an attention Softmax is
one whose output, possibly through a NaN guard, is the left operand of a MatMul), optionally adds
a per-layer additive key mask in front of each such Softmax (how Block-Skim is emulated on a
model whose reshapes are tied to the input length: a token masked as a key from layer ``l`` on
influences no kept token from then on, exactly as if it were removed, because attention is the
only place tokens mix), and optionally exposes the last hidden state (the output of the last
LayerNormalization). Nodes that the kept outputs do not need (poolers, heads) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workloads.errors import WorkloadError

#: Prefix of the mask inputs :func:`instrument` adds (one per attention layer).
MASK_INPUT = "archsim_skim_mask_"
#: BERT's [CLS] and [SEP] token ids (WordPiece vocabulary of bert-base-uncased and MiniLM).
CLS_ID, SEP_ID = 101, 102


@dataclass
class Instrumented:
    model: Any                 # onnx.ModelProto
    probs: list[str]           # attention Softmax outputs, in layer order
    masks: list[str]           # per-layer additive key-mask inputs ([] unless asked for)
    hidden: str | None         # the last hidden state output, if asked for


def attention_softmaxes(model: Any) -> list[Any]:
    """The attention Softmax nodes, in graph (= layer) order."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def feeds_matmul(name: str, depth: int = 3) -> bool:
        for c in consumers.get(name, []):
            if c.op_type == "MatMul" and c.input[0] == name:
                return True
            if depth and c.op_type in ("Where", "Cast", "Dropout", "Identity") and \
                    feeds_matmul(c.output[0], depth - 1):
                return True
        return False

    return [n for n in model.graph.node if n.op_type == "Softmax" and feeds_matmul(n.output[0])]


def instrument(model: Any, masks: bool = False, hidden: bool = False,
               where: str = "model") -> Instrumented:
    """A copy of ``model`` whose outputs are the attention maps (and the last hidden state)."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    softmaxes = attention_softmaxes(out)
    if not softmaxes:
        raise WorkloadError("no attention Softmax found (a Softmax whose output is the left "
                            "operand of a MatMul)", where=where)
    mask_names: list[str] = []
    if masks:
        nodes = list(graph.node)
        for i, sm in enumerate(softmaxes):
            name = f"{MASK_INPUT}{i}"
            graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["seq"]))
            masked = f"{sm.output[0]}.archsim_masked_scores"
            add = helper.make_node("Add", [sm.input[0], name], [masked],
                                   name=f"{sm.name}.archsim_skim_mask")
            sm.input[0] = masked
            nodes.insert(nodes.index(sm), add)
            mask_names.append(name)
        del graph.node[:]
        graph.node.extend(nodes)
    hidden_name = None
    if hidden:
        norms = [n for n in graph.node if n.op_type == "LayerNormalization"]
        if not norms:
            raise WorkloadError("no LayerNormalization to take the last hidden state from",
                                where=where)
        hidden_name = norms[-1].output[0]
    probs = [sm.output[0] for sm in softmaxes]
    keep = probs + ([hidden_name] if hidden_name else [])
    del graph.output[:]
    graph.output.extend(helper.make_empty_tensor_value_info(n) for n in keep)
    for o in graph.output:
        o.type.tensor_type.elem_type = TensorProto.FLOAT
    _prune(graph, keep)
    return Instrumented(out, probs, mask_names, hidden_name)


def _prune(graph: Any, outputs: list[str]) -> None:
    """Drop nodes no kept output depends on, and graph inputs nothing reads any more."""
    needed = set(outputs)
    kept = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:           # subgraphs (If/Loop) read outer names
                for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    needed.update(i for n in g.node for i in n.input)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    inputs = [i for i in graph.input if i.name in needed]
    del graph.input[:]
    graph.input.extend(inputs)


def vocab_size(model: Any, default: int = 30522) -> int:
    """Rows of the word-embedding table the ``input_ids`` input indexes (default BERT's)."""

    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == "input_ids":
            table = inits.get(node.input[0])
            if table is not None and table.dims:
                return int(table.dims[0])
            q = inits.get(f"{node.input[0]}_q")   # dequantized table (int8 + scale)
            if q is not None:
                return int(q.dims[0])
    return default


def random_ids(length: int, vocab: int, seed: int = 0) -> np.ndarray:
    """[CLS] w1 ... w(n-2) [SEP] with seeded ordinary word ids (ids >= 1000)."""
    if length < 2:
        raise WorkloadError(f"a sequence needs at least 2 tokens ([CLS] and [SEP]); got {length}")
    rng = np.random.default_rng(seed)
    body = rng.integers(1000, max(1001, vocab), size=length - 2)
    return np.concatenate([[CLS_ID], body, [SEP_ID]]).astype(np.int64)


def feeds(model: Any, ids: np.ndarray | None, length: int, seed: int = 0) -> dict[str, Any]:
    """Inputs for one sequence: token inputs from ``ids`` (mask ones, segment zeros); float
    inputs (e.g. the zoo BERT's embeddings) seeded standard normal with dynamic dims = length."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    init_names = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in init_names or vi.name.startswith(MASK_INPUT):
            continue
        elem = vi.type.tensor_type.elem_type
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]
        if elem in (TensorProto.INT64, TensorProto.INT32):
            dtype = helper.tensor_dtype_to_np_dtype(elem)
            if ids is None:
                raise WorkloadError(f"model input {vi.name!r} takes token ids: give --text-ids "
                                    "or --random-seq")
            if "mask" in vi.name:
                value = np.ones(len(ids))
            elif "type" in vi.name or "segment" in vi.name:
                value = np.zeros(len(ids))
            else:
                value = ids
            out[vi.name] = value.astype(dtype)[None, :] if len(dims) == 2 else value.astype(dtype)
        else:
            shape = [d if d else (length if i == len(dims) - 2 or len(dims) == 1 else 1)
                     for i, d in enumerate(dims)]
            out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out
