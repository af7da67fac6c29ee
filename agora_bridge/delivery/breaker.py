"""A circuit breaker per engine process (interleaving 11).

Closed: calls go. After `threshold` transient failures in a row it opens: nothing is sent for
`pause_s`. Then half-open: one probe goes; its success closes the circuit, its failure opens
it again for twice the pause (up to `max_pause_s`). Business answers (4xx) are successes:
AGORA is up. `state` is what the ops status shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class Etat(StrEnum):
    FERME = "closed"
    OUVERT = "open"
    DEMI_OUVERT = "half-open"


class Breaker:
    def __init__(
        self,
        *,
        threshold: int = 5,
        pause_s: float = 5.0,
        max_pause_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._base_pause = pause_s
        self._max_pause = max_pause_s
        self._clock = clock
        self._failures = 0
        self._pause = pause_s
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0  # how many times it opened, for the stats

    @property
    def state(self) -> Etat:
        if self._opened_at is None:
            return Etat.FERME
        if self._probing or self._clock() >= self._opened_at + self._pause:
            return Etat.DEMI_OUVERT
        return Etat.OUVERT

    def wait_s(self) -> float | None:
        """None when a call may go now (a probe is then in flight); else seconds to wait."""
        if self._opened_at is None:
            return None
        left = self._opened_at + self._pause - self._clock()
        if left > 0:
            return left
        if self._probing:
            return self._base_pause  # one probe at a time: come back later
        self._probing = True
        return None

    def abandon(self) -> None:
        """The call let through did not leave (its claim was lost first): if it was the
        probe, the next caller probes instead — else the circuit would stay half-open."""
        self._probing = False

    def success(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False
        self._pause = self._base_pause

    def failure(self) -> None:
        if self._probing:
            self._probing = False
            self._pause = min(self._pause * 2, self._max_pause)
            self._opened_at = self._clock()
            self.opened += 1
            return
        self._failures += 1
        if self._opened_at is None and self._failures >= self._threshold:
            self._opened_at = self._clock()
            self.opened += 1
