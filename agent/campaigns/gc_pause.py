"""The cyclic garbage collector paused over a campaign batch's in-memory work.

Planning and deciding a chunk build tens of thousands of short-lived objects (features, snapshots, drafts,
verdicts, row values) next to a large live heap (the audience's features, the catalog, the ORM identity
map). Each generation-0 collection that overflows into an older generation then walks that whole heap;
measured on the 26,000-guest benchmark, that walking was a large share of the CPU. Reference counting still
frees the acyclic garbage at once; what is cyclic waits until the batch ends, which bounds it by one batch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off; restored (if it was on) when the block ends, however."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
