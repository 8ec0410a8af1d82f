"""Writing outputs as the error contract wants: atomically (a temporary file beside the target,
renamed into place; nothing half-written, no temporary left behind on failure or Ctrl-C), with
the mode the umask gives new files, and with paths checked before any work starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from simulator.errors import ArchsimError


def _exclusive(folder: str | Path, prefix: str, suffix: str = "") -> tuple[int, str]:
    """A new file of mode 0600 in ``folder`` under a name no one else has (open with
    ``O_EXCL``): ``tempfile.mkstemp`` without importing tempfile, which loads random, shutil
    and three compression modules (~5 ms of every command's start-up)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name in {folder}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_writer(path: str | Path, binary: bool = False) -> Iterator[IO]:
    """Write ``path`` through a temporary file beside it, renamed into place only when the
    ``with`` block succeeds: a reader never sees half a file, a failure (or Ctrl-C) leaves no
    temporary file behind, and the file gets the mode the umask gives new files (0644 under
    022), not the 0600 of a temporary file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _exclusive(path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:   # a parent that is a file, no permission, a read-only disk
        raise ArchsimError(f"cannot write the file: {err.strerror}", where=str(path)) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())
        if path.is_dir():
            raise ArchsimError("is a folder; give a file name", where=str(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """:func:`atomic_writer` for a whole text or bytes payload."""
    with atomic_writer(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


def check_output(path: str | Path, what: str, error: type[ArchsimError],
                 directory: bool = False) -> None:
    """Before any work: can ``path`` be written as a file (or, with ``directory``, used as a
    folder of outputs)? An existing directory where a file is wanted (or the reverse), a parent
    that is a file, or a folder without write permission is ``error`` naming the path."""
    path = Path(path)
    try:
        _check_output(path, what, error, directory)
    except OSError as err:   # a folder on the way that cannot even be looked into
        raise error(f"cannot write {what} there: {err.strerror}", where=str(path)) from None


def _check_output(path: Path, what: str, error: type[ArchsimError], directory: bool) -> None:
    if directory:
        if path.exists() and not path.is_dir():
            raise error(f"{what} names a file; give a folder (it holds several outputs)",
                        where=str(path))
        target = path
    else:
        if path.is_dir():
            raise error(f"{what} names a folder; give a file name", where=str(path))
        target = path.parent
    probe = target
    while not probe.exists():   # the nearest existing ancestor is where folders get made
        probe = probe.parent
    if not probe.is_dir():
        raise error(f"cannot write {what} there: {probe} is a file, not a folder",
                    where=str(path))
    if not os.access(probe, os.W_OK | os.X_OK) or not _can_create(probe):
        raise error(f"cannot write {what} there: no permission to write in {probe}",
                    where=str(path))


def _can_create(folder: Path) -> bool:
    """Can a file be made in ``folder``? Tried for real (and removed): ``os.access`` says yes
    to root on a read-only or special file system (``/sys``, a read-only mount)."""
    try:
        fd, probe = _exclusive(folder, prefix=".archsim-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True
