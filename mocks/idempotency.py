"""Idempotency keys: scoped to the client, kept 24 h, only for requests that succeeded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mocks.problems import CLE_IDEMPOTENCE_REUTILISEE, FORMAT_INVALIDE, Erreur, Probleme

KEY_TTL = timedelta(hours=24)
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255  # the contract's maxLength
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class _Entry:
    fingerprint: bytes
    result: str  # what the first answer named: an id_agora or an id_lot
    stored_at: datetime


def json_fingerprint(route: str, body: bytes) -> bytes:
    """The same JSON, however spaced or ordered, is the same body; the route is part of it."""
    try:
        canonical = _CANONICAL.encode(json.loads(body)).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(route.encode() + b"\n" + canonical).digest()


def raw_fingerprint(route: str, body: bytes) -> bytes:
    """For a lot: its bytes (up to 16 MiB, not worth re-encoding)."""
    return hashlib.sha256(route.encode() + b"\n" + body).digest()


def required_key(value: str | None) -> str:
    if not value:
        erreur = Erreur(HEADER, FORMAT_INVALIDE, "en-tête Idempotency-Key obligatoire")
        raise Probleme(400, FORMAT_INVALIDE, "Idempotency-Key manquant", erreurs=[erreur])
    if len(value) > MAX_KEY_LENGTH:
        message = f"au plus {MAX_KEY_LENGTH} caractères"
        erreur = Erreur(HEADER, FORMAT_INVALIDE, message)
        raise Probleme(400, FORMAT_INVALIDE, "Idempotency-Key trop long", erreurs=[erreur])
    return value


class IdempotencyKeys:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        # Insertion order is expiry order: expired entries are dropped from the front.
        self._entries: dict[tuple[str, str], _Entry] = {}

    def replay(self, client_id: str, key: str, fingerprint: bytes) -> str | None:
        """The first answer's result for the same body; None for a new (or expired) key."""
        self._expire()
        entry = self._entries.get((client_id, key))
        if entry is None:
            return None
        if entry.fingerprint != fingerprint:
            raise Probleme(
                422,
                CLE_IDEMPOTENCE_REUTILISEE,
                "cette clé a déjà servi pour une autre requête",
                erreurs=[Erreur(HEADER, CLE_IDEMPOTENCE_REUTILISEE, "clé déjà utilisée")],
            )
        return entry.result

    def remember(self, client_id: str, key: str, fingerprint: bytes, result: str) -> None:
        self._entries[(client_id, key)] = _Entry(fingerprint, result, self._clock())

    def _expire(self) -> None:
        limit = self._clock() - KEY_TTL
        while self._entries:
            oldest = next(iter(self._entries))
            if self._entries[oldest].stored_at > limit:
                return
            del self._entries[oldest]
