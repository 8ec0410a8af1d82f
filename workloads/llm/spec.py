"""Parsing ``llm:MODEL[?...]`` workload names: the model (a preset or a ``.gguf`` file's
metadata) and the step's options."""

from __future__ import annotations

from dataclasses import replace

from workloads.errors import WorkloadError
from workloads.llm.model import (
    OPTIONS,
    PHASES,
    PRESETS,
    LlmSpec,
    ModelConfig,
    _int,
    parse_routing,
)


def resolve_model(name: str) -> ModelConfig:
    """A preset by name, or the shapes read from a ``.gguf`` file's metadata."""
    if name in PRESETS:
        return PRESETS[name]
    if name.lower().endswith(".gguf"):
        from workloads.llm.gguf_io import read_config

        return read_config(name)
    raise WorkloadError(f"unknown model {name!r}; presets: {', '.join(PRESETS)}, or a "
                        "FILE.gguf", where=name)


def parse_spec(spec: str) -> LlmSpec:
    """``llm:MODEL[?phase=prefill|decode&seq=N&ctx=N&batch=B&layers=L&routing=R]``."""
    body = spec.removeprefix("llm:")
    name, _, query = body.partition("?")
    if not name:
        raise WorkloadError("expected llm:MODEL[?phase=...&seq=N&ctx=N&batch=B&layers=L]",
                            where=spec)
    model = resolve_model(name)
    out = LlmSpec(model)
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq or key not in OPTIONS:
            raise WorkloadError(f"unknown option {item!r}; accepted: "
                                f"{', '.join(k + '=' for k in OPTIONS)}", where=spec)
        if key == "phase":
            if value not in PHASES:
                raise WorkloadError(f"phase must be one of {', '.join(PHASES)}; got {value!r}",
                                    where=spec)
            out = replace(out, phase=value)
        elif key == "routing":
            parse_routing(value, model, spec)
            out = replace(out, routing=value)
        else:
            out = replace(out, **{key: _int(key, value, spec)})
    if out.layers > model.layers:
        raise WorkloadError(f"layers={out.layers} but {model.name} has {model.layers}",
                            where=spec)
    return out
