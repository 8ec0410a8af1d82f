"""The vector/post-processing unit's latency rule, shared by targets that have one."""

from __future__ import annotations


def vector_cycles(work: int, lanes: int, pipeline: int) -> int:
    """``work`` element operations on ``lanes`` lanes: ceil(work / lanes) after the fill."""
    return -(-work // lanes) + pipeline if work else 0
