"""Logs carry no personal data: keyed fields, NIRs in free text, exception messages."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import structlog

from agora_bridge.logs import configure_logging, get_logger
from agora_bridge.settings import ConfigurationError
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.synthetic import snapshot_dict

NIR = "185057800608491"
NIR_SPACED = "1 85 05 78 006 084 91"
NIR_CORSICA_A = "285052A00608482"
NIR_CORSICA_B = "185052b00608462"  # lower case, as typed
SIRET = "73282932000074"
ID_DOSSIER = "PDL-2019-0001234"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    # Other tests expect structlog's and the root logger's defaults.
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def shows(stream: io.StringIO, secret: str) -> bool:
    """In the output as written, or once JSON's `\\u00e9` escapes are decoded."""
    decoded = json.dumps(json_lines(stream), ensure_ascii=False)
    return secret in stream.getvalue() or secret in decoded


def test_json_mode_writes_one_object_per_line(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    log = get_logger("tests")
    log.info("agora.attempt.sent", id_dossier=ID_DOSSIER)
    log.warning("agora.attempt.failed", status=503)

    first, second = json_lines(stream)
    assert first["event"] == "agora.attempt.sent"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert first["id_dossier"] == ID_DOSSIER
    assert second["level"] == "warning"


def test_level_filters_lower_levels(stream: io.StringIO) -> None:
    configure_logging(level="warning", stream=stream)
    get_logger("tests").info("not.shown")
    assert stream.getvalue() == ""


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        configure_logging(level="LOUD", stream=io.StringIO())


def test_contextvars_are_merged(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    structlog.contextvars.bind_contextvars(request_id="req-1")
    get_logger("tests").info("ingest.received")
    assert json_lines(stream)[0]["request_id"] == "req-1"


def test_personal_keys_are_redacted_at_any_depth(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    get_logger("tests").info(
        "dossier.held",
        nir=NIR,
        nom_naissance="Dupont",
        prenom="Éloïse",
        date_naissance="1985-05-12",
        dossier={"stagiaire": {"nom": "Dupont"}, "titulaire": "Noël"},
        items=[{"nir13": NIR[:13], "prenom": "Noël"}],
    )
    line = json_lines(stream)[0]
    assert line["nir"] == line["prenom"] == line["date_naissance"] == "[REDACTED]"
    assert line["dossier"] == {"stagiaire": "[REDACTED]", "titulaire": "[REDACTED]"}
    assert line["items"] == [{"nir13": "[REDACTED]", "prenom": "[REDACTED]"}]
    for secret in (NIR, "Dupont", "Éloïse", "Noël", "1985-05-12"):
        assert not shows(stream, secret)


@pytest.mark.parametrize(
    "nir",
    [
        NIR,
        NIR[:13],
        NIR_SPACED,
        "1.85.05.78.006.084.91",
        "1-85-05-78-006-084",
        NIR_CORSICA_A,
        NIR_CORSICA_B,
        "2 85 05 2A 006 084 82",
    ],
)
def test_nirs_in_free_text_are_replaced(stream: io.StringIO, nir: str) -> None:
    configure_logging(stream=stream)
    get_logger("tests").info(f"looked up {nir} on AGORA", detail=f"nir={nir};", number=[nir])
    line = json_lines(stream)[0]
    assert line["event"] == "looked up [NIR] on AGORA"
    assert line["detail"] == "nir=[NIR];"
    assert line["number"] == ["[NIR]"]
    assert nir not in stream.getvalue()


def test_a_logged_snapshot_model_shows_no_personal_data(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    snapshot = Snapshot.model_validate(
        snapshot_dict(random.Random(1), index=1, today=date(2026, 3, 15))
    )
    get_logger("tests").info("snapshot.received", snapshot=snapshot)
    line = json_lines(stream)[0]
    assert line["snapshot"]["stagiaire"] == "[REDACTED]"
    assert line["snapshot"]["id_dossier"] == snapshot.id_dossier
    person = snapshot.stagiaire
    for secret in (person.nir or "", person.nom_naissance, person.prenom):
        assert not shows(stream, secret)


def test_nir_as_an_integer_is_replaced(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    get_logger("tests").info("odd.value", value=int(NIR))
    assert json_lines(stream)[0]["value"] == "[NIR]"


@pytest.mark.parametrize("text", [SIRET, ID_DOSSIER, "20_1262663", "2024-05-01T10:00:00+02:00"])
def test_other_identifiers_are_kept(stream: io.StringIO, text: str) -> None:
    configure_logging(stream=stream)
    get_logger("tests").info(f"seen {text}", value=text)
    line = json_lines(stream)[0]
    assert line["event"] == f"seen {text}"
    assert line["value"] == text


def fail_with_a_nir() -> None:
    nir = NIR  # a local holding a NIR: must not be rendered
    raise ValueError(f"AGORA refused {nir} / {NIR_SPACED}")


def test_exception_message_is_redacted_and_locals_hidden(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    try:
        fail_with_a_nir()
    except ValueError:
        get_logger("tests").exception("agora.attempt.failed")
    line = json_lines(stream)[0]
    (stack,) = line["exception"]
    assert stack["exc_value"] == "AGORA refused [NIR] / [NIR]"
    assert all("locals" not in frame for frame in stack["frames"])
    assert NIR not in stream.getvalue()
    assert NIR_SPACED not in stream.getvalue()


def test_pydantic_inputs_in_error_text_are_redacted(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    get_logger("tests").error(
        "ingest.rejected",
        error="prenom\n  Too long [type=string_too_long, input_value='Éloïse', input_type=str]",
    )
    assert not shows(stream, "Éloïse")


def test_console_mode_redacts_and_shows_no_locals(stream: io.StringIO) -> None:
    configure_logging(fmt="console", stream=stream)
    log = get_logger("tests")
    log.info(f"looked up {NIR_SPACED}", nom="Dupont", siret=SIRET)
    try:
        fail_with_a_nir()
    except ValueError:
        log.exception("agora.attempt.failed")
    output = stream.getvalue()
    assert "[NIR]" in output
    assert SIRET in output
    assert "Traceback" in output
    for secret in (NIR, NIR_SPACED, "Dupont"):
        assert secret not in output


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_stdlib_loggers_go_through_redaction(stream: io.StringIO, fmt: Any) -> None:
    configure_logging(fmt=fmt, stream=stream)
    logging.getLogger("httpx").warning("POST /dossiers?nir=%s", NIR)
    try:
        fail_with_a_nir()
    except ValueError:
        logging.getLogger("uvicorn.error").exception("request failed")
    output = stream.getvalue()
    assert "[NIR]" in output
    assert NIR not in output


def test_sqlalchemy_parameters_are_not_logged(stream: io.StringIO) -> None:
    configure_logging(level="DEBUG", stream=stream)
    logging.getLogger("sqlalchemy.engine.Engine").info("[generated] ('Dupont',)")
    assert "Dupont" not in stream.getvalue()


def test_reconfiguring_replaces_the_handler(stream: io.StringIO) -> None:
    configure_logging(stream=io.StringIO())
    configure_logging(stream=stream)
    get_logger("tests").info("once")
    assert len(json_lines(stream)) == 1


def test_redact_values_takes_whole_words_in_any_case_and_quotes_no_pattern() -> None:
    from agora_bridge.logs import REDACTED, redact_values

    text = "D'ARC-NOËL (d'arc-noël) né le 01/02/1990; D'ARC-NOËLLE et JEANNE restent, JEAN-LUC non"
    assert redact_values(text, ["d'Arc-Noël", "01/02/1990", "", "  ", "Jean"]) == (
        f"{REDACTED} ({REDACTED}) né le {REDACTED}; D'ARC-NOËLLE et JEANNE restent,"
        f" {REDACTED}-LUC non"
    )
    assert redact_values("a.b a+b", ["a.b"]) == f"{REDACTED} a+b"  # "." is not a wildcard
