"""Instruction traces: the in-memory form and the versioned JSON Lines file format."""

from simulator.trace.builder import TraceBuilder
from simulator.trace.format import (
    FORMAT_VERSION,
    Instruction,
    LayerInfo,
    Trace,
    read_trace,
    write_trace,
)

__all__ = ["FORMAT_VERSION", "Instruction", "LayerInfo", "Trace", "TraceBuilder", "read_trace",
           "write_trace"]
