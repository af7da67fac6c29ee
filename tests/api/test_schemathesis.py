"""A schemathesis run over the bridge's whole `/openapi.json`, served by uvicorn over loopback.

Every phase but the stateful one (the document declares no links): the examples, coverage
(boundary values, negated inputs, missing headers, methods not listed) and fuzzing. Fixed
seed, bounded examples. Each call carries the key of the role its route is for, and path
ids are mostly those of orientations seeded in every state, so that generated calls reach
the rules and the state machine, not only the 404.

Checks: every default one but `positive_data_acceptance` (a schema-valid body is often
rightly refused: a NIR's key, a date in the future, a motif `AUTRE` without a comment, a
transition the state does not allow): no 5xx; status, media type, headers and body as
documented; schema-invalid input refused; a missing required header refused; an unlisted
method 405; authentication enforced.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import strategies as st
from schemathesis import AuthContext, BaseSchema, Case, HookContext
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.openapi import from_url

from agora_bridge.api import create_app
from agora_bridge.serving import uvicorn_config
from agora_bridge.storage.db import make_engine, make_sessionmaker
from mocks.server import mock_in_thread
from tests.api.builders import settings
from tests.api.conftest import migrate
from tests.api.ouiform_builders import BODIES, Callers, callers
from tests.api.test_ouiform_transitions import PATHS
from tests.conftest import sqlite_url
from tests.mocks.test_schemathesis import failures_of, statuses_of

SEED = 20261127
REJECTED = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 422]
MAX_EXAMPLES = 8  # per operation and phase: about 40 s on 2 busy cores


def key_for(path: str, method: str, keys: Callers) -> str:
    """The role each route is for, so that calls get past the 403."""
    if path.startswith("/region/"):
        return keys.region
    if path.startswith("/ops"):  # the ops status and page, past their 403 to the 200
        return keys.ops
    if path.endswith(("/positionnement", "/decision", "/entree")):
        return keys.of_a
    if method == "POST":
        return keys.prescripteur
    return keys.of_a


class Keys:
    keys: Callers

    def get(self, case: Case[Any], context: AuthContext) -> str:
        return key_for(case.operation.path, case.operation.method.upper(), self.keys)

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


def seed_orientations(url: str, keys: Callers) -> list[str]:
    """An orientation in each state (`PATHS`), created and moved over HTTP: their ids."""
    ids = []
    with httpx.Client(base_url=url) as client:
        for number, path in enumerate(PATHS.values()):
            body = {
                "candidat": {"nom": "Martin", "prenom": "Léa", "date_naissance": "2001-02-03"},
                "organisme": {"siret": "73282932000074"},
                "session": {"action_numero": "A1", "session_numero": "S1"},
            }
            headers = {
                "Authorization": f"Bearer {keys.prescripteur}",
                "Idempotency-Key": f"s{number}",
            }
            created = client.post("/ouiform/v1/orientations", json=body, headers=headers)
            assert created.status_code == 201, created.text
            oid = created.json()["id"]
            for role, step, changes in path:
                moved = client.post(
                    f"/ouiform/v1/orientations/{oid}/{step}",
                    json={**BODIES[step], **changes},
                    headers={"Authorization": f"Bearer {keys.of(role)}"},
                )
                assert moved.status_code == 200, moved.text
            ids.append(oid)
    return ids


def with_seeded_ids(ids: list[str]) -> Any:
    def flatmap_path_parameters(
        context: HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters or "orientation_id" not in path_parameters:
            return st.just(path_parameters)
        drawn = path_parameters["orientation_id"]
        choice = st.sampled_from(ids) | st.just(drawn)
        return st.fixed_dictionaries({"orientation_id": choice})

    return flatmap_path_parameters


def schema_served_by(url: str, keys: Callers, ids: list[str]) -> BaseSchema:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": url,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                "positive_data_acceptance": {"enabled": False},
                # ouiform.md answers a stale If-Match (412) before a bad body (422).
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            "operations": [
                {
                    # operations.md: one bad item never rejects the batch (202, item REJETE).
                    "include-path": "/region/v1/dossiers",
                    "include-method": "POST",
                    "checks": {"negative_data_rejection": {"expected-statuses": [*REJECTED, 202]}},
                }
            ],
        }
    )
    schema = from_url(f"{url}/openapi.json", config=config)
    Keys.keys = keys
    # No caching: each operation gets the key of its own role.
    schema.auth(refresh_interval=None)(Keys)
    schema.hook(with_seeded_ids(ids))
    return schema


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Callers]]:
    url = asyncio.run(migrate(sqlite_url(tmp_path)))
    keys = asyncio.run(_callers(url))
    with mock_in_thread() as agora:  # so that /health/ready can answer 200
        app = create_app(settings(url, agora_url=f"{agora.url}/agora/v2"))
        server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=0))
        thread = threading.Thread(target=server.run, name="bridge", daemon=True)
        thread.start()
        try:
            while not server.started:
                assert thread.is_alive(), "the bridge stopped before it started"
                thread.join(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}", keys
        finally:
            server.should_exit = True
            thread.join()


async def _callers(url: str) -> Callers:
    engine = make_engine(url)
    try:
        return await callers(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def test_a_schemathesis_run_over_the_whole_api_finds_nothing(
    served: tuple[str, Callers],
) -> None:
    url, keys = served
    ids = seed_orientations(url, keys)
    failures: list[str] = []
    errors: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()
    for event in schemathesis.engine.from_schema(schema_served_by(url, keys, ids)).execute():
        if isinstance(event, events.ScenarioFinished):
            failures += failures_of(event)
            answered += statuses_of(event)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"[{event.phase}] {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    assert errors == [], "\n\n".join(errors)
    assert failures == [], "\n\n".join(failures)
    reached = {status for (_, status) in answered}
    # The run got past authentication, into the rules and the state machine.
    assert {200, 201, 202, 400, 401, 404, 405, 409, 412, 422} <= reached, reached
