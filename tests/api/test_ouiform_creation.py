"""Creation: Idempotency-Key required, per caller, kept 24 h; a replay answers the first 201;
another body is a 422; a failed request is not stored; the NIR validated and encrypted; 422
bodies name fields and never echo what was sent."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from agora_bridge.logs import configure_logging
from agora_bridge.storage.models import Idempotence, Orientation
from tests.api.builders import assert_problem, bearer, bridge, sessions_of, settings
from tests.api.ouiform_builders import BASE, callers, create, creation, moved
from tests.builders import NIR
from tests.stored_text import assert_absent, stored_bytes

PERSONAL = ("Zorglub", "Ermengarde", "1985-05-12", NIR, NIR[:13], "zorg@example.org")


def zorglub(**candidat: Any) -> dict[str, Any]:
    person = {"nom": "Zorglub", "prenom": "Ermengarde", "email": "zorg@example.org"}
    return creation(**{**person, **candidat})


async def post(client: httpx.AsyncClient, key: str, body: Any, cle: str | None) -> httpx.Response:
    headers = {**bearer(key), **({"Idempotency-Key": cle} if cle is not None else {})}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(BASE, content=content, headers=headers)


async def count(app: Any) -> int:
    async with sessions_of(app)() as session:
        return int(await session.scalar(select(func.count()).select_from(Orientation)) or 0)


async def test_the_same_key_and_body_replay_the_first_201(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        first = await post(client, keys.prescripteur, creation(), "cle-1")
        assert first.status_code == 201, first.text
        await moved(client, keys.of_a, first.json()["id"], "positionnement")
        # The same JSON, keys in another order and spaced otherwise: the same body.
        same = json.dumps(dict(reversed(list(creation().items()))), indent=2).encode()
        again = await post(client, keys.prescripteur, same, "cle-1")
        assert again.status_code == 201
        assert again.json() == first.json()  # the first answer, not the orientation now
        assert again.headers["idempotent-replayed"] == "true"
        other = await post(client, keys.prescripteur, creation(nom="Martin"), "cle-1")
        problem = assert_problem(other, 422, "CLE_IDEMPOTENCE_REUTILISEE")
        assert problem["erreurs"] == [{"champ": "Idempotency-Key", "code": "CLE_DEJA_UTILISEE"}]
        # Keys are per caller: another prescriber's "cle-1" is its own.
        theirs = await post(client, keys.prescripteur_2, creation(), "cle-1")
        assert theirs.status_code == 201
        assert theirs.json()["id"] != first.json()["id"]
        assert await count(app) == 2


async def test_a_key_is_forgotten_after_24_hours(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        first = await post(client, keys.prescripteur, creation(), "cle-j")
        async with sessions_of(app)() as session, session.begin():
            key = (await session.scalars(select(Idempotence))).one()
            key.created_at -= timedelta(hours=24)
        later = await post(client, keys.prescripteur, creation(nom="Martin"), "cle-j")
        assert later.status_code == 201, later.text
        assert later.json()["id"] != first.json()["id"]


async def test_a_failed_request_is_not_stored(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        assert_problem(await post(client, keys.prescripteur, creation(), None), 400)
        assert_problem(await post(client, keys.prescripteur, creation(), ""), 400)
        invalid = creation(date_naissance="1990-01-01")  # the NIR says born in May 1985
        assert_problem(await post(client, keys.prescripteur, invalid, "cle-2"), 422)
        assert await count(app) == 0
        valid = await post(client, keys.prescripteur, creation(), "cle-2")
        assert valid.status_code == 201, valid.text


async def test_required_and_optional_candidate_fields(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        minimal = {
            "candidat": {"nom": "Martin", "prenom": "Léa", "date_naissance": "2001-02-03"},
            "organisme": {"siret": "73282932000074"},
            "session": {"action_numero": "A1", "session_numero": "S1"},
        }
        created = await create(client, keys.prescripteur, minimal)
        assert created["candidat"] == {
            **minimal["candidat"],
            "identifiant_ft": None,
            "email": None,
            "telephone": None,
        }
        broken = await post(client, keys.prescripteur, {"candidat": {}}, "cle-3")
        champs = {e["champ"] for e in assert_problem(broken, 422)["erreurs"]}
        assert champs == {
            "candidat.nom",
            "candidat.prenom",
            "candidat.date_naissance",
            "organisme",
            "session",
        }


async def test_422s_and_logs_never_echo_personal_data(migrated_url: str) -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    try:
        async with bridge(settings(migrated_url)) as (app, client):
            keys = await callers(sessions_of(app))
            answers = [
                await post(client, keys.prescripteur, zorglub(nir=NIR[:-2] + "00"), "c-1"),
                await post(client, keys.prescripteur, zorglub(email="zorg@", telephone="x"), "c-2"),
                await post(client, keys.prescripteur, zorglub(nom="Zorglub\x00"), "c-3"),
                await post(client, keys.prescripteur, zorglub(date_naissance="1985-13-12"), "c-4"),
            ]
            for answer in answers:
                assert_problem(answer, 422)
            assert [e["champ"] for e in answers[0].json()["erreurs"]] == ["candidat.nir"]
            created = await post(client, keys.prescripteur, zorglub(), "c-5")
            assert created.status_code == 201
            stored = await stored_bytes(migrated_url)
    finally:
        configure_logging(level="INFO", fmt="console")
    said = stream.getvalue() + "".join(a.text for a in answers)
    assert_absent(said.encode(), PERSONAL)
    assert_absent(stored, PERSONAL)
