"""The one way lowerings build traces: :class:`TraceBuilder` numbers instructions, cleans their
dependencies and makes the :class:`~simulator.trace.Trace` at the end.

A target with a convention of its own (the npu's per-core unit names and scratchpad traffic,
zipper's scheduling tiles) derives from it and adjusts an instruction in :meth:`emit` before
handing it on; several builders may share one instruction list (the npu's cores do). A builder
made with ``columnar=True`` stores into an :class:`~simulator.trace.table.InstructionTable`
(what the systolic lowering does: millions of instructions in little memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from simulator.trace.format import Instruction, LayerInfo, Trace
from simulator.trace.table import InstructionTable


class TraceBuilder:
    """Appends instructions with consecutive ids; ``deps`` may contain ``None`` (no producer)
    and repeats, which are dropped."""

    def __init__(self, instructions: list[Instruction] | InstructionTable | None = None, *,
                 columnar: bool = False) -> None:
        if instructions is None:
            instructions = InstructionTable() if columnar else []
        self.instructions = instructions
        self.columnar = isinstance(instructions, InstructionTable)

    def emit(self, op: str, unit: str, layer: str, dims: dict[str, int],
             nbytes: dict[str, int], deps: Iterable[int | None], tensor: str | None = None
             ) -> int:
        """Append one instruction; returns its id."""
        instructions = self.instructions
        if self.columnar:
            return instructions.emit(op, unit, layer, dims, nbytes, deps, tensor)
        ident = len(instructions)
        unique = set(deps)
        unique.discard(None)
        instructions.append(Instruction(ident, op, unit, layer, dims, nbytes, sorted(unique),
                                        tensor))
        return ident

    def trace(self, kind: str, config: Any, workload: str, layers: Sequence[LayerInfo],
              meta: dict[str, Any] | None = None) -> Trace:
        """The finished trace; ``config`` (a config model) is recorded in the header."""
        data = config.model_dump(mode="json", exclude_none=True) \
            if hasattr(config, "model_dump") else dict(config)
        return Trace(kind=kind, config=data, workload=workload, layers=list(layers),
                     instructions=self.instructions, meta=dict(meta or {}))
