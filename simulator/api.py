"""The library's front door: lower, simulate, run (lower + simulate) and replay."""

from __future__ import annotations

from pathlib import Path

from simulator.config import config_from_dict, load_config
from simulator.errors import TraceError
from simulator.result import Result
from simulator.targets import get_target
from simulator.trace import Trace, read_trace
from workloads.graph import Graph
from workloads.loader import load_workload


def lower(config, workload: str | Graph, passes: list[str] | None = None,
          input_shapes: dict[str, tuple[int, ...]] | None = None) -> Trace:
    """Graph (or workload name) + config -> Trace for the config's kind, after running the
    named ``passes`` (``"im2col=implicit"``, ...) in order. ``input_shapes`` pins the dynamic
    input dims of an ONNX workload (``{"input": (1, 3, 224, 224)}``)."""
    graph = load_workload(workload, input_shapes) if isinstance(workload, str) else workload
    name = workload if isinstance(workload, str) else graph.name
    if passes:
        from simulator.passes import apply_passes

        graph = apply_passes(graph, passes, config)
    return get_target(config.kind).lower(graph, config, name)


def simulate(trace: Trace, config=None, timeline: bool = False, progress=None) -> Result:
    """Run a trace on ``config`` (default: the config recorded in the trace header).

    ``progress(done, total)``, if given, is called as instructions are scheduled.
    """
    if config is None:
        config = config_from_dict(trace.config, "trace header")
    if config.kind != trace.kind:
        raise TraceError(f"trace was lowered for kind {trace.kind!r} but the config is kind "
                         f"{config.kind!r}; replay on a config of the same kind")
    return get_target(config.kind).simulate(trace, config, timeline, progress)


def run(config, workload: str | Graph, timeline: bool = False, progress=None,
        passes: list[str] | None = None,
        input_shapes: dict[str, tuple[int, ...]] | None = None) -> tuple[Trace, Result]:
    trace = lower(config, workload, passes, input_shapes)
    return trace, simulate(trace, config, timeline, progress)


def replay(path: str | Path, config_path: str | Path | None = None,
           timeline: bool = False, progress=None) -> Result:
    trace = read_trace(path)
    config = load_config(config_path) if config_path else None
    return simulate(trace, config, timeline, progress)
