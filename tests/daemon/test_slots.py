"""The count of idle connections that pollers reserve before each ReceiveMessage."""

from __future__ import annotations

import threading

from pyramid_elasticjobs.daemon.slots import Slots

from .support import wait_until


def _take_in_background(
    slots: Slots, most: int, results: list[int], gather: float = 0.01
) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(slots.take(most, 5, gather)))
    thread.start()
    return thread


def test_take_reserves_at_most_what_is_free() -> None:
    """Asking for up to 10 with 3 free gives 3 (after the gather wait); then none is left."""
    slots = Slots(3)

    assert slots.take(10, 5, gather=0.01) == 3
    slots.give(1)
    assert slots.take(10) == 1


def test_take_gathers_enough_slots_when_they_free_up_in_time() -> None:
    """A poller that sees 1 free slot waits for `enough` of them while others finish."""
    slots = Slots(1)
    results: list[int] = []
    waiting = _take_in_background(slots, 10, results, gather=5.0)
    wait_until(lambda: waiting.is_alive(), what="the poller to wait")

    slots.give(4)
    waiting.join(5)

    assert results == [5]


def test_a_poller_that_loses_the_race_keeps_waiting() -> None:
    """Two pollers, one freed slot: one gets it, the other waits instead of giving up."""
    slots = Slots(0)
    results: list[int] = []
    first = _take_in_background(slots, 10, results)
    second = _take_in_background(slots, 10, results)

    slots.give(1)
    wait_until(lambda: results == [1], what="one poller to get the slot")
    first.join(0.2)
    second.join(0.2)

    assert [first.is_alive(), second.is_alive()].count(True) == 1
    slots.close()
    first.join(5)
    second.join(5)
    assert sorted(results) == [0, 1]


def test_closing_wakes_every_waiting_poller() -> None:
    """After close, take returns 0 at once, so pollers can exit."""
    slots = Slots(0)
    results: list[int] = []
    waiting = _take_in_background(slots, 10, results)

    slots.close()
    waiting.join(5)

    assert results == [0]
    assert slots.take(10) == 0
