"""`agora-bridge reconcile` from the shell, against the mock in its own thread: the table, the
JSON, the exit statuses, and no personal data in anything it prints or logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from agora_bridge.cli.main import app
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, RunningMock, mock_in_thread
from tests.builders import NIR, NIR_BODY, snapshot_line
from tests.stored_text import assert_absent

PERSONAL = (NIR, NIR_BODY, "Dupont", "DUPONT", "Jean", "JEAN", "1985-05-12", "DURAND")
_DOSSIERS = {"PDL-1": "ENTRE", "PDL-2": "SORTI", "PDL-3": "VALIDE"}


@pytest.fixture
def agora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningMock]:
    """A migrated SQLite database whose three dossiers the sync delivered to the mock."""
    with mock_in_thread() as mock:
        settings = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
            "MODE": "test",
            "LOG_LEVEL": "DEBUG",  # something real to search for personal data
            "AGORA__BASE_URL": f"{mock.url}/agora/v2",
            "AGORA__CLIENT_ID": DEMO_CLIENT_ID,
            "AGORA__CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }
        for name, value in settings.items():
            monkeypatch.setenv(f"AGORA_BRIDGE_{name}", value)
        lines = [snapshot_line(step, id_dossier=key) for key, step in _DOSSIERS.items()]
        (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
        for command in (["db", "upgrade"], ["import", str(tmp_path / "d.jsonl")], ["sync"]):
            result = run(*command, *(["--once"] if command == ["sync"] else []))
            assert result.exit_code == 0, result.output
        yield mock


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def tamper(mock: RunningMock, reference: str, body: dict[str, Any]) -> None:
    with httpx.Client(base_url=f"{mock.url}/agora/v2") as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        }
        token = http.post("/oauth/token", data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        found = http.post(
            "/dossiers/recherche", json={"reference_financeur": reference}, headers=headers
        )
        id_agora = found.json()["resultats"][0]["id_agora"]
        http.patch(f"/dossiers/{id_agora}", json=body, headers=headers).raise_for_status()


def printed(result: Result) -> bytes:
    return (result.stdout + result.stderr).encode()


def test_json_names_the_drifted_fields_exit_1_then_0_once_repaired(agora: RunningMock) -> None:
    tamper(agora, "PDL-1", {"date_entree": "2019-03-05"})
    tamper(agora, "PDL-2", {"titulaire": _titulaire(agora, "PDL-2") | {"prenom": "DURAND"}})

    result = run("reconcile", "--all", "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["mode"], report["lus"], report["conformes"], report["ecarts"]) == (
        "tout",
        3,
        1,
        2,
    )
    assert [(d["id_dossier"], d["champs"]) for d in report["dossiers"]] == [
        ("PDL-1", ["date_entree"]),
        ("PDL-2", ["titulaire"]),
    ]
    assert "reconcile.drift" in result.stderr  # the logs were there to search
    assert_absent(printed(result), (*PERSONAL, "2019-03-05"))

    assert run("sync", "--once").exit_code == 0
    again = run("reconcile", "--all")
    assert again.exit_code == 0, again.output
    assert "read on AGORA" in again.stdout


def test_the_table_lists_drifted_and_absent_dossiers(agora: RunningMock) -> None:
    tamper(agora, "PDL-1", {"date_entree": "2019-03-05"})
    httpx.post(f"{agora.url}/__mock__/reset").raise_for_status()  # AGORA lost everything
    result = run("reconcile")
    assert result.exit_code == 1, result.output
    assert "absent from AGORA" in result.stdout
    assert "PDL-1" in result.stdout
    assert "Drifted dossiers (3 of 3" in result.stdout
    assert_absent(printed(result), PERSONAL)


def test_a_seeded_sample_reads_the_same_dossiers(agora: RunningMock) -> None:
    first = run("reconcile", "--sample", "2", "--seed", "5", "--json")
    again = run("reconcile", "--sample", "2", "--seed", "5", "--json")
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.stdout) == json.loads(again.stdout)
    assert json.loads(first.stdout)["lus"] == 2
    assert json.loads(first.stdout)["graine"] == 5


def test_agora_failing_is_exit_3(agora: RunningMock) -> None:
    httpx.put(f"{agora.url}/__mock__/faults", json={"error_rate": 1.0}).raise_for_status()
    result = run("reconcile", "--all", "--json")
    assert result.exit_code == 3, result.output
    assert sum(json.loads(result.stdout)["echecs"].values()) == 3


@pytest.mark.parametrize(
    "arguments", [("--all", "--sample", "3"), ("--all", "--seed", "1"), ("--sample", "0")]
)
def test_contradictory_options_are_exit_2(agora: RunningMock, arguments: tuple[str, ...]) -> None:
    result = run("reconcile", *arguments)
    assert result.exit_code == 2
    assert "Error" in result.stderr


def _titulaire(mock: RunningMock, reference: str) -> dict[str, Any]:
    for line in httpx.get(f"{mock.url}/__mock__/dossiers").text.splitlines():
        dossier = json.loads(line)
        if dossier["reference_financeur"] == reference:
            titulaire: dict[str, Any] = dossier["titulaire"]
            return titulaire
    raise AssertionError(reference)
