"""Error types of the simulator; the family is rooted in :mod:`workloads.errors`."""

from workloads.errors import ArchsimError, ConfigError, TraceError, WorkloadError

__all__ = ["ArchsimError", "ConfigError", "TraceError", "WorkloadError"]
