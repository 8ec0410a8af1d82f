"""The project's user-error types.

They live in ``workloads`` because frontends may not import ``simulator`` (see ARCHITECTURE.md),
yet frontends must raise the same error family the CLI knows how to present.
"""

from __future__ import annotations


class ArchsimError(Exception):
    """A user mistake: the CLI prints ``str(err)`` in one or two lines and exits with status 2.

    ``where`` names the place (``file:line``, an operator, an instruction index) and ``what`` says
    what was wrong and what is accepted instead.
    """

    def __init__(self, what: str, where: str | None = None) -> None:
        self.what = what
        self.where = where
        super().__init__(f"{where}: {what}" if where else what)


class WorkloadError(ArchsimError):
    """A workload name, topology file or model that cannot be read."""


class ConfigError(ArchsimError):
    """A hardware config with an unknown key, a wrong type or an out-of-range value."""


class TraceError(ArchsimError):
    """A trace file that is malformed or does not fit the config it is replayed on."""
