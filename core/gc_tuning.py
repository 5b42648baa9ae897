"""The cyclic garbage collector, tuned for a long-running service process.

Two measures, both for the same cost: a collection of the oldest generation walks every tracked object the
process holds.

- `freeze_startup_heap`: a process imports its libraries (SQLAlchemy, LangGraph, FastAPI, and in a worker
  torch, transformers and the model) and builds its long-lived objects once. Frozen after start-up, that
  heap is never walked again; without it every full collection walked it, and one landing inside a request
  or a decision added its pause to that one (measured in benchmarks/decision.py: ~180 ms per full
  collection in a worker process).
- `paused_gc`: planning and deciding a campaign chunk build tens of thousands of short-lived objects (features,
  snapshots, drafts, verdicts, row values) next to a large live heap (the audience's features, the catalog,
  the ORM identity map). Each generation-0 collection that overflows into an older generation then walks that
  whole heap; measured on the 26,000-guest benchmark, that walking was a large share of the CPU. Reference
  counting still frees the acyclic garbage at once; what is cyclic waits until the batch ends, which bounds
  it by one batch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object to the permanent generation (`gc.freeze`): later
    collections skip it. Call when start-up is done; returns how many objects were frozen. Objects created
    afterwards are collected as usual; what was frozen and later dropped is freed by reference counting
    (a cycle among frozen objects is not, which start-up objects rarely form)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


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
