"""Frontends: everything that turns a model description into a :class:`workloads.graph.Graph`.

``Graph``, ``Op`` and ``Tensor`` are loaded on first use (PEP 562): the graph module imports
numpy, and importing the error types (which every command does) must stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workloads.errors import ArchsimError, WorkloadError

if TYPE_CHECKING:
    from workloads.graph import Graph, Op, Tensor

__all__ = ["ArchsimError", "Graph", "Op", "Tensor", "WorkloadError"]


def __getattr__(name: str) -> Any:
    if name in ("Graph", "Op", "Tensor"):
        from workloads import graph

        return getattr(graph, name)
    raise AttributeError(f"module 'workloads' has no attribute {name!r}")
