"""Builders for the orientation API's tests: callers of every kind, bodies, moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.storage.callers import (
    NewOrganisation,
    Role,
    StructureType,
    add_organisation,
    create_key,
)
from tests.api.builders import NOW, bearer
from tests.builders import NIR, SIRET

SIRET_B = "73282932000009"
BASE = "/ouiform/v1/orientations"


@dataclass(frozen=True)
class Callers:
    """A key for each kind of caller: two organismes, two prescribers, ops, the Région."""

    of_a: str
    of_b: str
    prescripteur: str
    prescripteur_2: str
    ops: str
    region: str

    def of(self, role: Role) -> str:
        return {
            Role.ORGANISME: self.of_a,
            Role.PRESCRIPTEUR: self.prescripteur,
            Role.OPS: self.ops,
            Role.REGION_SI: self.region,
        }[role]


async def _key(sessions: async_sessionmaker[AsyncSession], new: NewOrganisation) -> str:
    async with sessions() as session, session.begin():
        organisation_id = await add_organisation(session, new, now=NOW)
        return await create_key(session, organisation_id, now=NOW)


async def callers(sessions: async_sessionmaker[AsyncSession]) -> Callers:
    def prescriber(code: str) -> NewOrganisation:
        return NewOrganisation(
            f"Mission locale {code}",
            Role.PRESCRIPTEUR,
            structure_code=code,
            structure_type=StructureType.MISSION_LOCALE,
        )

    return Callers(
        of_a=await _key(sessions, NewOrganisation("OF A", Role.ORGANISME, siret=SIRET)),
        of_b=await _key(sessions, NewOrganisation("OF B", Role.ORGANISME, siret=SIRET_B)),
        prescripteur=await _key(sessions, prescriber("ML-44-NANTES")),
        prescripteur_2=await _key(sessions, prescriber("ML-49-ANGERS")),
        ops=await _key(sessions, NewOrganisation("Ops", Role.OPS)),
        region=await _key(sessions, NewOrganisation("SI Région", Role.REGION_SI)),
    )


def creation(siret: str = SIRET, *, nir: str | None = NIR, **candidat: Any) -> dict[str, Any]:
    return {
        "candidat": {
            "nom": "Dupont",
            "prenom": "Jean",
            "date_naissance": "1985-05-12",
            "nir": nir,
            "email": "jean.dupont@example.org",
            "telephone": "06 12 34 56 78",
            **candidat,
        },
        "organisme": {"siret": siret},
        "session": {"action_numero": "20_1262663", "session_numero": "1330305"},
    }


def headers(key: str, **more: str) -> dict[str, str]:
    return {**bearer(key), **more}


async def create(
    client: httpx.AsyncClient, key: str, body: dict[str, Any] | None = None, *, cle: str = ""
) -> dict[str, Any]:
    response = await client.post(
        BASE,
        json=body or creation(),
        headers=headers(key, **{"Idempotency-Key": cle or str(uuid.uuid4())}),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# A body for each transition that moves an orientation from the state before it.
BODIES: dict[str, dict[str, Any]] = {
    "positionnement": {"date_information_collective": "2026-11-20"},
    "decision": {"resultat": "RETENUE"},
    "entree": {"date_entree": "2026-11-23"},
    "abandon": {"date": "2026-11-20", "motif": "EMPLOI_TROUVE"},
    "annulation": {},
}


async def move(
    client: httpx.AsyncClient, key: str, orientation_id: str, step: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{BASE}/{orientation_id}/{step}", json={**BODIES[step], **body}, headers=bearer(key)
    )


async def moved(
    client: httpx.AsyncClient, key: str, orientation_id: str, *steps: str
) -> dict[str, Any]:
    """The orientation after `steps` (each must succeed)."""
    body: dict[str, Any] = {}
    for step in steps:
        response = await move(client, key, orientation_id, step)
        assert response.status_code == 200, response.text
        body = response.json()
    return body
