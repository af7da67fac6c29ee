"""`agora-bridge validate` counts the "Interface AGORA" attribute decided on three levels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agora_bridge.cli.main import app
from tests.builders import ABSENT, snapshot_line

runner = CliRunner()


def line(ident: str, programme: Any, consultation: Any, dispositif: Any, **changes: Any) -> str:
    levels = {
        "programme.interface_agora": programme,
        "programme.interface_agora_consultation": consultation,
        "programme.interface_agora_dispositif": dispositif,
    }
    return snapshot_line(id_dossier=ident, **levels, **changes)


def sample(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    lines = [
        line("A", None, True, ABSENT),  # the consultation decides: sendable
        line("B", None, None, True),  # the dispositif decides: sendable
        line("C", True, ABSENT, False),  # the programme decides: sendable
        line("D", None, None, None),  # set nowhere
        line("E", None, False, True),  # the consultation opts out of an AGORA dispositif
        line("F", None, ABSENT, True, **{"programme.categorie": "VAE"}),  # inconsistent
        line("G", None, None, None, **{"programme.categorie": "DETENUS"}),
        line("H", ABSENT, True, True),  # the programme's key is required
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_counts_the_decided_attribute(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(sample(tmp_path)), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["envoyables"] == 3
    assert report["exclus"] == {
        "CATEGORIE_DETENUS": 1,
        "CATEGORIE_VAE": 1,
        "INTERFACE_AGORA_NON": 2,
    }
    assert report["detail_invalides"] == [
        {
            "ligne": 8,
            "id_dossier": "H",
            "erreurs": [{"champ": "programme.interface_agora", "code": "CHAMP_REQUIS"}],
        }
    ]


def summary_rows(table: str) -> dict[str, str]:
    """The (what, count) rows of the summary table as printed."""
    rows = {}
    for text in table.splitlines():
        cells = [cell.strip() for cell in text.split("│")[1:-1]]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def test_the_table_says_where_the_attribute_comes_from(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(sample(tmp_path))], env={"COLUMNS": "200"})
    rows = summary_rows(result.stdout)
    levels = "programme, else consultation, else dispositif"
    assert rows[f"excluded: INTERFACE_AGORA_NON (false or set nowhere: {levels})"] == "2"
    assert rows[f"excluded category with Interface AGORA true ({levels})"] == "1"
    assert rows["sendable"] == "3"
