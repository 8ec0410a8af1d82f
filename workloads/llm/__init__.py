"""LLM inference workloads: decoder-only models (Llama family, GQA, MoE) as archsim graphs.

``llm:MODEL[?phase=prefill|decode&seq=N&ctx=N&batch=B&layers=L&routing=R]`` names one step of
inference: MODEL is a preset (:data:`workloads.llm.model.PRESETS`) or a ``.gguf`` file. The graph
is built from catalogue operators (:mod:`workloads.llm.graph`); the real SmolLM2-135M runs in
numpy (:mod:`workloads.llm.infer`) with its GGUF weights (:mod:`workloads.llm.gguf_io`) and its
own BPE tokenizer (:mod:`workloads.llm.tokenizer`).
"""

from __future__ import annotations

from workloads.graph import Graph
from workloads.llm.model import PRESETS, LlmSpec, ModelConfig
from workloads.llm.spec import parse_spec, resolve_model

__all__ = ["PRESETS", "LlmSpec", "ModelConfig", "load_llm", "parse_spec", "resolve_model"]


def load_llm(spec: str) -> Graph:
    """The graph of an ``llm:...`` workload name."""
    from workloads.llm.graph import build_graph

    return build_graph(parse_spec(spec), name=spec)
