"""SCALE-Sim ``.cfg`` files as systolic configs, with the meaning SCALE-Sim 3.0.0 gives them.

``[architecture_presets]`` gives the array, the dataflow and the three SRAM sizes (KiB); words
are 1 byte. ``Bandwidth`` becomes the native model's DRAM bytes/cycle. What only ``archsim
scalesim`` needs (run name, CALC/USER mode, address offsets, the ``[layout]`` bank bandwidths
that SCALE-Sim uses for IFMAP/FILTER DRAM reads in USER mode) goes to ``config.scalesim``.
Keys SCALE-Sim ignores (``MemoryBanks``, ...) are accepted and ignored; custom SRAM layouts,
sparsity and Ramulator traces are refused with an error, as archsim does not model them.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ConfigError
from workloads.files import read_text

if TYPE_CHECKING:
    from simulator.config.systolic import SystolicConfig

_ARCH = "architecture_presets"
#: SCALE-Sim features outside what archsim reproduces: refused, never silently ignored
_UNSUPPORTED = (("layout", "IfmapCustomLayout"), ("layout", "FilterCustomLayout"),
                ("sparsity", "SparsitySupport"), ("run_presets", "UseRamulatorTrace"))


def _line_of(text: str, section: str, key: str) -> int | None:
    """1-based line of ``key`` inside ``[section]`` (configparser keeps no line numbers)."""
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip().lower()
        elif current == section.lower():
            name = line.split(":", 1)[0].split("=", 1)[0].strip().lower()
            if name == key.lower():
                return number
    return None


def load_scalesim_cfg(path: str | Path) -> SystolicConfig:
    """Read a SCALE-Sim config; a missing or bad key is an error naming file:line and the key."""
    from simulator.config.base import parse_model
    from simulator.config.systolic import SystolicConfig

    data, lines = read_scalesim_cfg(path)
    return parse_model(SystolicConfig, data, str(path), lines)


def read_scalesim_cfg(path: str | Path) -> tuple[dict[str, Any], dict]:
    """The plain data of a SCALE-Sim config in the systolic schema, not yet validated by the
    model, and the lines of its keys (``archsim scalesim`` reads it without pydantic)."""
    path = Path(path)
    text = read_text(path, "config", ConfigError)
    parser = configparser.ConfigParser(interpolation=None)   # a "%" is text, not a reference
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as err:
        line = getattr(err, "lineno", None)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"not a SCALE-Sim .cfg: {err.message.splitlines()[0]}",
                          where=where) from None

    def get(section: str, key: str, default: str | None = None) -> str:
        if parser.has_option(section, key):
            return parser.get(section, key).strip()
        if default is not None:
            return default
        raise ConfigError(f"[{section}] {key} is missing (SCALE-Sim requires it)", where=str(path))

    def integer(section: str, key: str, default: str | None = None) -> int:
        value = get(section, key, default)
        try:
            return int(value.split(",")[0])
        except ValueError:
            line = _line_of(text, section, key)
            raise ConfigError(f"[{section}] {key}: got {value!r}; expected an integer",
                              where=f"{path}:{line}" if line else str(path)) from None

    for section, key in _UNSUPPORTED:
        if get(section, key, "false").lower() == "true":
            line = _line_of(text, section, key)
            raise ConfigError(f"[{section}] {key}: True is not modelled; archsim scalesim "
                              "reproduces SCALE-Sim with it False",
                              where=f"{path}:{line}" if line else str(path))
    mode = get("run_presets", "InterfaceBandwidth", "CALC").upper()
    if mode not in ("CALC", "USER"):
        line = _line_of(text, "run_presets", "InterfaceBandwidth")
        raise ConfigError(f"[run_presets] InterfaceBandwidth: got {mode!r}; accepted: CALC, USER",
                          where=f"{path}:{line}" if line else str(path))
    dataflow = get(_ARCH, "Dataflow").lower()
    bandwidth = integer(_ARCH, "Bandwidth", "10")
    data = {
        "kind": "systolic",
        "name": get("general", "run_name", path.stem),
        "array": {"rows": integer(_ARCH, "ArrayHeight"), "cols": integer(_ARCH, "ArrayWidth"),
                  "dataflow": dataflow},
        "sram": {"ifmap_kb": integer(_ARCH, "IfmapSramSzkB"),
                 "filter_kb": integer(_ARCH, "FilterSramSzkB"),
                 "ofmap_kb": integer(_ARCH, "OfmapSramSzkB")},
        "dram": {"bandwidth": bandwidth},
        "word_bytes": 1,
        "scalesim": {
            "run_name": get("general", "run_name", path.stem),
            "bandwidth_mode": mode.lower(),
            "ifmap_offset": integer(_ARCH, "IfmapOffset", "0"),
            "filter_offset": integer(_ARCH, "FilterOffset", "10000000"),
            "ofmap_offset": integer(_ARCH, "OfmapOffset", "20000000"),
            "ifmap_dram_bandwidth": integer("layout", "IfmapSRAMBankBandwidth", "10"),
            "filter_dram_bandwidth": integer("layout", "FilterSRAMBankBandwidth", "10"),
            "ofmap_dram_bandwidth": bandwidth,
            "read_request_buffer": integer(_ARCH, "ReadRequestBuffer", "32"),
            "write_request_buffer": integer(_ARCH, "WriteRequestBuffer", "32"),
        },
    }
    lines = {("array", "dataflow"): _line_of(text, _ARCH, "Dataflow"),
             ("array", "rows"): _line_of(text, _ARCH, "ArrayHeight"),
             ("array", "cols"): _line_of(text, _ARCH, "ArrayWidth"),
             ("sram", "ifmap_kb"): _line_of(text, _ARCH, "IfmapSramSzkB"),
             ("sram", "filter_kb"): _line_of(text, _ARCH, "FilterSramSzkB"),
             ("sram", "ofmap_kb"): _line_of(text, _ARCH, "OfmapSramSzkB"),
             ("dram", "bandwidth"): _line_of(text, _ARCH, "Bandwidth")}
    return data, {k: v for k, v in lines.items() if v}
