"""Hardware configs: one pydantic model per target kind, from YAML (or a SCALE-Sim ``.cfg``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.config.base import parse_model, read_yaml, set_dotted
from simulator.config.npu import NpuConfig
from simulator.config.sparse_tc import SparseTCConfig
from simulator.config.systolic import SystolicConfig
from simulator.errors import ConfigError

#: kind name -> config model. A new hardware kind registers its model here.
CONFIG_MODELS: dict[str, type] = {"systolic": SystolicConfig, "npu": NpuConfig}

HardwareConfig = SystolicConfig

from simulator.config.zipper import ZipperConfig  # noqa: E402  (the GNN target, issue 7)

CONFIG_MODELS["zipper"] = ZipperConfig

CONFIG_MODELS["sparse_tc"] = SparseTCConfig  # the dual-side sparse tensor core, issue 5


def config_from_dict(data: Any, source: str = "<config>", lines: dict | None = None):
    """Validate a plain dict (as read from YAML) into the model its ``kind`` names."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", where=source)
    kind = data.get("kind")
    if kind not in CONFIG_MODELS:
        line = lines.get(("kind",))
        where = f"{source}:{line}" if line else source
        got = "missing" if kind is None else f"{kind!r} is unknown"
        raise ConfigError(f"kind: {got}; accepted kinds: {', '.join(CONFIG_MODELS)}", where=where)
    return parse_model(CONFIG_MODELS[kind], data, source, lines)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None):
    """Load a YAML config (or a SCALE-Sim ``.cfg``), applying dotted-path ``overrides`` first."""
    path = Path(path)
    if path.suffix == ".cfg":
        from simulator.config.scalesim_cfg import load_scalesim_cfg

        config = load_scalesim_cfg(path)
        if not overrides:
            return config
        data, lines = config.model_dump(), {}
    else:
        data, lines = read_yaml(path)
    for dotted, value in (overrides or {}).items():
        if not isinstance(data, dict):
            break
        set_dotted(data, dotted, value)
    return config_from_dict(data, str(path), lines)


__all__ = ["CONFIG_MODELS", "HardwareConfig", "SystolicConfig", "config_from_dict", "load_config"]
