"""Hardware-agnostic discrete-event engine: the one event loop of every timing model.

:class:`Engine` runs task lists (in order, or under a run-time :class:`ReadyWindow`);
:class:`Simulation` runs generator processes for system-level studies on the same clock.
SimPy (the ready window's and the processes' clock) is imported on first use of either.
"""

from typing import Any

from simulator.engine.core import Engine, TaskArrays
from simulator.engine.tasks import Channel, Dispatch, EngineStats, InOrder, ReadyWindow, Task

__all__ = ["Channel", "Dispatch", "Engine", "EngineStats", "Event", "InOrder", "ReadyWindow",
           "Simulation", "Task", "TaskArrays", "WaitingLine"]


def __getattr__(name: str) -> Any:
    """``Event``, ``Simulation`` and ``WaitingLine`` load SimPy: imported when first named."""
    if name in ("Event", "Simulation", "WaitingLine"):
        from simulator.engine import process

        return getattr(process, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
