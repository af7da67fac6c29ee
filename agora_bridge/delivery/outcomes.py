"""What an AGORA answer means for the engine: the outcomes it acts on, by name.

The names go to `livraison.last_outcome`, the stats and the ledger (`agora.outcome`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from agora_bridge.agora.errors import (
    AgoraError,
    AgoraPermanentError,
    AgoraTransientError,
    DossierExistant,
    TransitionDejaAppliquee,
)
from agora_bridge.logs import redact_text, redact_values

# A success whose body the client could not read: AGORA may have applied the call.
_UNREADABLE = "REPONSE_INVALIDE"
# Refusals of our credentials, not of the dossier: retried (and counted by the breaker).
_NOT_THE_DOSSIER = frozenset({401, 403})
_MESSAGE_CHARS = 500


class Issue(StrEnum):
    SUCCES = "SUCCES"
    DEJA_APPLIQUEE = "DEJA_APPLIQUEE"  # 409 TRANSITION_DEJA_APPLIQUEE: compare, maybe rectify
    EXISTANT = "EXISTANT"  # 409 DOSSIER_EXISTANT: link to it, read it
    PARQUE = "PARQUE"  # a business rejection: parked with AGORA's code and message
    AMBIGU = "AMBIGU"  # AGORA may have applied it: read before sending again
    TRANSITOIRE = "TRANSITOIRE"  # certainly not applied: retry later


def issue_of(error: AgoraError) -> Issue:
    match error:
        case TransitionDejaAppliquee():
            return Issue.DEJA_APPLIQUEE
        case DossierExistant() if error.id_agora is not None:
            return Issue.EXISTANT
        case AgoraTransientError():
            return Issue.AMBIGU if error.ambiguous else Issue.TRANSITOIRE
        case AgoraPermanentError() if error.code == _UNREADABLE:
            return Issue.AMBIGU
        case AgoraPermanentError() if error.status in _NOT_THE_DOSSIER:
            return Issue.TRANSITOIRE
    return Issue.PARQUE


def is_failure(issue: Issue) -> bool:
    """What the circuit breaker counts: AGORA did not answer as a working service."""
    return issue in (Issue.AMBIGU, Issue.TRANSITOIRE)


def parked_message(error: AgoraPermanentError, personal: Iterable[str] = ()) -> str:
    """AGORA's explanation for the ops status and the return flow: its detail and field
    errors, with NIR-shaped text and the dossier's `personal` values (names, birth date)
    redacted: AGORA's wording may quote the value it refused."""
    detail = error.body.get("detail")
    parts = [detail] if isinstance(detail, str) else []
    parts += [
        f"{e.champ}: {e.code}" + (f" ({e.message})" if e.message else "") for e in error.erreurs
    ]
    text = redact_values(redact_text("; ".join(parts) or str(error)), personal)
    return text[:_MESSAGE_CHARS]
