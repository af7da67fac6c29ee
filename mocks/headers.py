"""The request headers the contract constrains: `X-Request-Id`, `Content-Type`.

A malformed header is the request's format, like a malformed body: `400 FORMAT_INVALIDE`
naming the header. A body in a media type the operation does not take is `415`.
"""

from __future__ import annotations

import re

from mocks.problems import FORMAT_INVALIDE, MEDIA_TYPE_NON_SUPPORTE, Erreur, Probleme

REQUEST_ID = "X-Request-Id"
CONTENT_TYPE = "Content-Type"
JSON = "application/json"
NDJSON = "application/x-ndjson"
FORM = "application/x-www-form-urlencoded"
# The contract's `format: uuid`: the hyphenated form, whatever the version.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def malformed_header(name: str, expected: str) -> Probleme:
    erreur = Erreur(name, FORMAT_INVALIDE, expected)
    return Probleme(400, FORMAT_INVALIDE, f"en-tête {name} invalide", erreurs=[erreur])


def request_id(value: str | None) -> str | None:
    """The request's id as recorded in `historique`; None when it had none (spec)."""
    if value is None:
        return None
    if not _UUID.fullmatch(value):
        raise malformed_header(REQUEST_ID, "un UUID attendu (8-4-4-4-12 chiffres hexadécimaux)")
    return value


def require_media_type(content_type: str | None, expected: str) -> None:
    """415 unless the body is declared as `expected` (parameters such as charset aside)."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != expected:
        detail = f"corps en {expected} attendu"
        erreur = Erreur(CONTENT_TYPE, MEDIA_TYPE_NON_SUPPORTE, detail)
        raise Probleme(415, MEDIA_TYPE_NON_SUPPORTE, detail, erreurs=[erreur])
