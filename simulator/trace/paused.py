"""Lowering and simulation allocate one Python object or more per instruction and free almost
nothing until they are done: CPython's cyclic collector, triggered by allocation counts, walks
the ever larger heap again and again for garbage that is not there (about a third of the time
of a 430k-instruction lowering). :func:`gc_paused` holds it off for such a phase."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (reference counting still frees everything
    not in a cycle); it is enabled again after, unless it was off before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
