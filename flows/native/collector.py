"""Holding back Python's cyclic garbage collector while a flow file or a programme is read.

Reading makes many small containers (the located tree, then the model) and no reference cycles. The
collector would run every few hundred new containers and walk all the young ones, and every so often all the
objects of the process: about a quarter of the time spent loading a 700-flow programme. While it is held
back, memory is still freed as usual (by reference counting); only the search for cycles waits until the
reading is done, and then walks what was read once.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Re-enables the collector afterwards only if it was enabled before, so a caller that disabled it (or a
    pause in another thread that began first) keeps it as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
