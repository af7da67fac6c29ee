"""AGORA's failures as two families, and the delay before trying again.

- `AgoraTransientError`: the call may succeed later (connection errors, timeouts, 429, 5xx).
  `ambiguous` tells whether AGORA may nonetheless have applied it: the sync engine then looks
  the dossier up before re-sending.
- `AgoraPermanentError`: AGORA refused the call (4xx); sending it again as is cannot help.

Messages carry status, code and field names only: AGORA's wording and bodies may quote what
was sent (a NIR), so they stay in attributes, out of `str(exc)` and so out of log lines.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from agora_bridge.agora.schemas import Dossier, Erreur, Probleme, from_agora

# 5xx answers that say the request was not processed; the others (500, 502, 504...) may come
# after AGORA or a gateway in front of it applied it, so they are treated as ambiguous.
_DEFINITE_5XX = frozenset({503})
# Statuses retried although below 500: AGORA's quota (429) and "too slow to send" (408).
_TRANSIENT_4XX = frozenset({408, 429})
_SECONDS = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_KEPT_BYTES = 64 * 1024
# Beyond this the exponent only overflows: the cap applies long before.
_MAX_DOUBLINGS = 32


class AgoraError(Exception):
    """Any failure of a call to AGORA."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str | None,
        request_id: str | None,
        route: str | None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.route = route  # "POST /dossiers/{id_agora}/entree": a template, never an id


class AgoraTransientError(AgoraError):
    """Worth trying again later; `retry_after_s` is AGORA's wish, when it said one.

    `sent`: the request left the client (False: no connection, or its token failed).
    `ambiguous`: AGORA may have applied it although the client saw a failure.
    """

    def __init__(
        self,
        message: str,
        *,
        ambiguous: bool,
        sent: bool = True,
        status: int | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
        request_id: str | None = None,
        route: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id, route=route)
        self.ambiguous = ambiguous
        self.sent = sent
        self.retry_after_s = retry_after_s


class AgoraPermanentError(AgoraError):
    """AGORA's refusal: `code`, `erreurs` and the parsed `body` say why."""

    status: int

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        erreurs: list[Erreur],
        body: dict[str, Any],
        raw_body: bytes = b"",
        request_id: str | None = None,
        route: str | None = None,
    ) -> None:
        message = _permanent_message(status, code, erreurs, route)
        super().__init__(message, status=status, code=code, request_id=request_id, route=route)
        self.erreurs = erreurs
        self.body = body
        self.raw_body = raw_body[:_KEPT_BYTES]

    @property
    def id_agora(self) -> str | None:
        """With `409 DOSSIER_EXISTANT`: the id of the dossier that already exists."""
        value = self.body.get("id_agora")
        return value if isinstance(value, str) else None

    @property
    def dossier(self) -> Dossier | None:
        """With `409 TRANSITION_DEJA_APPLIQUEE`: the dossier as AGORA holds it, or None when
        the body does not carry a readable one (then read it with `GET`)."""
        value = self.body.get("dossier")
        if not isinstance(value, dict):
            return None
        try:
            return from_agora(Dossier, value)
        except ValidationError:
            return None


class DossierExistant(AgoraPermanentError):
    """`409 DOSSIER_EXISTANT`: the creation collided with a dossier AGORA already holds;
    `id_agora` names it, so the engine links to it and continues from its state."""


class TransitionDejaAppliquee(AgoraPermanentError):
    """`409 TRANSITION_DEJA_APPLIQUEE`: the dossier is already in the target state; `dossier`
    is AGORA's content, to compare with what the engine meant to send."""


# The 409s the engine acts on rather than parks: a typed error for each.
_CONFLICTS: dict[str, type[AgoraPermanentError]] = {
    "DOSSIER_EXISTANT": DossierExistant,
    "TRANSITION_DEJA_APPLIQUEE": TransitionDejaAppliquee,
}


def _permanent_message(
    status: int, code: str | None, erreurs: list[Erreur], route: str | None
) -> str:
    message = f"AGORA refused {route or 'the call'}: {status} {code or '(no code)'}"
    fields = ", ".join(f"{e.champ}: {e.code}" for e in erreurs if e.champ)
    return f"{message} ({fields})" if fields else message


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    A negative delay or a past date gives 0; an unreadable value gives None (no wish).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return max(0.0, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC too
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(
    retry_after_s: float | None,
    attempt: int,
    *,
    base: float,
    cap: float,
    minimum: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (from 1).

    Exponential from `base`, ±20 % jitter so that clients spread out; AGORA's Retry-After is
    a floor (jittered upwards only). Never below `minimum`, so that `Retry-After: 0` cannot
    make a hot loop, never above `cap`.
    """
    backoff = base * 2.0 ** min(max(attempt, 1) - 1, _MAX_DOUBLINGS)
    delay = backoff * uniform(0.8, 1.2)
    if retry_after_s is not None and math.isfinite(retry_after_s):
        delay = max(delay, retry_after_s * uniform(1.0, 1.2))
    return min(cap, max(minimum, delay))


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    request_id: str | None = None,
    route: str | None = None,
) -> AgoraError:
    """The error for an answer that is not a success, whatever its body (problem+json or not)."""
    body = _json_object(content)
    probleme = _probleme(body)
    if status >= 500 or status in _TRANSIENT_4XX:
        return AgoraTransientError(
            f"AGORA answered {route or 'a call'}: {status} {probleme.code or '(no code)'}",
            ambiguous=status >= 500 and status not in _DEFINITE_5XX,
            status=status,
            code=probleme.code,
            retry_after_s=parse_retry_after(headers.get("retry-after")),
            request_id=request_id,
            route=route,
        )
    kind = _CONFLICTS.get(probleme.code or "", AgoraPermanentError) if status == 409 else None
    return (kind or AgoraPermanentError)(
        status=status,
        code=probleme.code,
        erreurs=probleme.erreurs,
        body=body,
        raw_body=content,
        request_id=request_id,
        route=route,
    )


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except ValueError:  # not JSON, or not UTF-8: an HTML page from a proxy
        return {}
    return body if isinstance(body, dict) else {}


def _probleme(body: dict[str, Any]) -> Probleme:
    try:
        return from_agora(Probleme, body)
    except ValidationError:
        # A body shaped otherwise than RFC 9457 still gives its code when it has one.
        code = body.get("code")
        return Probleme(code=code if isinstance(code, str) else None)
