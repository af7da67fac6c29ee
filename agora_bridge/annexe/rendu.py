"""The annex's two documents as Markdown (French, as the annex is) or as one CSV table."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

from agora_bridge.annexe import correspondance, declenchement
from agora_bridge.annexe.correspondance import Ligne
from agora_bridge.annexe.declenchement import Regle, Section
from agora_bridge.decision.projection import COPIE

_GENERE = (
    "> Annexe SI du Pacte régional d'investissement dans les compétences, article 2.4."
    " Document généré par `agora-bridge doc-mapping --document {document}` à partir des"
    " tables du code qui les applique ({sources}) : ne pas le modifier à la main, le"
    " régénérer."
)
CSV_EN_TETE = (
    "document",
    "section",
    "code",
    "declencheur",
    "appel",
    "champs_agora",
    "champs_instantane",
    "fonction",
    "description",
)


def correspondance_md() -> str:
    parts = [
        "# Correspondance des champs entre le système de la Région et AGORA",
        _GENERE.format(
            document="correspondance",
            sources="`agora_bridge/decision/projection.py`, `agora_bridge/agora/mapping.py`",
        ),
        "Chaque envoi à AGORA, champ par champ : le champ AGORA (chemin pointé dans le corps"
        " JSON), le ou les champs de l'instantané de la Région (`region-input.md`) qui le"
        " donnent, la transformation appliquée et la fonction qui l'applique. Un objet absent"
        " de l'instantané (pas encore de sortie, pas de certification) part à `null`, ou est"
        " omis dans une rectification et une ligne de lot. Formats d'AGORA"
        " (`agora_bridge/agora/schemas.py`) : dates `AAAA-MM-JJ`, heures en texte décimal sans"
        ' zéro final (`"812.5"`), montants en centimes entiers.',
    ]
    for (nom, route), body in groupby(correspondance.lignes(), lambda x: (x.appel, x.route)):
        parts.append(f"## {nom} — `{route}`")
        header = ("champ AGORA", "champ(s) de l'instantané", "transformation", "fonction")
        parts.append(_table(header, (_cells(ligne) for ligne in body)))
    return _document(parts)


def declenchement_md() -> str:
    parts = [
        "# Règles de déclenchement des flux vers AGORA",
        _GENERE.format(
            document="declenchement",
            sources="`agora_bridge/snapshots/perimeter.py`, `agora_bridge/snapshots/nir.py`,"
            " `agora_bridge/decision/planner.py`, `agora_bridge/decision/dossier.py`,"
            " `agora_bridge/agora/mapping.py`",
        ),
        "Dans l'ordre où un instantané les rencontre : invalide (rejeté), exclu, retenu pour"
        " son NIR, sinon envoyable ; puis les appels que ses changements déclenchent, et ce qui"
        " retient un appel prévu.",
    ]
    for number, section in enumerate(declenchement.sections(), start=1):
        parts += [f"## {number}. {section.titre}", section.introduction, _regles(section)]
    return _document(parts)


def csv_text(document: str | None = None) -> str:
    """One row per field or rule, both documents (`document`: only "correspondance" or
    "declenchement"), under one header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_EN_TETE)
    if document in (None, "correspondance"):
        writer.writerows(_csv_correspondance())
    if document in (None, "declenchement"):
        writer.writerows(_csv_declenchement())
    return out.getvalue()


def _cells(ligne: Ligne) -> tuple[str, ...]:
    return (
        f"`{ligne.champ_agora}`",
        _codes(ligne.sources) or "—",
        _description(ligne),
        f"`{_fonction(ligne)}`" if _fonction(ligne) else "",
    )


def _description(ligne: Ligne) -> str:
    if ligne.transformation is None:  # a setting of the bridge, named like the model field
        return f"Réglage `AGORA_BRIDGE_{ligne.champ_modele.upper()}` du pont."
    return ligne.transformation.description


def _fonction(ligne: Ligne) -> str:
    t = ligne.transformation
    if t is None or t is COPIE:
        return ""
    return f"{t.fonction.__module__.removeprefix('agora_bridge.')}.{t.fonction.__qualname__}"


_COLONNES = (
    ("code", lambda r: f"`{r.code}`"),
    ("déclencheur", lambda r: r.declencheur),
    ("appel AGORA", lambda r: f"`{r.appel}`" if r.appel else ""),
    ("champs AGORA", lambda r: _codes(r.champs_agora)),
    ("champs de l'instantané", lambda r: _codes(r.champs_instantane)),
    ("description", lambda r: r.description),
)


def _regles(section: Section) -> str:
    # Only the columns a section fills.
    used = [(name, cell) for name, cell in _COLONNES if any(cell(r) for r in section.regles)]
    rows = (tuple(cell(r) for _, cell in used) for r in section.regles)
    return _table(tuple(name for name, _ in used), rows)


def _codes(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _document(parts: Sequence[str]) -> str:
    return "\n\n".join(parts) + "\n"


def _csv_correspondance() -> Iterator[tuple[str, ...]]:
    for ligne in correspondance.lignes():
        yield (
            "correspondance",
            ligne.appel,
            "",
            "",
            str(ligne.route),
            ligne.champ_agora,
            " ".join(ligne.sources),
            _fonction(ligne),
            _description(ligne),
        )


def _csv_declenchement() -> Iterator[tuple[str, ...]]:
    for section in declenchement.sections():
        for r in section.regles:
            yield _csv_regle(section, r)


def _csv_regle(section: Section, r: Regle) -> tuple[str, ...]:
    return (
        "declenchement",
        section.titre,
        r.code,
        r.declencheur,
        r.appel,
        " ".join(r.champs_agora),
        " ".join(r.champs_instantane),
        "",
        r.description,
    )
