"""The circuit breaker's states, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass

from agora_bridge.delivery.breaker import Breaker, Etat


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> Breaker:
    return Breaker(threshold=3, pause_s=10, max_pause_s=25, clock=clock)


def test_it_opens_after_the_threshold_of_failures_in_a_row() -> None:
    b = breaker(Clock())
    b.failure()
    b.failure()
    b.success()  # a success in between starts the count again
    b.failure()
    b.failure()
    assert (b.state, b.wait_s()) == (Etat.FERME, None)
    b.failure()
    assert b.state is Etat.OUVERT
    assert b.wait_s() == 10


def test_after_the_pause_one_probe_goes_and_its_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failure()
    clock.now = 10
    assert b.state is Etat.DEMI_OUVERT
    assert b.wait_s() is None  # the probe
    assert b.wait_s() == 10  # nobody else while it is in flight
    b.success()
    assert (b.state, b.wait_s(), b.opened) == (Etat.FERME, None, 1)


def test_a_failed_probe_doubles_the_pause_up_to_the_maximum() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failure()
    pauses = []
    for _ in range(3):
        clock.now += 100
        assert b.wait_s() is None
        b.failure()
        pauses.append(b.wait_s())
    assert pauses == [20, 25, 25]
    assert b.state is Etat.OUVERT


def test_a_probe_that_never_left_lets_the_next_caller_probe() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failure()
    clock.now = 10
    assert b.wait_s() is None  # the probe...
    b.abandon()  # ...whose claim was lost before it was sent
    assert b.wait_s() is None  # another caller probes
    b.success()
    assert b.state is Etat.FERME
