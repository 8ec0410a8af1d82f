"""Reading a user's text file (config, spec, topology, edge list) as the error contract wants:
one that is not UTF-8 is named with the line of its first bad byte (no ``UnicodeDecodeError``
traceback), a folder given as a file says so."""

from __future__ import annotations

from pathlib import Path

from workloads.errors import ArchsimError


def decode(raw: bytes, path: str | Path, error: type[ArchsimError]) -> str:
    """``raw`` as UTF-8 text (a leading BOM dropped); else ``error`` at ``path:line``."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        column = err.start - raw.rfind(b"\n", 0, err.start)
        raise error(f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column}); save "
                    "the file as UTF-8", where=f"{path}:{line}") from None


def read_text(path: str | Path, what: str, error: type[ArchsimError]) -> str:
    """The text of ``path``; a missing, unreadable or non-UTF-8 file is ``error``, located."""
    path = Path(path)
    if path.is_dir():
        raise error(f"is a directory, not a {what}", where=str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise error(f"cannot read {what}: {err.strerror}", where=str(path)) from None
    return decode(raw, path, error)

