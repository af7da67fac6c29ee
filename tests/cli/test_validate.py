from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agora_bridge.cli.main import app
from agora_bridge.snapshots.reader import InputFileError
from tests.builders import NIR, snapshot_line

runner = CliRunner()


def sample(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    lines = [
        snapshot_line("SOLDE", id_dossier="A"),
        snapshot_line(id_dossier="B", **{"programme.categorie": "SANITAIRE_SOCIAL"}),
        snapshot_line(id_dossier="C", **{"stagiaire.nir": None}),
        snapshot_line(id_dossier="D", **{"organisme.siret": "73282932000075"}),
        snapshot_line("SOLDE", id_dossier="A"),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_output_is_the_documented_object(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(sample(tmp_path)), "--json"])
    assert result.exit_code == 1  # invalid lines were found
    report = json.loads(result.stdout)
    assert list(report) == [
        "lignes",
        "doublons",
        "invalides",
        "exclus",
        "retenus",
        "envoyables",
        "detail_invalides",
    ]
    assert report == {
        "lignes": 5,
        "doublons": 1,
        "invalides": 1,
        "exclus": {"CATEGORIE_SANITAIRE_SOCIAL": 1},
        "retenus": {"NIR_ABSENT": 1},
        "envoyables": 1,
        "detail_invalides": [
            {
                "ligne": 4,
                "id_dossier": "D",
                "erreurs": [{"champ": "organisme.siret", "code": "SIRET_INVALIDE"}],
            }
        ],
    }


def test_since_moves_the_cut_off(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["validate", str(sample(tmp_path)), "--json", "--since", "2020-01-01"]
    )
    assert json.loads(result.stdout)["exclus"]["AVANT_REPRISE"] == 2


def test_a_bad_since_names_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(sample(tmp_path)), "--since", "01/01/2017"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_the_table_names_every_count_and_the_rule(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(sample(tmp_path))], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    for text in ("sendable", "CATEGORIE_SANITAIRE_SOCIAL", "NIR_ABSENT", "SIRET_INVALIDE", "Luhn"):
        assert text in result.stdout
    assert NIR not in result.stdout


def test_a_clean_file_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text(snapshot_line() + "\n")
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"\xe9t\xe9\n", "not UTF-8"), (b"[1]\n", "not JSON Lines")],
)
def test_an_unreadable_file_is_one_sentence_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1


def test_debug_shows_the_error_itself(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "validate", str(tmp_path / "absent.jsonl")])
    assert isinstance(result.exception, InputFileError)


def test_a_lone_surrogate_is_one_rejected_line_and_the_file_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"id_dossier": "\\ud800"}\n' + snapshot_line(id_dossier="A").encode() + b"\n"
    )
    for args in (["--json"], []):
        result = runner.invoke(app, ["validate", str(path), *args], env={"COLUMNS": "200"})
        assert result.exit_code == 1
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
    report = json.loads(runner.invoke(app, ["validate", str(path), "--json"]).stdout)
    assert (report["lignes"], report["invalides"], report["envoyables"]) == (2, 1, 1)
    assert report["detail_invalides"] == [
        {
            "ligne": 1,
            "id_dossier": None,
            "erreurs": [{"champ": "ligne", "code": "ENCODAGE_INVALIDE"}],
        }
    ]


def test_a_latin_1_first_line_does_not_refuse_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"id_dossier": "B", "nom": "\xe9"}\n' + snapshot_line(id_dossier="A").encode()
    )
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["detail_invalides"] == [
        {
            "ligne": 1,
            "id_dossier": "B",
            "erreurs": [{"champ": "ligne", "code": "ENCODAGE_INVALIDE"}],
        }
    ]
    assert report["envoyables"] == 1
