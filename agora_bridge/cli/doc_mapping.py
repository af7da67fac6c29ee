"""`agora-bridge doc-mapping`: the annex's field correspondence and trigger rules (article 2.4),
printed from the code's own tables (`agora_bridge/annexe/`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from agora_bridge.annexe import rendu


class Format(StrEnum):
    md = "md"
    csv = "csv"


class Document(StrEnum):
    correspondance = "correspondance"
    declenchement = "declenchement"


def doc_mapping(
    fmt: Annotated[Format, typer.Option("--format", help="Markdown, or one CSV table")] = Format.md,
    document: Annotated[
        Document | None,
        typer.Option("--document", help="Only this one (default: both)"),
    ] = None,
) -> None:
    """Print the field correspondence and the trigger rules the annex (2.4) asks for."""
    if fmt is Format.csv:
        typer.echo(rendu.csv_text(document), nl=False)
        return
    documents = {
        Document.correspondance: rendu.correspondance_md,
        Document.declenchement: rendu.declenchement_md,
    }
    chosen = [document] if document else list(Document)
    typer.echo("\n".join(documents[d]() for d in chosen), nl=False)
