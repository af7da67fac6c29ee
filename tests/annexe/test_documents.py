"""The annex's documents (article 2.4): the committed Markdown is what the code generates, and
`agora-bridge doc-mapping` prints both documents in either format."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agora_bridge.annexe import correspondance, declenchement, rendu
from agora_bridge.cli.main import app
from agora_bridge.decision.projection import COPIE, PARTIES

DOCS = Path(__file__).resolve().parents[2] / "docs"
runner = CliRunner()


@pytest.mark.parametrize(
    ("document", "generated"),
    [
        ("correspondance", rendu.correspondance_md),
        ("declenchement", rendu.declenchement_md),
    ],
)
def test_the_committed_document_is_what_the_code_generates(
    document: str, generated: Callable[[], str]
) -> None:
    committed = (DOCS / f"{document.upper()}.md").read_text(encoding="utf-8")
    assert committed == generated(), (
        f"docs/{document.upper()}.md is stale: regenerate it with "
        f"`agora-bridge doc-mapping --document {document} > docs/{document.upper()}.md`"
    )


def test_a_change_to_a_table_changes_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison above can fail: the NIR sent as the snapshot gives it is a new document.
    before = rendu.correspondance_md()
    copied = tuple(
        (part, tuple(replace(c, transformation=COPIE) if c.nom == "nir" else c for c in table))
        for part, table in PARTIES
    )
    monkeypatch.setattr(correspondance, "PARTIES", copied)
    after = rendu.correspondance_md()
    assert after != before
    assert "| `titulaire.nir` | `stagiaire.nir` | Recopié tel quel. |  |" in after


def test_markdown_prints_both_documents_by_default() -> None:
    result = runner.invoke(app, ["doc-mapping"])
    assert result.exit_code == 0, result.output
    assert result.stdout == rendu.correspondance_md() + "\n" + rendu.declenchement_md()


def test_one_document_alone() -> None:
    result = runner.invoke(app, ["doc-mapping", "--document", "declenchement"])
    assert result.exit_code == 0, result.output
    assert result.stdout == rendu.declenchement_md()


def test_csv_has_a_header_and_one_row_per_field_and_rule() -> None:
    result = runner.invoke(app, ["doc-mapping", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == rendu.CSV_EN_TETE
    rules = [r for section in declenchement.sections() for r in section.regles]
    assert len(rows) == 1 + len(correspondance.lignes()) + len(rules)
    assert {len(row) for row in rows} == {len(rendu.CSV_EN_TETE)}
    nir = [row for row in rows if row[5] == "titulaire.nir" and row[4] == "POST /dossiers"]
    assert nir == [
        [
            "correspondance",
            "Création du dossier",
            "",
            "",
            "POST /dossiers",
            "titulaire.nir",
            "stagiaire.nir",
            "snapshots.nir.nir_for_agora",
            nir[0][8],
        ]
    ]
    assert "13 premiers caractères" in nir[0][8]


def test_csv_of_one_document() -> None:
    result = runner.invoke(app, ["doc-mapping", "--format", "csv", "--document", "declenchement"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert rows
    assert {row[0] for row in rows} == {"declenchement"}


@pytest.mark.parametrize("generated", [rendu.correspondance_md, rendu.declenchement_md])
def test_every_table_row_has_its_headers_cells(generated: Callable[[], str]) -> None:
    # A `|` inside a description must be escaped, or the row gains a column.
    width, rows = 0, 0
    for line in generated().splitlines():
        if not line.startswith("|"):
            width = 0  # the next table has its own header
            continue
        cells = len(line.replace("\\|", "").split("|")) - 2
        width = width or cells
        assert cells == width, line
        rows += 1
    assert rows > 30
