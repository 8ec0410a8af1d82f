"""The real model end to end: greedy generation and perplexity of a GGUF model in numpy, with
its linear weights optionally re-quantized (``rtn`` or ``squant``, per output channel).

``--quant rtn:bits=B`` rounds every linear weight to nearest on a per-output-channel min/max
grid of ``B`` bits; ``squant:bits=B`` runs SQuant (:func:`simulator.passes.squant.squant`, the
function the ``squant`` pass runs) on the same grid. Linear weights are the Q/K/V/output and
gate/up/down projections of every layer, the MoE router and experts, and lm_head; with tied
embeddings lm_head *is* the token table, so the lookup reads the quantized table too. Norm
weights stay as they are. The baseline ("none") is the GGUF file's own weights dequantized
(SmolLM2-135M ships as Q4_1, so "full precision" means those weights in float32).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import ArchsimError
from workloads.llm.model import PRESETS, REAL_MODELS, ModelConfig, real_model_path

LINEAR = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
          "ffn_gate_inp")


@dataclass(frozen=True)
class Quant:
    """``none``, or a mode (``rtn``/``squant``) at ``bits``."""

    mode: str = "none"
    bits: int = 0

    def __str__(self) -> str:
        return "none" if self.mode == "none" else f"{self.mode}:bits={self.bits}"


def parse_quant(text: str) -> Quant:
    if text == "none":
        return Quant()
    mode, _, option = text.partition(":")
    key, eq, value = option.partition("=")
    if mode not in ("rtn", "squant") or key != "bits" or not eq or not value.isdigit() \
            or not 2 <= int(value) <= 8:
        raise ArchsimError(f"expected none, rtn:bits=B or squant:bits=B with B in 2..8; got "
                           f"{text!r}", where="--quant")
    return Quant(mode, int(value))


def model_path(name: str) -> str:
    """A .gguf file, or a preset whose weights a package ships (smollm2-135m)."""
    if name.lower().endswith(".gguf"):
        if not Path(name).is_file():
            raise ArchsimError("no such GGUF file", where=name)
        return name
    if name not in REAL_MODELS:
        known = ", ".join(REAL_MODELS)
        extra = " (a preset without weights: it only simulates)" if name in PRESETS else ""
        raise ArchsimError(f"no weights for {name!r}{extra}; models with weights: {known}, "
                           "or a FILE.gguf", where=name)
    return str(real_model_path(name))


@functools.lru_cache(maxsize=1)
def load_model(path: str) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """The model's shapes and dequantized weights (cached: loading takes seconds)."""
    from workloads.llm.gguf_io import read_config, read_weights

    config = read_config(path)
    return config, read_weights(path, config)


def is_linear(name: str, config: ModelConfig) -> bool:
    kind = name.split(".")[2] if name.startswith("blk.") else name.split(".")[0]
    if kind in LINEAR:
        return True
    return name == ("token_embd.weight" if config.tied_embeddings else "output.weight")


def quantize_weights(weights: dict[str, np.ndarray], config: ModelConfig, quant: Quant
                     ) -> dict[str, np.ndarray]:
    """The weights with every linear weight replaced by its quantized-dequantized values."""
    if quant.mode == "none":
        return weights
    from simulator.passes.squant import squant

    return {name: squant(w, quant.bits, quant.mode, axis=0).w_hat
            if w.ndim == 2 and is_linear(name, config) else w
            for name, w in weights.items()}


def read_text(path: str) -> str:
    """A text file as UTF-8, else Latin-1 (the Lee corpus' lee.cor is ISO-8859-1)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ArchsimError(f"cannot read the text: {err.strerror}", where=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def perplexity(model: str, text: str, quant: Quant = Quant(), max_tokens: int | None = None
               ) -> dict:
    """``{"perplexity", "tokens", "quant"}``: exp of the mean negative log-likelihood of every
    token of ``text`` (after the first) given the tokens before it."""
    from workloads.llm.infer import NumpyLlama
    from workloads.llm.tokenizer import load_tokenizer

    path = model_path(model)
    config, weights = load_model(path)
    ids = load_tokenizer(path).encode(text)
    if max_tokens:
        ids = ids[:max_tokens]
    if len(ids) < 2:
        raise ArchsimError("the text has fewer than 2 tokens", where="--text")
    runner = NumpyLlama(config, quantize_weights(weights, config, quant))
    nll = runner.nll(ids)
    return {"perplexity": float(np.exp(nll.mean())), "tokens": len(ids), "quant": str(quant)}


def generate(model: str, prompt: str, tokens: int, quant: Quant = Quant()) -> dict:
    """Greedy continuation of ``prompt``: ``{"prompt", "text", "ids", "quant"}``."""
    from workloads.llm.infer import NumpyLlama
    from workloads.llm.tokenizer import load_tokenizer

    path = model_path(model)
    config, weights = load_model(path)
    tok = load_tokenizer(path)
    ids = tok.encode(prompt)
    if not ids:
        raise ArchsimError("the prompt is empty", where="--prompt")
    out = NumpyLlama(config, quantize_weights(weights, config, quant)).generate(
        ids, tokens, tok.eos)
    return {"prompt": prompt, "text": tok.decode(out), "ids": out, "quant": str(quant)}
