"""When the client tries a call again, and how fast it sends.

- Calls AGORA cannot apply twice (reads, the token, writes with an `Idempotency-Key`) are
  tried again after any transient failure.
- Calls it could apply twice (transitions, `PATCH`) only when AGORA certainly did not process
  them: the request never left (no connection, or its token failed) or AGORA answered `429`.
- At most `attempts` attempts; delays from `errors.retry_delay` (exponential, ±20 % jitter,
  Retry-After as a floor, never below `minimum_s`, never above `cap_s`); the sleeps of one
  call stay within `budget_s`; a Retry-After beyond `cap_s` is raised at once for the sync
  engine to schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_base

from agora_bridge.agora.errors import AgoraTransientError, retry_delay
from agora_bridge.settings import AgoraSettings

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_s: float = 0.5
    minimum_s: float = 0.25
    cap_s: float = 10.0
    budget_s: float = 20.0  # total sleep within one call

    @classmethod
    def from_settings(cls, settings: AgoraSettings) -> RetryPolicy:
        return cls(
            attempts=settings.retry_attempts,
            base_s=settings.retry_base_s,
            minimum_s=min(settings.retry_min_s, settings.retry_cap_s),
            cap_s=settings.retry_cap_s,
            budget_s=settings.retry_budget_s,
        )

    def retrying(self, *, blind: bool, sleep: Sleep, log_fields: dict[str, str]) -> AsyncRetrying:
        """The retry loop of one call; `blind` when AGORA cannot apply it twice."""
        return AsyncRetrying(
            sleep=sleep,
            stop=_GiveUp(self),
            wait=self._wait,
            retry=retry_if_exception(safe_to_repeat if blind else never_processed),
            before_sleep=_log_retry(log_fields),
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        return retry_delay(
            _retry_after(state),
            state.attempt_number,
            base=self.base_s,
            cap=self.cap_s,
            minimum=self.minimum_s,
        )


def safe_to_repeat(exc: BaseException) -> bool:
    """Reads, the token and keyed writes: any transient failure may be tried again."""
    return isinstance(exc, AgoraTransientError)


def never_processed(exc: BaseException) -> bool:
    """Calls AGORA could apply twice: only when it certainly did not process them."""
    return isinstance(exc, AgoraTransientError) and (not exc.sent or exc.status == 429)


class _GiveUp(stop_base):
    """After the attempts, before the sleeps exceed the budget, or when AGORA asks to wait
    longer than the cap: the sync engine then schedules the call for later."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> bool:
        retry_after = _retry_after(state)
        return (
            state.attempt_number >= self._policy.attempts
            or state.idle_for + state.upcoming_sleep > self._policy.budget_s
            or (retry_after is not None and retry_after > self._policy.cap_s)
        )


def _retry_after(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.retry_after_s if isinstance(exc, AgoraTransientError) else None


def _log_retry(fields: dict[str, str]) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "agora.request.retrying",
            **fields,
            attempt=state.attempt_number,
            delay_s=round(state.upcoming_sleep, 3),
            status=getattr(exc, "status", None),
            code=getattr(exc, "code", None),
        )

    return before_sleep


class RateLimit:
    """A token bucket shared by one client's calls: `rate` requests a second on average,
    bursts of one second's worth (`AgoraSettings.max_rps`)."""

    def __init__(self, rate: float, clock: Clock, sleep: Sleep) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # waiters go out in turn, each after its own share of time
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
