"""The client-credentials token (standing in for Interops-A) and the request quota."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from mocks.problems import FORMAT_INVALIDE, JETON_INVALIDE, QUOTA_DEPASSE, Erreur, Probleme

_FORM_FIELDS = ("grant_type", "client_id", "client_secret")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agora"'}


def _unauthorized(detail: str) -> Probleme:
    return Probleme(401, JETON_INVALIDE, detail, headers=_CHALLENGE)


def parse_form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode(), strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        raise Probleme(400, FORMAT_INVALIDE, "formulaire x-www-form-urlencoded attendu") from None


def _same(given: str, expected: str) -> bool:
    # Constant time, so that a wrong secret says nothing about the right one.
    return hmac.compare_digest(given.encode(), expected.encode())


class Tokens:
    def __init__(
        self, *, client_id: str, client_secret: str, ttl_s: int, clock: Callable[[], datetime]
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        # Insertion order is expiry order (one lifetime for all), so expired ones leave first.
        self._expiry: dict[str, tuple[str, datetime]] = {}

    @property
    def ttl_s(self) -> int:
        return int(self._ttl.total_seconds())

    def issue(self, form: Mapping[str, str]) -> dict[str, str | int]:
        erreurs = [
            Erreur(name, FORMAT_INVALIDE, "champ obligatoire")
            for name in _FORM_FIELDS
            if not form.get(name)
        ]
        if form.get("grant_type", "client_credentials") != "client_credentials":
            erreurs.append(Erreur("grant_type", FORMAT_INVALIDE, "client_credentials attendu"))
        if erreurs:
            detail = "grant_type=client_credentials, client_id et client_secret attendus"
            raise Probleme(400, FORMAT_INVALIDE, detail, erreurs=erreurs)
        if not (
            _same(form["client_id"], self._client_id)
            and _same(form["client_secret"], self._client_secret)
        ):
            raise _unauthorized("identifiants du client refusés")
        token = secrets.token_urlsafe(32)
        self._expiry[token] = (self._client_id, self._clock() + self._ttl)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_s}

    def client_of(self, authorization: str | None) -> str:
        """The client a bearer token was issued to; 401 if missing, unknown or expired."""
        self._expire()
        scheme, _, token = (authorization or "").partition(" ")
        entry = self._expiry.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise _unauthorized("jeton absent, inconnu ou expiré")
        return entry[0]

    def clear(self) -> None:
        self._expiry.clear()

    def _expire(self) -> None:
        now = self._clock()
        while self._expiry:
            oldest = next(iter(self._expiry))
            if self._expiry[oldest][1] > now:
                return
            del self._expiry[oldest]


class RateLimiter:
    """A token bucket: `rate` requests a second, bursts up to `rate`; None lets all through."""

    def __init__(self, rate: int | None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._monotonic = monotonic
        self._tokens = float(rate or 0)
        self._last = monotonic()

    def check(self) -> None:
        if self._rate is None:
            return
        now = self._monotonic()
        self._tokens = min(float(self._rate), self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            raise Probleme(
                429,
                QUOTA_DEPASSE,
                f"au plus {self._rate} requêtes par seconde",
                headers={"Retry-After": "1"},
            )
        self._tokens -= 1
