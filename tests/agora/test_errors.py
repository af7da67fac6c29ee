"""AGORA's answers sorted into the two error families; Retry-After; the retry delay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.agora.errors import (
    AgoraError,
    AgoraPermanentError,
    AgoraTransientError,
    DossierExistant,
    TransitionDejaAppliquee,
    error_from_response,
    parse_retry_after,
    retry_delay,
)
from agora_bridge.snapshots.model import Statut
from tests.agora.wire_builders import NIR, dossier_json

NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
BUSINESS_CODES = [
    "NIR_INVALIDE",
    "SIRET_INVALIDE",
    "DATE_INCOHERENTE",
    "SORTIE_APRES_FIN_SESSION",
    "DATE_FUTURE",
    "COUT_INCOHERENT",
    "TRANSITION_INVALIDE",
    "DOSSIER_SOLDE",
    "CLE_IDEMPOTENCE_REUTILISEE",
]


def problem_body(status: int, code: str, **extra: object) -> bytes:
    body = {"type": "about:blank", "title": code, "status": status, "code": code}
    return json.dumps({**body, "detail": f"{code} for {NIR}", "erreurs": [], **extra}).encode()


# ---- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0), ("-3", 0.0)],
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)  # "Mon, 02 Mar 2026 ..."

    assert parse_retry_after(later, now=NOW) == 90.0


def test_retry_after_in_the_past_means_now() -> None:
    earlier = format_datetime(NOW - timedelta(hours=1), usegmt=True)

    assert parse_retry_after(earlier, now=NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "1e3", "Mon, 99 Foo 2026", "inf", "nan"])
def test_unreadable_retry_after_is_no_wish(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


# ---- The delay before trying again --------------------------------------------------------


@given(
    retry_after=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
    attempt=st.integers(min_value=1, max_value=10_000),
)
def test_delay_is_never_below_the_minimum_nor_above_the_cap(
    retry_after: float | None, attempt: int
) -> None:
    delay = retry_delay(retry_after, attempt, base=0.001, cap=30.0, minimum=0.25)

    assert 0.25 <= delay <= 30.0


def test_retry_after_zero_does_not_make_a_hot_loop() -> None:
    delays = [retry_delay(0.0, 1, base=0.0001, cap=10, minimum=0.5) for _ in range(200)]

    assert min(delays) >= 0.5


def test_backoff_doubles_with_twenty_percent_jitter() -> None:
    for attempt, backoff in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        delays = [retry_delay(None, attempt, base=1, cap=100, minimum=0.1) for _ in range(200)]
        assert backoff * 0.8 <= min(delays) <= max(delays) <= backoff * 1.2


def test_retry_after_is_a_floor_jittered_upwards_only() -> None:
    delays = [retry_delay(5.0, 1, base=0.5, cap=100, minimum=0.1) for _ in range(200)]

    assert 5.0 <= min(delays) <= max(delays) <= 6.0


def test_retry_after_beyond_the_cap_is_capped() -> None:
    assert retry_delay(3600.0, 1, base=0.5, cap=10.0, minimum=0.1) == 10.0


# ---- Statuses and codes into the two families ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "FORMAT_INVALIDE"),
        (401, "JETON_INVALIDE"),
        (404, "DOSSIER_INCONNU"),
        (404, "LOT_INCONNU"),
        (409, "DOSSIER_EXISTANT"),
        (409, "TRANSITION_DEJA_APPLIQUEE"),
        (409, "LOT_NON_TRAITE"),
        (413, "LOT_TROP_VOLUMINEUX"),
        *[(422, code) for code in BUSINESS_CODES],
    ],
)
def test_refusals_are_permanent(status: int, code: str) -> None:
    error = error_from_response(status, {}, problem_body(status, code), request_id="r-1")

    assert isinstance(error, AgoraPermanentError)
    assert (error.status, error.code, error.request_id) == (status, code, "r-1")
    assert error.body["code"] == code


@pytest.mark.parametrize(
    ("status", "code", "ambiguous"),
    [
        (429, "QUOTA_DEPASSE", False),
        (503, "INDISPONIBLE", False),
        (500, "ERREUR_INTERNE", True),
        (502, "PASSERELLE", True),
        (504, "DELAI_PASSERELLE", True),
    ],
)
def test_quota_and_server_errors_are_transient(status: int, code: str, ambiguous: bool) -> None:
    error = error_from_response(status, {"retry-after": "3"}, problem_body(status, code))

    assert isinstance(error, AgoraTransientError)
    assert (error.status, error.code, error.retry_after_s) == (status, code, 3.0)
    assert error.ambiguous is ambiguous
    assert error.sent is True


def test_503_without_retry_after() -> None:
    error = error_from_response(503, {}, problem_body(503, "INDISPONIBLE"))

    assert isinstance(error, AgoraTransientError)
    assert error.retry_after_s is None


def test_field_errors_are_kept_and_named_in_the_message() -> None:
    erreurs = [{"champ": "titulaire.nir", "code": "NIR_INVALIDE", "message": f"{NIR} ?"}]
    error = error_from_response(422, {}, problem_body(422, "NIR_INVALIDE", erreurs=erreurs))

    assert isinstance(error, AgoraPermanentError)
    assert [(e.champ, e.code) for e in error.erreurs] == [("titulaire.nir", "NIR_INVALIDE")]
    assert "titulaire.nir: NIR_INVALIDE" in str(error)


def test_bodies_stay_out_of_messages_and_reprs() -> None:
    content = problem_body(422, "NIR_INVALIDE")
    error = error_from_response(422, {}, content, route="POST /dossiers")

    assert NIR not in str(error)
    assert NIR not in repr(error)
    assert isinstance(error, AgoraPermanentError)
    assert error.raw_body == content  # kept for whoever needs to look, deliberately


@pytest.mark.parametrize(
    "content",
    [b"<html><body>Bad Gateway</body></html>", b"", b"\xff\xfe not utf-8", b"[1, 2]", b"null"],
)
def test_a_body_that_is_not_problem_json_still_gives_a_clean_error(content: bytes) -> None:
    permanent = error_from_response(404, {}, content)
    transient = error_from_response(502, {}, content)

    assert isinstance(permanent, AgoraPermanentError)
    assert (permanent.code, permanent.body, permanent.erreurs) == (None, {}, [])
    assert isinstance(transient, AgoraTransientError)
    assert transient.code is None
    assert "html" not in str(permanent) + str(transient)


def test_a_malformed_problem_still_gives_its_code() -> None:
    content = json.dumps({"code": "DATE_FUTURE", "erreurs": "not a list"}).encode()

    error = error_from_response(422, {}, content)

    assert error.code == "DATE_FUTURE"


def test_dossier_existant_names_the_existing_dossier() -> None:
    content = problem_body(409, "DOSSIER_EXISTANT", id_agora="AG000000000042")
    error = error_from_response(409, {}, content)

    assert isinstance(error, DossierExistant)
    assert error.id_agora == "AG000000000042"
    assert error.dossier is None


def test_transition_deja_appliquee_carries_the_dossier() -> None:
    content = problem_body(409, "TRANSITION_DEJA_APPLIQUEE", dossier=dossier_json("ENTRE"))
    error = error_from_response(409, {}, content)

    assert isinstance(error, TransitionDejaAppliquee)
    assert error.dossier is not None
    assert error.dossier.statut is Statut.ENTRE
    assert error.id_agora is None


def test_an_unreadable_dossier_is_none_rather_than_a_crash() -> None:
    content = problem_body(409, "TRANSITION_DEJA_APPLIQUEE", dossier={"statut": "ENTRE"})
    error = error_from_response(409, {}, content)

    assert isinstance(error, AgoraPermanentError)
    assert error.dossier is None


def test_other_409s_stay_generic() -> None:
    error = error_from_response(409, {}, problem_body(409, "LOT_NON_TRAITE"))

    assert type(error) is AgoraPermanentError


def test_both_families_are_agora_errors() -> None:
    assert issubclass(AgoraTransientError, AgoraError)
    assert issubclass(AgoraPermanentError, AgoraError)
