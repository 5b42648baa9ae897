"""The collector pause around a campaign batch: off inside, restored after (also on an error), and a
collector someone else turned off stays off."""

from __future__ import annotations

import gc

import pytest

from agent.campaigns.gc_pause import paused_gc


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
