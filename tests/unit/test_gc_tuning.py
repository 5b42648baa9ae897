"""The collector tuning: the pause around a campaign batch (off inside, restored after, also on an error, and a
collector someone else turned off stays off) and the start-up freeze (start-up objects are skipped, later
cycles are still collected)."""

from __future__ import annotations

import gc

import pytest

from core.gc_tuning import freeze_startup_heap, paused_gc


def test_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner one must not turn it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_restored_when_the_batch_fails() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("chunk failed")
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freeze_moves_the_startup_heap_out_of_collections_and_later_cycles_are_still_collected() -> None:
    import weakref

    before = _Node()
    before.other = _Node()
    before.other.other = before  # a live cycle from "start-up"
    try:
        assert freeze_startup_heap() > 0  # (the count can drop right after: frozen objects still die by refcount)
        assert gc.get_freeze_count() > 0
        assert all(before is not o for o in gc.get_objects(generation=2))  # skipped by full collections
        later = _Node()
        later.other = _Node()
        later.other.other = later
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None  # a cycle made after the freeze is collected as usual
    finally:
        gc.unfreeze()
    assert any(before is o for o in gc.get_objects(generation=2))
