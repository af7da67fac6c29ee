"""The 3-working-day rule end to end: entries declared here, Région dossiers ingested, the
matching pass and the report the ops status calls."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import select

from agora_bridge.orientation.entries import Ecart
from agora_bridge.storage.models import Orientation
from agora_bridge.storage.orientation_entries import entry_report, match_entries
from tests.api.builders import bearer, bridge, json_array, sessions_of, settings
from tests.api.ouiform_builders import Callers, callers, create, creation, move
from tests.builders import snapshot_dict

ENTRY = "2019-03-04"  # a Monday: the builders' Région dossier entered that day


async def entered(
    client: httpx.AsyncClient, keys: Callers, body: dict[str, Any], declared_on: str = ENTRY
) -> str:
    orientation = await create(client, keys.prescripteur, body)
    for step, changes in (
        ("positionnement", {"date_information_collective": "2019-02-25"}),
        ("decision", {}),
        ("entree", {"date_entree": declared_on}),
    ):
        response = await move(client, keys.of_a, orientation["id"], step, **changes)
        assert response.status_code == 200, response.text
    oid: str = orientation["id"]
    return oid


async def ingest(client: httpx.AsyncClient, keys: Callers, *snapshots: dict[str, Any]) -> None:
    response = await client.post(
        "/region/v1/dossiers",
        content=json_array(snapshots),
        headers={**bearer(keys.region), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["acceptes"] == len(snapshots), response.text


async def declared_at(app: Any, orientation_id: str, moment: datetime) -> None:
    async with sessions_of(app)() as session, session.begin():
        row = await session.get_one(Orientation, orientation_id)
        row.entree_declaree_at = moment


async def test_entries_matched_late_and_missing(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        keys = await callers(sessions_of(app))
        by_nir = await entered(client, keys, creation())
        # No NIR: found by names and birth date, however the names were typed.
        by_name = await entered(
            client,
            keys,
            creation(nir=None, nom="  dupont", prenom="JEAN", date_naissance="1990-01-02"),
        )
        other_session = await entered(client, keys, creation(nir=None, nom="Durand"))
        await ingest(
            client,
            keys,
            snapshot_dict("ENTRE", date_entree=ENTRY),
            snapshot_dict(
                "ENTRE",
                id_dossier="PDL-2",
                date_entree=ENTRY,
                **{
                    "stagiaire.nir": None,
                    "stagiaire.nom_naissance": "Dupont",
                    "stagiaire.prenom": "Jean",
                    "stagiaire.date_naissance": "1990-01-02",
                },
            ),
            # Durand's dossier is for another session: no match.
            snapshot_dict(
                "ENTRE",
                id_dossier="PDL-3",
                **{
                    "stagiaire.nir": None,
                    "stagiaire.nom_naissance": "Durand",
                    "session.numero": "9",
                },
            ),
        )
        # Declared here on the 3rd working day after the entry, on the 4th, on the 3rd.
        await declared_at(app, by_nir, datetime(2019, 3, 7, 10, tzinfo=UTC))
        await declared_at(app, by_name, datetime(2019, 3, 8, 10, tzinfo=UTC))
        await declared_at(app, other_session, datetime(2019, 3, 7, 10, tzinfo=UTC))
        async with sessions_of(app)() as session, session.begin():
            report = await entry_report(session, today=date(2019, 3, 12))
            again = await match_entries(session)
            rows = {o.id: o for o in await session.scalars(select(Orientation))}
    assert again == 0  # the pass recorded its matches; Durand's has none to find
    assert rows[by_nir].dossier_apparie == "PDL-2019-0001234"
    assert rows[by_name].dossier_apparie == "PDL-2"
    assert rows[by_nir].dossier_entree_date == date(2019, 3, 4)
    assert rows[other_session].dossier_apparie is None
    assert report.comptes == {Ecart.DECLARATION_TARDIVE: 1, Ecart.SANS_DOSSIER_REGION: 1}
    assert report.orientations == {
        Ecart.DECLARATION_TARDIVE: [by_name],
        Ecart.SANS_DOSSIER_REGION: [other_session],
    }


async def test_an_unmatched_entry_is_not_missing_before_three_working_days(
    migrated_sqlite: str,
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        keys = await callers(sessions_of(app))
        oid = await entered(client, keys, creation(), declared_on="2019-03-04")
        await declared_at(app, oid, datetime(2019, 3, 4, 10, tzinfo=UTC))
        async with sessions_of(app)() as session, session.begin():
            on_time = await entry_report(session, today=date(2019, 3, 7))
            late = await entry_report(session, today=date(2019, 3, 8))
    assert on_time.comptes[Ecart.SANS_DOSSIER_REGION] == 0
    assert late.orientations[Ecart.SANS_DOSSIER_REGION] == [oid]
