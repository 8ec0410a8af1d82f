"""Hardware-agnostic discrete-event engine on SimPy: the one event loop of every timing model.

:class:`Engine` runs task lists (in order, or under a run-time :class:`ReadyWindow`);
:class:`Simulation` runs generator processes for system-level studies on the same clock.
"""

from simulator.engine.core import Engine
from simulator.engine.process import Event, Simulation, WaitingLine
from simulator.engine.tasks import Channel, Dispatch, EngineStats, InOrder, ReadyWindow, Task

__all__ = ["Channel", "Dispatch", "Engine", "EngineStats", "Event", "InOrder", "ReadyWindow",
           "Simulation", "Task", "WaitingLine"]
