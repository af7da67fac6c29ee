"""No NIR, name, birth date or API key secret in the API's answers or logs, even at DEBUG,
even for rejected items and invalid requests."""

from __future__ import annotations

import io
import json

from pydantic import BaseModel

from agora_bridge.api import create_app
from agora_bridge.logs import configure_logging, redact_text
from agora_bridge.storage.callers import Role
from tests.api.builders import (
    assert_problem,
    bearer,
    json_array,
    key_for,
    running,
    sessions_of,
    settings,
)
from tests.builders import NIR, snapshot_dict

NAME, FIRST_NAME, BIRTH = "Zorglub", "Ermengarde", "1985-05-12"
PERSONAL = (NIR, NIR[:13], NAME, FIRST_NAME, BIRTH)


class _Candidat(BaseModel):
    nir: str
    age: int


def items() -> list[dict[str, object]]:
    person = {"stagiaire.nom_naissance": NAME, "stagiaire.prenom": FIRST_NAME}
    return [
        snapshot_dict("VALIDE", id_dossier="PDL-1", **person),
        # rejected: the NIR disagrees with the birth date, the SIRET is wrong
        snapshot_dict(
            "VALIDE",
            id_dossier="PDL-2",
            **person,
            **{"stagiaire.date_naissance": "1990-01-01", "organisme.siret": "1" * 14},
        ),
        {"id_dossier": "PDL-3", "stagiaire": {"nir": NIR, "nom_naissance": NAME}},
    ]


async def test_answers_and_logs_hold_no_personal_data(migrated_url: str) -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    app = create_app(settings(migrated_url))

    @app.post("/candidats")
    async def candidats(candidat: _Candidat) -> None:
        """A route with a validated body: its 422 must not echo the NIR."""

    try:
        async with running(app) as client:
            key = await key_for(sessions_of(app), Role.REGION_SI)
            headers = {"Content-Type": "application/json"} | bearer(key)
            ingest = await client.post(
                "/region/v1/dossiers", content=json_array(items()), headers=headers
            )
            invalid = await client.post("/candidats", json={"nir": NIR, "age": NAME})
            unknown = await client.post("/candidats", content=f"nir={NIR}".encode())
            revoked = await client.post(
                "/region/v1/dossiers", content=b"[]", headers=bearer(key + "x")
            )
    finally:
        configure_logging(level="INFO", fmt="json")
    assert ingest.status_code == 202
    assert [r["resultat"] for r in ingest.json()["resultats"]] == ["ACCEPTE", "REJETE", "REJETE"]
    problem = assert_problem(invalid, 422, "REQUETE_INVALIDE")
    assert problem["erreurs"] == [{"champ": "body.age", "code": "INT_PARSING"}]
    assert_problem(unknown, 422)
    assert_problem(revoked, 401)
    logs = stream.getvalue()
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    rejected = [r for r in records if r["event"] == "ingest.line.rejected"]
    assert len(rejected) == 2  # the log did see the rejected items, with the request's id
    assert {r["request_id"] for r in rejected} == {ingest.headers["x-request-id"]}
    secret = key.split("_", 2)[2]
    for response in (ingest, invalid, unknown, revoked):
        for value in (*PERSONAL, secret):
            assert value not in response.text
    for value in (*PERSONAL, secret):
        assert value not in logs


def test_an_api_key_s_secret_is_redacted_from_free_text() -> None:
    key = "agb_0123456789ab_" + "s3cr-t_" * 6
    assert redact_text(f"Authorization: Bearer {key}.") == (
        "Authorization: Bearer agb_0123456789ab_[SECRET]."
    )
    for line in (json.dumps({"k": key}),):
        assert "s3cr" not in redact_text(line)
