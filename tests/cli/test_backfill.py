"""`agora-bridge backfill` from the command line: the report as JSON, exit statuses, the dry
run that stores nothing, a second run with another cut-off refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agora_bridge.cli.main import app
from agora_bridge.storage.db import make_engine, upgrade
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, mock_in_thread
from tests.builders import snapshot_line

runner = CliRunner()


def sample(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    lines = [
        snapshot_line("SOLDE", id_dossier="A"),
        snapshot_line("SORTI", id_dossier="B"),
        snapshot_line(id_dossier="C", **{"programme.categorie": "SANITAIRE_SOCIAL"}),
        snapshot_line(id_dossier="D", **{"stagiaire.nir": None}),
        snapshot_line(id_dossier="E", **{"organisme.siret": "73282932000075"}),
        snapshot_line("VALIDE", id_dossier="A"),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    for name, value in {
        "MODE": "test",
        "DATABASE_URL": url,
        "AGORA__CLIENT_ID": DEMO_CLIENT_ID,
        "AGORA__CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "BACKFILL__POLL_S": "0.05",
    }.items():
        monkeypatch.setenv(f"AGORA_BRIDGE_{name}", value)
    return url


def test_a_dry_run_counts_like_validate_and_stores_nothing(
    tmp_path: Path, settings_env: str
) -> None:
    path = sample(tmp_path)
    result = runner.invoke(app, ["backfill", str(path), "--dry-run", "--json", "--lot-size", "1"])
    assert result.exit_code == 1  # an invalid line
    report = json.loads(result.stdout)
    validated = json.loads(runner.invoke(app, ["validate", str(path), "--json"]).stdout)
    assert report["dry_run"] is True
    assert report["envoyables"] == validated["envoyables"] == report["lots"] == 2
    assert report["versions_anciennes"] == validated["doublons"] == 1
    assert (report["exclus"], report["retenus"]) == (validated["exclus"], validated["retenus"])
    assert not (tmp_path / "bridge.db").exists()


def test_a_backfill_reports_as_json_then_refuses_another_cut_off(
    tmp_path: Path, settings_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_migrate(settings_env))
    path = sample(tmp_path)
    with mock_in_thread(lot_delay_s=0.05) as mock:
        monkeypatch.setenv("AGORA_BRIDGE_AGORA__BASE_URL", f"{mock.url}/agora/v2")
        result = runner.invoke(app, ["backfill", str(path), "--json"])
        assert result.exit_code == 1, result.output  # the invalid line
        report = json.loads(result.stdout)
        assert (report["termine"], report["lots"], report["envoyes"]) == (True, 1, 2)
        assert (report["acceptes"], report["rejetes"], report["invalides"]) == (2, {}, 1)
        other = runner.invoke(app, ["backfill", str(path), "--since", "2018-01-01"])
        assert other.exit_code == 2
        assert "started with --since 2017-01-01" in other.output


def test_an_unmigrated_database_is_refused_in_one_sentence(
    tmp_path: Path, settings_env: str
) -> None:
    result = runner.invoke(app, ["backfill", str(sample(tmp_path))])
    assert result.exit_code == 2
    assert "agora-bridge db upgrade" in result.output


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
