"""Hardware-agnostic discrete-event engine on SimPy."""

from simulator.engine.core import Channel, Engine, EngineStats, Task

__all__ = ["Channel", "Engine", "EngineStats", "Task"]
