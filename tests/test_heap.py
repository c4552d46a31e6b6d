"""heap.settle(): what a started process leaves to the collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tenantflow import heap


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored")
def test_settle_freezes_what_is_alive_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    survivor = {"loaded": "at start-up"}
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert not any(found is survivor for found in gc.get_objects())  # frozen: no collection scans it
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
