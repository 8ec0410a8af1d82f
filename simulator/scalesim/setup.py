"""What a SCALE-Sim run reads from its config, as plain data: no pydantic on the fast path.

``archsim scalesim -c X.cfg`` must start in a few tens of milliseconds, and building the
pydantic config models alone takes ~0.2 s. So a ``.cfg`` is read by
:func:`simulator.config.scalesim_cfg.read_scalesim_cfg` (the one .cfg parser) and checked
here against the bounds the systolic config model enforces on the fields a run uses; anything
outside them (or any other config: YAML, a config object) goes through the model, which
raises the located error or returns the config, and :meth:`ScaleSimSetup.of` takes it from
there. tests/test_scalesim_setup.py checks both ways give the same setup, and the same
refusals, on random edits of a .cfg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

#: the array bounds of ``simulator.config.systolic.ArrayConfig``
MAX_ARRAY = 65536


class ScaleSimSetup(NamedTuple):
    """The array, the SRAMs (KiB), the DRAM bandwidth and SCALE-Sim's run options."""

    run_name: str
    rows: int
    cols: int
    dataflow: str
    ifmap_kb: float
    filter_kb: float
    ofmap_kb: float
    #: ``calc`` (reads never stall) or ``user`` (bandwidth-limited)
    mode: str = "calc"
    #: USER mode: IFMAP/FILTER DRAM read and OFMAP drain bandwidths, words per cycle
    ifmap_dram_bandwidth: int = 10
    filter_dram_bandwidth: int = 10
    ofmap_dram_bandwidth: int = 10

    @classmethod
    def of(cls, config: Any) -> ScaleSimSetup:
        """From a validated systolic config (its ``scalesim`` options, or SCALE-Sim's defaults
        with the run named after the config and OFMAP drained at the DRAM bandwidth)."""
        a, s, options = config.array, config.sram, config.scalesim
        if options is None:
            return cls(config.name, a.rows, a.cols, a.dataflow, s.ifmap_kb, s.filter_kb,
                       s.ofmap_kb, ofmap_dram_bandwidth=int(config.dram.bandwidth))
        return cls(options.run_name, a.rows, a.cols, a.dataflow, s.ifmap_kb, s.filter_kb,
                   s.ofmap_kb, options.bandwidth_mode, options.ifmap_dram_bandwidth,
                   options.filter_dram_bandwidth, options.ofmap_dram_bandwidth)


def _int(value: Any, low: int, high: int | None = None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


def _plain(data: dict) -> ScaleSimSetup | None:
    """The setup of a .cfg's plain data when every field a run uses is plainly inside the
    model's bounds (else None: the model decides)."""
    try:
        array, sram, options = data["array"], data["sram"], data["scalesim"]
        if not (_int(array["rows"], 1, MAX_ARRAY) and _int(array["cols"], 1, MAX_ARRAY)
                and array["dataflow"] in ("os", "ws", "is")
                and all(_int(sram[k], 1) for k in ("ifmap_kb", "filter_kb", "ofmap_kb"))
                and _int(data["dram"]["bandwidth"], 1) and data["word_bytes"] == 1
                and isinstance(data["name"], str) and isinstance(options["run_name"], str)
                and options["bandwidth_mode"] in ("calc", "user")
                and all(_int(options[k], 1) for k in (
                    "ifmap_dram_bandwidth", "filter_dram_bandwidth", "ofmap_dram_bandwidth",
                    "read_request_buffer", "write_request_buffer"))
                and all(type(options[k]) is int
                        for k in ("ifmap_offset", "filter_offset", "ofmap_offset"))):
            return None
    except (KeyError, TypeError):
        return None
    return ScaleSimSetup(options["run_name"], array["rows"], array["cols"], array["dataflow"],
                         sram["ifmap_kb"], sram["filter_kb"], sram["ofmap_kb"],
                         options["bandwidth_mode"], options["ifmap_dram_bandwidth"],
                         options["filter_dram_bandwidth"], options["ofmap_dram_bandwidth"])


def read_setup(path: str | Path) -> ScaleSimSetup:
    """The setup of a config file: a SCALE-Sim .cfg without pydantic when its values are
    plainly valid; anything else through the config models (and their located errors). A
    config of another kind is a ConfigError."""
    path = Path(path)
    if path.suffix == ".cfg":
        from simulator.config.scalesim_cfg import read_scalesim_cfg

        setup = _plain(read_scalesim_cfg(path)[0])
        if setup is not None:
            return setup
    from simulator.errors import ConfigError
    from simulator.targets import load_config

    config = load_config(path)
    if config.kind != "systolic":
        raise ConfigError(f"scalesim needs a systolic config, got kind {config.kind!r}",
                          where=str(path))
    return ScaleSimSetup.of(config)
