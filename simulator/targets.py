"""The registry of hardware kinds: each names its config model, its lowering and its hw model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.errors import ConfigError


@dataclass(frozen=True)
class Target:
    kind: str
    lower: Callable[..., Any]      # (graph, config, workload_name) -> Trace
    simulate: Callable[..., Any]   # (trace, config, timeline) -> Result


def _systolic() -> Target:
    from simulator.hw.systolic import simulate_systolic
    from simulator.lower.systolic import lower_systolic

    return Target("systolic", lower_systolic, simulate_systolic)


def _npu() -> Target:
    from simulator.hw.npu import simulate_npu
    from simulator.lower.npu import lower_npu

    return Target("npu", lower_npu, simulate_npu)


_FACTORIES: dict[str, Callable[[], Target]] = {"systolic": _systolic, "npu": _npu}


def _zipper() -> Target:
    from simulator.hw.zipper import simulate_zipper
    from simulator.lower.zipper import lower_zipper

    return Target("zipper", lower_zipper, simulate_zipper)


_FACTORIES["zipper"] = _zipper


def _sparse_tc() -> Target:
    from simulator.hw.sparse_tc import simulate_sparse_tc
    from simulator.lower.sparse_tc import lower_sparse_tc

    return Target("sparse_tc", lower_sparse_tc, simulate_sparse_tc)


_FACTORIES["sparse_tc"] = _sparse_tc


def get_target(kind: str) -> Target:
    try:
        return _FACTORIES[kind]()
    except KeyError:
        raise ConfigError(f"no target of kind {kind!r}; known kinds: {', '.join(_FACTORIES)}") \
            from None
