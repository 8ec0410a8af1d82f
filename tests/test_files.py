"""Atomic output files (simulator.files)."""

from __future__ import annotations

import pytest


def test_atomic_writes_leave_one_file_with_the_umask_mode(tmp_path):
    """simulator.files makes its temporary names itself (no tempfile import at start-up): the
    file appears whole, with the umask's mode, and no temporary is left; a failure leaves
    nothing."""
    import os
    import stat

    from simulator.files import atomic_write, atomic_writer

    target = tmp_path / "out" / "r.csv"
    for _ in range(3):
        atomic_write(target, "a,b\n")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_text() == "a,b\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_writer(tmp_path / "out" / "half.csv") as fh:
            fh.write("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.csv"]
