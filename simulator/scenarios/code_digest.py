"""A digest of the source files that time a study's profiles, so a cached profile table is
used only by the code that made it (any edit to those files profiles again)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@cache
def code_digest(patterns: tuple[str, ...]) -> str:
    """16 hex digits over the files matching ``patterns`` (globs from the project root), in
    order; a pattern matching nothing counts by its text."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)) or [ROOT / pattern]:
            digest.update(path.read_bytes() if path.exists() else pattern.encode())
    return digest.hexdigest()[:16]
