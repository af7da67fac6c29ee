"""Everything the mock holds, in one object per app: `POST /__mock__/reset` renews it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mocks.auth import RateLimiter, Tokens
from mocks.faults import FaultConfig, Faults
from mocks.idempotency import IdempotencyKeys
from mocks.lots import Lots
from mocks.store import Store

PARIS = ZoneInfo("Europe/Paris")
Clock = Callable[[], datetime]
RESULTATS_LIGNE = ("ACCEPTE", "REJETE", "DOUBLON")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Stats:
    """The counts of `GET /__mock__/stats` (the number of dossiers comes from the store)."""

    requetes: Counter[str] = field(default_factory=Counter)
    creations_refusees_existant: int = 0
    rejeux_idempotents: int = 0
    transitions_deja_appliquees: int = 0
    lots: int = 0
    lignes_lot: Counter[str] = field(default_factory=Counter)

    def to_json(self, dossiers: int) -> dict[str, Any]:
        return {
            "requetes": dict(sorted(self.requetes.items())),
            "dossiers": dossiers,
            "creations_refusees_existant": self.creations_refusees_existant,
            "rejeux_idempotents": self.rejeux_idempotents,
            "transitions_deja_appliquees": self.transitions_deja_appliquees,
            "lots": self.lots,
            "lignes_lot": {resultat: self.lignes_lot[resultat] for resultat in RESULTATS_LIGNE},
        }


class MockState:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        lot_delay_s: float,
        rate_limit: int | None,
        token_ttl_s: int,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.lot_delay_s = lot_delay_s
        self._rate_limit = rate_limit
        self.tokens = Tokens(
            client_id=client_id, client_secret=client_secret, ttl_s=token_ttl_s, clock=clock
        )
        self.faults = Faults()
        self._renew()

    def _renew(self) -> None:
        self.store = Store()
        self.keys = IdempotencyKeys(self.clock)
        self.stats = Stats()
        self.limiter = RateLimiter(self._rate_limit)
        self.lots = Lots(self)

    def today(self) -> date:
        """Today in Europe/Paris, the date DATE_FUTURE compares with."""
        return self.clock().astimezone(PARIS).date()

    def reset(self) -> None:
        """Empty state, no faults, no valid token, no lot left processing."""
        self.lots.cancel_all()
        self.tokens.clear()
        self.faults.configure(FaultConfig())
        self._renew()
