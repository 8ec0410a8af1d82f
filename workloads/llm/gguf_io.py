"""GGUF files through the ``gguf`` package: the model's shapes, its tokenizer, its weights.

Weights are dequantized to float32 numpy arrays in GGUF's layout (``[out, in]`` for a linear
layer), by their GGUF names. llama.cpp's converter permutes the rows of Q and K of ``llama``
models so that its interleaved RoPE equals Hugging Face's rotate-half form; :func:`read_weights`
undoes that permutation, so the graph and the numpy model use the rotate-half form throughout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workloads.errors import WorkloadError
from workloads.llm.model import ModelConfig

ARCHITECTURES = ("llama",)   # Llama, Mistral, SmolLM2 and Mixtral GGUF files all say "llama"


@functools.lru_cache(maxsize=2)
def _reader(path: str) -> Any:
    try:
        import gguf
    except ImportError:
        raise WorkloadError("reading .gguf files needs the gguf package: pip install "
                            "'archsim[llm]'", where=path) from None
    if not Path(path).is_file():
        raise WorkloadError("no such GGUF file", where=path)
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError) as err:
        raise WorkloadError(f"not a readable GGUF file: {err}", where=path) from None


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is None:
        if default is None:
            raise WorkloadError(f"GGUF metadata lacks {key!r}", where=reader.data.filename)
        return default
    return field.contents()


def read_config(path: str | Path) -> ModelConfig:
    """The model's shapes from the file's metadata (``{arch}.block_count``, heads, ...)."""
    reader = _reader(str(path))
    arch = _field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        raise WorkloadError(f"architecture {arch!r} is not supported; accepted: "
                            f"{', '.join(ARCHITECTURES)}", where=str(path))
    heads = int(_field(reader, f"{arch}.attention.head_count"))
    hidden = int(_field(reader, f"{arch}.embedding_length"))
    names = {t.name for t in reader.tensors}
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocab = int(_field(reader, f"{arch}.vocab_size", 0)) or (len(tokens.data) if tokens else 0)
    return ModelConfig(
        name=Path(path).stem,
        layers=int(_field(reader, f"{arch}.block_count")),
        hidden=hidden, heads=heads,
        kv_heads=int(_field(reader, f"{arch}.attention.head_count_kv", heads)),
        ffn=int(_field(reader, f"{arch}.feed_forward_length")),
        vocab=vocab,
        rope_theta=float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        norm_eps=float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        tied_embeddings="output.weight" not in names,
        experts=int(_field(reader, f"{arch}.expert_count", 0)),
        top_k=int(_field(reader, f"{arch}.expert_used_count", 0)),
        head_dim=int(_field(reader, f"{arch}.rope.dimension_count", hidden // heads)),
        gguf=str(path),
    )


def _unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of llama.cpp's ``permute`` of Q/K rows (pairs interleaved -> halves)."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_weights(path: str | Path, model: ModelConfig | None = None) -> dict[str, np.ndarray]:
    """Every tensor, dequantized to float32, by GGUF name (Q/K rows in rotate-half order;
    stacked expert tensors ``ffn_*_exps`` split into ``ffn_*.E``)."""
    import gguf

    reader = _reader(str(path))
    model = model or read_config(path)
    out: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        name = t.name
        if name.endswith("attn_q.weight"):
            w = _unpermute(w, model.heads)
        elif name.endswith("attn_k.weight"):
            w = _unpermute(w, model.kv_heads)
        if "_exps." in name:
            base = name.replace("_exps.weight", "")
            for e in range(w.shape[0]):
                out[f"{base}.{e}.weight"] = np.ascontiguousarray(w[e])
            continue
        out[name] = np.ascontiguousarray(w)
    return out


@dataclass(frozen=True)
class TokenizerData:
    """What a byte-level BPE tokenizer needs: the vocabulary, merges and special ids."""

    model: str
    pre: str
    tokens: list[str]
    merges: list[str]
    token_types: list[int]
    bos: int | None
    eos: int | None


def read_tokenizer(path: str | Path) -> TokenizerData:
    reader = _reader(str(path))
    kind = _field(reader, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise WorkloadError(f"tokenizer model {kind!r} is not supported; accepted: gpt2 "
                            "(byte-level BPE)", where=str(path))
    bos = reader.fields.get("tokenizer.ggml.bos_token_id")
    eos = reader.fields.get("tokenizer.ggml.eos_token_id")
    return TokenizerData(
        model=kind, pre=str(_field(reader, "tokenizer.ggml.pre", "default")),
        tokens=list(_field(reader, "tokenizer.ggml.tokens")),
        merges=list(_field(reader, "tokenizer.ggml.merges")),
        token_types=[int(v) for v in _field(reader, "tokenizer.ggml.token_type", [])],
        bos=None if bos is None else int(bos.contents()),
        eos=None if eos is None else int(eos.contents()))
