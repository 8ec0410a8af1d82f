"""Frontends: everything that turns a model description into a :class:`workloads.graph.Graph`."""

from workloads.errors import ArchsimError, WorkloadError
from workloads.graph import Graph, Op, Tensor

__all__ = ["ArchsimError", "Graph", "Op", "Tensor", "WorkloadError"]
