"""`agora-bridge retours [--since CURSOR]`: the return flow as JSON Lines, resumable from any
line's cursor; a cursor it never printed is one sentence and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from agora_bridge.cli import retours
from agora_bridge.cli.main import app
from tests.builders import snapshot_line


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.db"
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
    return path


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_events_print_one_a_line_and_resume_after_any_cursor(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retours, "PAGE", 2)  # several pages
    assert run("db", "upgrade").exit_code == 0
    held = [
        snapshot_line("VALIDE", id_dossier=f"PDL-{n}", **{"stagiaire.nir": None}) for n in range(5)
    ]
    file = tmp_path / "d.jsonl"
    file.write_text("\n".join([*held, snapshot_line("VALIDE", id_dossier="PDL-OK")]) + "\n")
    assert run("import", str(file)).exit_code == 0

    events = lines(run("retours"))
    assert [(e["evenement"], e["id_dossier"], e["code"]) for e in events] == [
        ("RETENU", f"PDL-{n}", "NIR_ABSENT") for n in range(5)
    ]
    assert len({e["cursor"] for e in events}) == 5
    assert lines(run("retours", "--since", events[1]["cursor"])) == events[2:]
    assert lines(run("retours", "--since", events[-1]["cursor"])) == []


def test_a_cursor_never_printed_is_refused_in_one_sentence(database: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    result = run("retours", "--since", "42")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --since is not a cursor this feed printed"
