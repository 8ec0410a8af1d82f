"""The library's front door: the pipeline (``load_config``, ``lower``, ``simulate``, ``run``,
...) and design-space sweeps, as one module::

    from simulator import api

    config = api.load_config("configs/systolic-128-os.yaml", {"array.dataflow": "ws"})
    trace, result = api.run(config, "zoo:resnet50", passes=["im2col=implicit"])
    result.total_cycles, result.to_dataframe()          # per-layer rows (pandas extra)
    report = api.sweep("configs/sweeps/systolic-shape.yml", "out/")
    api.load_sweep("out/")                               # one row per point (pandas extra)

The pipeline itself lives in :mod:`simulator.pipeline` (the CLI, sweeps and studies call it);
this module only gathers it with the sweep runner, which itself runs points through the
pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.pipeline import (
    MAX_INSTRUCTIONS,
    check_size,
    check_supported,
    compile,
    config_from_dict,
    config_model,
    cost_model,
    functional,
    kinds,
    load,
    load_config,
    lower,
    prepare,
    replay,
    run,
    simulate,
)
from simulator.result import Result
from simulator.trace import Trace, read_trace, write_trace

__all__ = ["MAX_INSTRUCTIONS", "Result", "Trace", "check_size", "check_supported", "compile",
           "config_from_dict", "config_model", "cost_model", "functional", "kinds", "load",
           "load_config", "load_sweep", "lower", "prepare", "read_trace", "replay", "run",
           "simulate", "sweep", "write_trace"]


def sweep(spec: str | Path, out: str | Path, workers: int | None = None,
          cluster: str | None = None, **options: Any):
    """Run a sweep spec (resumable: points already in ``out`` are skipped); returns its
    :class:`~simulator.sweep.SweepReport`. The same as ``archsim sweep SPEC --out DIR``."""
    from simulator.sweep import run_sweep

    return run_sweep(spec, out, workers=workers, cluster=cluster, **options)


def load_sweep(path: str | Path):
    """A sweep's results (its output folder or results.csv) as a pandas DataFrame."""
    from simulator.sweep import load_sweep as load

    return load(path)
