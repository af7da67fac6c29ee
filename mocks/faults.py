"""Fault injection (`PUT /__mock__/faults`): what goes wrong with each request, drawn by a seed.

Every request of `/agora/v2` draws, in this order and always the same number of values for a
given configuration: one uniform number choosing its fate among the rates (error, timeout,
reset, rate limit, lost response — cumulated in that order), then its latency if a range is
set, then the status of an error. So the same seed and the same sequence of requests give the
same sequence of faults. An outage window draws nothing: everything in it is a 503.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Rate = Annotated[float, Field(ge=0, le=1)]
ERROR_STATUSES = (500, 502, 503)


class Outage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_s: Annotated[float, Field(ge=0)]
    to_s: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.to_s < self.from_s:
            raise ValueError("to_s must not be before from_s")
        return self


class FaultConfig(BaseModel):
    """The body of `PUT /__mock__/faults`; `{}` switches everything off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    error_rate: Rate = 0
    timeout_rate: Rate = 0
    reset_rate: Rate = 0
    rate_limit_rate: Rate = 0
    lost_response_rate: Rate = 0
    retry_after_s: Annotated[int, Field(ge=0)] = 1
    latency_ms: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] | None = None
    outage: Outage | None = None
    # Not in the spec's list: how long a `timeout_rate` request waits before its 503 (30 s by
    # the spec), so that tests need not wait that long.
    timeout_s: Annotated[float, Field(ge=0)] = 30.0

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if sum(self.rates()) > 1:
            raise ValueError("the rates add up to more than 1")
        if self.latency_ms is not None and self.latency_ms[0] > self.latency_ms[1]:
            raise ValueError("latency_ms is [min, max]")
        return self

    def rates(self) -> tuple[float, ...]:
        """In the order a draw reads them (see the module's docstring)."""
        return (
            self.error_rate,
            self.timeout_rate,
            self.reset_rate,
            self.rate_limit_rate,
            self.lost_response_rate,
        )


class Fate(StrEnum):
    NORMAL = "NORMAL"
    ERROR = "ERROR"
    TIMEOUT = "TIMEOUT"
    RESET = "RESET"
    RATE_LIMIT = "RATE_LIMIT"
    LOST = "LOST"


_FATES = (Fate.ERROR, Fate.TIMEOUT, Fate.RESET, Fate.RATE_LIMIT, Fate.LOST)


@dataclass(frozen=True, slots=True)
class Draw:
    fate: Fate
    latency_s: float = 0.0
    status: int = 503


NO_FAULT = Draw(Fate.NORMAL)


class Faults:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        # Not for security: a seeded sequence is the point.
        self._rng = random.Random(config.seed)  # noqa: S311
        self._configured_at = self._monotonic()
        self._active = any(config.rates()) or config.latency_ms is not None

    def outage_left_s(self) -> float | None:
        """Seconds until the outage ends when one is on now, else None."""
        outage = self.config.outage
        if outage is None:
            return None
        elapsed = self._monotonic() - self._configured_at
        return outage.to_s - elapsed if outage.from_s <= elapsed < outage.to_s else None

    def draw(self) -> Draw:
        if not self._active:
            return NO_FAULT
        fate = self._fate(self._rng.random())
        latency = self.config.latency_ms
        latency_s = self._rng.uniform(*latency) / 1000 if latency is not None else 0.0
        status = self._rng.choice(ERROR_STATUSES) if fate is Fate.ERROR else 503
        return Draw(fate, latency_s, status)

    def _fate(self, uniform: float) -> Fate:
        threshold = 0.0
        for fate, rate in zip(_FATES, self.config.rates(), strict=True):
            threshold += rate
            if uniform < threshold:
                return fate
        return Fate.NORMAL
