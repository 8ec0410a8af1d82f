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
from simulator.trace.table import InstructionTable

__all__ = ["FORMAT_VERSION", "Instruction", "InstructionTable", "LayerInfo", "Trace",
           "TraceBuilder", "read_trace", "write_trace"]
