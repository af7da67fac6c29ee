"""The app factory: refuses an unmigrated database, problem+json everywhere, request ids."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from openapi_spec_validator import validate

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging
from agora_bridge.storage.db import DatabaseNotMigratedError
from tests.api.builders import asgi_client, assert_problem, bridge, running, settings


async def test_an_unmigrated_database_is_refused_naming_db_upgrade(database_url: str) -> None:
    app = create_app(settings(database_url))
    with pytest.raises(DatabaseNotMigratedError, match="run `agora-bridge db upgrade`"):
        async with running(app):
            pass


async def test_unknown_route_and_method_are_problems(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        assert_problem(await client.get("/nowhere"), 404, "RESSOURCE_INCONNUE")
        assert_problem(await client.delete("/health/live"), 405, "METHODE_NON_AUTORISEE")


async def test_an_unexpected_error_is_a_500_problem_without_its_message(
    migrated_sqlite: str,
) -> None:
    app = create_app(settings(migrated_sqlite))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail 185057800608436")

    async with running(app), asgi_client(app) as client:
        response = await client.get("/boom")
    body = assert_problem(response, 500, "ERREUR_INTERNE")
    assert "secret" not in response.text
    assert "185057800608436" not in response.text
    assert "request id" in body["detail"]


async def test_a_uuid_request_id_is_kept_anything_else_replaced(migrated_sqlite: str) -> None:
    mine = str(uuid.uuid4())
    async with bridge(settings(migrated_sqlite)) as (_, client):
        kept = await client.get("/health/live", headers={"X-Request-Id": mine})
        replaced = await client.get("/health/live", headers={"X-Request-Id": "<script>"})
    assert kept.headers["x-request-id"] == mine
    assert str(uuid.UUID(replaced.headers["x-request-id"])) == replaced.headers["x-request-id"]


async def test_every_log_line_of_a_request_carries_its_id(migrated_sqlite: str) -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    mine = str(uuid.uuid4())
    try:
        async with bridge(settings(migrated_sqlite)) as (_, client):
            stream.seek(0)
            stream.truncate()
            await client.get("/nowhere", headers={"X-Request-Id": mine})
    finally:
        configure_logging(level="INFO", fmt="json")
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    request_lines = [r for r in records if r.get("event") == "http.request"]
    assert request_lines == [
        {**request_lines[0], "request_id": mine, "status": 404, "method": "GET"}
    ]
    during = records[: records.index(request_lines[0]) + 1]
    assert all(r.get("request_id") == mine for r in during)


async def test_openapi_documents_every_route_and_its_problems(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        schema = (await client.get("/openapi.json")).json()
    validate(schema)  # a valid OpenAPI 3.1 document, every $ref resolved
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "code",
    ]
    ingest = schema["paths"]["/region/v1/dossiers"]["post"]
    assert set(ingest["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert "Snapshot" in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            assert any(status.startswith("2") for status in responses), path
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert set(response["content"]) == {"application/problem+json"}, path
    assert {"401", "403", "413", "422"} <= set(ingest["responses"])
    assert ingest["security"] == [{"cleApi": []}]
