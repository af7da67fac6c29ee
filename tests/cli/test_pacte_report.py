"""`agora-bridge pacte-report` over stored snapshots, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from agora_bridge.cli import pacte_report
from agora_bridge.cli.main import app
from agora_bridge.snapshots.perimeter import SENDABLE, Classement, Classification
from agora_bridge.storage.db import make_engine, make_sessionmaker
from agora_bridge.storage.dossiers import store_snapshot
from tests.storage.builders import NOW, crypto, nir
from tests.storage.builders import snapshot as stored_snapshot

EXCLUDED = Classification(Classement.EXCLU, "CATEGORIE_EXCLUE")

# (id, step, entry date, dispositif, département, level, version)
DOSSIERS = [
    ("P-1", "ENTRE", "2017-03-06", "VISA_METIERS", "44", "V", 1),
    ("P-2", "SOLDE", "2017-09-04", "PREPA_AVENIR", "49", "IV", 1),
    ("P-3", "SORTI", "2019-01-07", "VISA_METIERS", "44", "3", 1),
    ("P-4", "ENTRE", "2019-02-04", "VISA_METIERS", "44", "5", 1),
    ("P-5", "VALIDE", None, "VISA_METIERS", "44", "V", 1),  # not entered
    ("P-6", "ANNULE", "2019-02-04", "VISA_METIERS", "44", "V", 1),  # entry undone
    ("P-7", "ENTRE", "2016-11-07", "VISA_METIERS", "44", "V", 1),  # before 2017
]


async def store_all(url: str) -> None:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        for order, (id_dossier, step, entered, dispositif, departement, niveau, _) in enumerate(
            DOSSIERS, start=1
        ):
            changes: dict[str, Any] = {
                "statut": step,
                "date_entree": entered,
                "programme.dispositif": dispositif,
                "session.departement": departement,
                "stagiaire.niveau_entree": niveau,
            }
            if step in ("SORTI", "SOLDE"):
                changes["sortie"] = {"date": entered, "motif": "FIN_FORMATION"}
            if step == "SOLDE":
                changes["solde"] = {
                    "date": entered,
                    "heures_realisees_centre": "1",
                    "heures_realisees_entreprise": "0",
                }
            if step == "ANNULE":
                changes["annulation"] = {"date": entered, "motif": "ERREUR_SAISIE"}
            item = stored_snapshot(id_dossier=id_dossier, nir=nir(order), **changes)
            # Held or excluded, an entry is an entry: the Pacte counts the Région's.
            classification = EXCLUDED if id_dossier == "P-4" else SENDABLE
            await store_snapshot(session, item, classification, crypto(), now=NOW)
        await session.commit()
    await engine.dispose()


def test_the_report_counts_the_newest_snapshot_of_each_dossier(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", database_url)
    monkeypatch.setattr(pacte_report, "PAGE", 2)  # seven dossiers: four pages
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    asyncio.run(store_all(database_url))

    result = runner.invoke(app, ["pacte-report", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    this_year = datetime.now(ZoneInfo("Europe/Paris")).year
    assert [row["annee"] for row in report["total"]] == list(range(2017, this_year + 1))
    totals = {row["annee"]: row for row in report["total"]}
    assert (totals[2017]["entrees"], totals[2017]["entrees_infra_iv"]) == (2, 1)
    assert (totals[2019]["entrees"], totals[2019]["entrees_infra_iv"]) == (2, 1)
    assert (totals[2019]["indice_2017"], totals[2019]["indice_2017_infra_iv"]) == (100.0, 100.0)
    assert totals[2018]["entrees"] == 0
    assert report["entrees_avant_2017"] == 1
    by_dispositif = {(row["dispositif"], row["annee"]): row for row in report["par_dispositif"]}
    assert by_dispositif["VISA_METIERS", 2019]["indice_2017"] == 200.0
    assert by_dispositif["PREPA_AVENIR", 2019]["indice_2017"] == 0.0
    by_departement = {(row["departement"], row["annee"]): row for row in report["par_departement"]}
    assert by_departement["49", 2017]["entrees_infra_iv"] == 0
    assert by_departement["44", 2019]["entrees_infra_iv"] == 1

    table = runner.invoke(app, ["pacte-report"])
    assert table.exit_code == 0, table.output
    assert "Entries into training by dispositif (2017 = 100)" in table.stdout
    assert "VISA_METIERS" in table.stdout
    assert "200.0" in table.stdout


def test_an_unmigrated_database_is_an_operator_error(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(app, ["pacte-report"])
    assert result.exit_code == 2
    assert "agora-bridge db upgrade" in result.stderr
