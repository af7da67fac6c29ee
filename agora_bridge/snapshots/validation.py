"""Turn one input line into a valid `Snapshot` or the list of every rule it breaks.

Errors name the field and the rule (`FieldError`), never the value: a rejected line may
carry a NIR or a name, and the report must not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agora_bridge.snapshots.model import (
    FLOAT_SEEN,
    HOURS_FIELDS,
    ID_DOSSIER,
    NO_CONTROL_PATTERN,
    Snapshot,
    Statut,
)
from agora_bridge.snapshots.normalise import agora_name
from agora_bridge.snapshots.reader import MAX_LINE_BYTES, is_utf8

PARIS = ZoneInfo("Europe/Paris")
AGE_MIN, AGE_MAX = 15, 99

# Rule codes and what they mean, for people reading a report.
RULES: dict[str, str] = {
    "JSON_INVALIDE": "the line is not a JSON object",
    "ENCODAGE_INVALIDE": "the line is not UTF-8 text (or escapes half of a UTF-16 surrogate pair)",
    "LIGNE_TROP_LONGUE": f"the line is longer than {MAX_LINE_BYTES:,} bytes",
    "CHAMP_REQUIS": "the field is required (in this status)",
    "FORMAT_INVALIDE": "the value does not have the expected type or format",
    "LONGUEUR_INVALIDE": "the text is empty or too long",
    "CARACTERE_CONTROLE": "the text holds a control character (U+0000-U+001F, U+007F)",
    "VALEUR_INCONNUE": "the value is not one of the allowed codes",
    "VALEUR_HORS_LIMITES": "the number is out of its allowed range",
    "DATE_INVALIDE": "not a YYYY-MM-DD date string, or not a timestamp string with an offset",
    "SIRET_INVALIDE": "Luhn over the 14 digits and the SIREN (La Poste: digit sum multiple of 5)",
    "CERTIFICATION_INVALIDE": "RNCP/RS: the prefix then digits; CERTIFINFO: digits only",
    "NOM_INVALIDE": "no letter left once normalised for AGORA",
    "AGE_HORS_LIMITES": "the trainee must be 15 to 99 years old on the entry date",
    "DATE_FUTURE": "the date is after today (Europe/Paris)",
    "DATE_INCOHERENTE": "the date is out of order with the session or the dossier's other dates",
    "SORTIE_APRES_FIN_SESSION": "the exit date is after the session's end",
    "REFUS_BASE": "the database refused to store the line (its values, whatever they are)",
    "STATUT_INCOHERENT": "the field is filled in but the status has not reached that step",
}

_PYDANTIC_CODES = {
    "missing": "CHAMP_REQUIS",
    "literal_error": "VALEUR_INCONNUE",
    "enum": "VALEUR_INCONNUE",
    "string_too_short": "LONGUEUR_INVALIDE",
    "string_too_long": "LONGUEUR_INVALIDE",
    "greater_than": "VALEUR_HORS_LIMITES",
    "greater_than_equal": "VALEUR_HORS_LIMITES",
    "less_than": "VALEUR_HORS_LIMITES",
    "less_than_equal": "VALEUR_HORS_LIMITES",
    "date_type": "DATE_INVALIDE",
    "date_parsing": "DATE_INVALIDE",
    "date_from_datetime_parsing": "DATE_INVALIDE",
    "date_from_datetime_inexact": "DATE_INVALIDE",
    "datetime_type": "DATE_INVALIDE",
    "datetime_parsing": "DATE_INVALIDE",
    "datetime_from_date_parsing": "DATE_INVALIDE",
    "timezone_aware": "DATE_INVALIDE",
}
# A JSON number's own text: no exponent, at most 2 decimals (a negative one is out of range).
_NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")


@dataclass(frozen=True, slots=True)
class FieldError:
    champ: str
    code: str


@dataclass(frozen=True, slots=True)
class Rejection:
    id_dossier: str | None
    erreurs: tuple[FieldError, ...]


def paris_today() -> date:
    """Today as the Région counts it; the one clock read of the validation rules."""
    return datetime.now(PARIS).date()


def parse_line(line: str | bytes, *, today: date) -> Snapshot | Rejection:
    """A snapshot, or every rule the line breaks; never raises, whatever the line holds."""
    if len(line) > MAX_LINE_BYTES:
        return Rejection(None, (FieldError("ligne", "LIGNE_TROP_LONGUE"),))
    context: dict[str, bool] = {}
    try:
        snapshot = Snapshot.model_validate_json(line, context=context)
    except ValidationError as exc:
        errors = (*_from_pydantic(exc, line), *_number_text_errors(line, context))
        return Rejection(_id_of(line), tuple(dict.fromkeys(errors)))
    errors = (*_number_text_errors(line, context), *check_rules(snapshot, today=today))
    return Rejection(snapshot.id_dossier, errors) if errors else snapshot


def _from_pydantic(exc: ValidationError, line: str | bytes) -> tuple[FieldError, ...]:
    errors: dict[FieldError, None] = {}  # ordered set: one entry per field and rule
    for error in exc.errors(include_input=False, include_url=False):
        champ = ".".join(str(part) for part in error["loc"])
        if not champ:  # the line itself: not JSON, not an object, not text
            return (FieldError("ligne", _line_code(line)),)
        errors[FieldError(champ, _code(error))] = None
    return tuple(errors)


def _code(error: ErrorDetails) -> str:
    if error["type"] == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        return "CARACTERE_CONTROLE" if pattern == NO_CONTROL_PATTERN else "FORMAT_INVALIDE"
    code = _PYDANTIC_CODES.get(error["type"], error["type"])
    return code if code.isupper() else "FORMAT_INVALIDE"  # a pydantic type we do not name


def _line_code(line: str | bytes) -> str:
    if isinstance(line, bytes) and not is_utf8(line):
        return "ENCODAGE_INVALIDE"
    return "ENCODAGE_INVALIDE" if _holds_lone_surrogate(line) else "JSON_INVALIDE"


def _holds_lone_surrogate(line: str | bytes) -> bool:
    """JSON lets `\\ud800` stand alone, but no UTF-8 text can hold it: an encoding error."""
    try:
        json.dumps(json.loads(line), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


class _JsonNumber(str):
    """The text of a JSON number that is not an integer, as the line spells it."""


def _number_text_errors(line: str | bytes, context: dict[str, bool]) -> Iterator[FieldError]:
    """Hours given as JSON numbers, held to their text: no exponent, at most 2 decimals.

    pydantic hands JSON numbers to validators as floats (`1e3` and `1000.0` alike), so the
    hours validator only flags them; the line is read again, exactly, only then.
    """
    if not context.get(FLOAT_SEEN):
        return
    try:
        data = json.loads(line, parse_float=_JsonNumber, parse_constant=_JsonNumber)
    except (ValueError, RecursionError):
        return
    for champ in HOURS_FIELDS:
        value = _at(data, champ.split("."))
        if isinstance(value, _JsonNumber) and not _NUMBER_TEXT.fullmatch(value):
            yield FieldError(champ, "FORMAT_INVALIDE")


def _at(data: object, path: Iterable[str]) -> object:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _id_of(line: str | bytes) -> str | None:
    """The id of a rejected line, when the line is JSON with a well-formed id.

    Anything else is left out: a malformed id may be garbage, control characters or
    personal data put in the wrong field.
    """
    if isinstance(line, bytes):  # what is not UTF-8 reads as U+FFFD, never in a kept id
        line = line.decode("utf-8", errors="replace")
    try:  # the standard library, unlike pydantic, reads past a lone surrogate escape
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    ident = value.get("id_dossier") if isinstance(value, dict) else None
    return ident if isinstance(ident, str) and ID_DOSSIER.fullmatch(ident) else None


def check_rules(s: Snapshot, *, today: date) -> Iterator[FieldError]:
    """The rules across fields, once every field has parsed."""
    yield from _check_person(s)
    yield from _check_certification(s)
    yield from _check_status_fields(s)
    yield from _check_dates(s)
    yield from _check_future(s, today)


def _check_person(s: Snapshot) -> Iterator[FieldError]:
    for field in ("nom_naissance", "prenom"):
        if not agora_name(getattr(s.stagiaire, field)):
            yield FieldError(f"stagiaire.{field}", "NOM_INVALIDE")
    if not AGE_MIN <= age_on(s.stagiaire.date_naissance, s.entry_date) <= AGE_MAX:
        yield FieldError("stagiaire.date_naissance", "AGE_HORS_LIMITES")


def age_on(born: date, day: date) -> int:
    """Whole years: the birthday must have come for the year to count."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _check_certification(s: Snapshot) -> Iterator[FieldError]:
    certification = s.action.certification
    if certification is not None and not certification.code_is_well_formed():
        yield FieldError("action.certification.code", "CERTIFICATION_INVALIDE")


# The status from which each step's field is required; before it, the field must be empty.
_STEP_FROM: dict[str, frozenset[Statut]] = {
    "date_entree": frozenset({Statut.ENTRE, Statut.SORTI, Statut.SOLDE}),
    "sortie": frozenset({Statut.SORTI, Statut.SOLDE}),
    "solde": frozenset({Statut.SOLDE}),
    "annulation": frozenset({Statut.ANNULE}),
}
# A cancelled dossier may have entered (cancellation from ENTRE), and its exit data is
# kept so that the planner can hold "cancellation after exit" instead of dropping it.
_ALLOWED_WHEN_CANCELLED = frozenset({"date_entree", "sortie"})


def _check_status_fields(s: Snapshot) -> Iterator[FieldError]:
    for field, required_in in _STEP_FROM.items():
        present = getattr(s, field) is not None
        if s.statut in required_in and not present:
            yield FieldError(field, "CHAMP_REQUIS")
        elif present and s.statut not in required_in and not _kept_when_cancelled(s, field):
            yield FieldError(field, "STATUT_INCOHERENT")


def _kept_when_cancelled(s: Snapshot, field: str) -> bool:
    return s.statut is Statut.ANNULE and field in _ALLOWED_WHEN_CANCELLED


def _check_dates(s: Snapshot) -> Iterator[FieldError]:
    session = s.session
    if session.date_debut > session.date_fin:
        yield FieldError("session.date_fin", "DATE_INCOHERENTE")
    if s.date_entree is not None and not session.date_debut <= s.date_entree <= session.date_fin:
        yield FieldError("date_entree", "DATE_INCOHERENTE")
    if s.sortie is not None:
        if s.sortie.date > session.date_fin:
            yield FieldError("sortie.date", "SORTIE_APRES_FIN_SESSION")
        elif s.date_entree is not None and s.sortie.date < s.date_entree:
            yield FieldError("sortie.date", "DATE_INCOHERENTE")
    if s.solde is not None and s.sortie is not None and s.solde.date < s.sortie.date:
        yield FieldError("solde.date", "DATE_INCOHERENTE")
    if s.annulation is not None and s.annulation.date < s.date_validation:
        yield FieldError("annulation.date", "DATE_INCOHERENTE")


def _check_future(s: Snapshot, today: date) -> Iterator[FieldError]:
    dated = {
        "date_validation": s.date_validation,
        "date_entree": s.date_entree,
        "sortie.date": s.sortie.date if s.sortie else None,
        "solde.date": s.solde.date if s.solde else None,
        "annulation.date": s.annulation.date if s.annulation else None,
    }
    for champ, value in dated.items():
        if value is not None and value > today:
            yield FieldError(champ, "DATE_FUTURE")
