"""The contract checker itself: it must catch what it is there to catch."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.contracts.validate import ContractViolation, find_operation, validate_response
from tests.mocks.builders import problem

PROBLEM = "application/problem+json"


def response(
    method: str,
    path: str,
    status: int,
    body: Any,
    *,
    media: str = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers={"content-type": media, **(headers or {})},
        request=httpx.Request(method, f"http://agora.test{path}"),
    )


def test_paths_resolve_to_their_templates() -> None:
    found = find_operation("POST", "/agora/v2/dossiers/recherche")
    assert found is not None
    assert found[0] == "/agora/v2/dossiers/recherche"
    found = find_operation("PATCH", "/agora/v2/dossiers/AG000000000001")
    assert found is not None
    assert found[0] == "/agora/v2/dossiers/{id_agora}"
    assert find_operation("DELETE", "/agora/v2/dossiers/AG000000000001") is None
    # The search's own path, with a method it does not take: not a rectification.
    assert find_operation("PATCH", "/agora/v2/dossiers/recherche") is None


def test_a_conforming_answer_passes() -> None:
    validate_response(
        response(
            "POST", "/agora/v2/dossiers", 201, {"id_agora": "AG000000000001", "statut": "VALIDE"}
        )
    )
    validate_response(
        response(
            "POST",
            "/agora/v2/dossiers",
            429,
            problem("QUOTA_DEPASSE", 429),
            media=PROBLEM,
            headers={"Retry-After": "1"},
        )
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            response("POST", "/agora/v2/dossiers", 201, {"id_agora": "AG1", "statut": "VALIDE"}),
            "id_agora",
        ),
        (response("POST", "/agora/v2/dossiers", 418, {}), "not documented"),
        (
            response("POST", "/agora/v2/dossiers", 409, problem("DOSSIER_EXISTANT", 409)),
            "media type",
        ),
        (
            response(
                "POST", "/agora/v2/dossiers", 409, problem("DOSSIER_EXISTANT", 409), media=PROBLEM
            ),
            "id_agora",
        ),
        (
            response(
                "POST", "/agora/v2/dossiers", 429, problem("QUOTA_DEPASSE", 429), media=PROBLEM
            ),
            "Retry-After",
        ),
        (
            response(
                "GET",
                "/agora/v2/lots/LT000000000001/compte-rendu",
                200,
                b'{"ligne": 0}\n',
                media="application/x-ndjson",
            ),
            "line 1",
        ),
        (response("DELETE", "/agora/v2/dossiers/AG000000000001", 200, {}), "not an operation"),
    ],
)
def test_a_deviation_is_reported(answer: httpx.Response, message: str) -> None:
    with pytest.raises(ContractViolation, match=message):
        validate_response(answer)
