"""Hardware configs: a shared base and one pydantic model per target kind, read from YAML (or a
SCALE-Sim ``.cfg``) with file:line errors.

Which model a ``kind`` names is the target registry's business: load configs with
``simulator.api.load_config`` (or ``simulator.targets.load_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.config.base import HardwareConfig, parse_model
    from simulator.config.yamlfile import read_yaml, set_dotted


def __getattr__(name: str) -> Any:
    """The base module's names, imported on first use (pydantic is slow to import, and
    ``simulator.config.scalesim_cfg`` reads a .cfg without it)."""
    if name in ("HardwareConfig", "parse_model"):
        from simulator.config import base

        return getattr(base, name)
    if name in ("read_yaml", "set_dotted"):
        from simulator.config import yamlfile

        return getattr(yamlfile, name)
    raise AttributeError(f"module 'simulator.config' has no attribute {name!r}")


def read_config_file(path: str | Path) -> tuple[Any, dict]:
    """The plain data of a YAML config (and its key-path -> line index), or of a SCALE-Sim
    ``.cfg`` (converted to the systolic schema; no line index)."""
    path = Path(path)
    if path.suffix == ".cfg":
        from simulator.config.scalesim_cfg import load_scalesim_cfg

        return load_scalesim_cfg(path).model_dump(), {}
    from simulator.config.yamlfile import read_yaml

    return read_yaml(path)


__all__ = ["HardwareConfig", "parse_model", "read_config_file", "read_yaml", "set_dotted"]
