"""The field correspondence leaves nothing out: every field of every body AGORA receives is in
it, each with the snapshot fields and the transformation the code applies."""

from __future__ import annotations

import types
import typing
from dataclasses import fields, replace
from typing import Any, Union, get_args

import pytest
from pydantic import BaseModel

from agora_bridge.agora import schemas as wire
from agora_bridge.agora.mapping import APPELS, CREATION
from agora_bridge.annexe.correspondance import CorpsDocumente, Ligne, _lignes, lignes
from agora_bridge.decision.dossier import (
    AgoraDossier,
    AnnulationAgora,
    Fige,
    Operation,
    SoldeAgora,
    SortieAgora,
    Titulaire,
)
from agora_bridge.decision.projection import COPIE, NIR_13, NIVEAU_2019, NOM, PARTIES
from agora_bridge.settings import Settings
from agora_bridge.snapshots.model import Snapshot
from tests.builders import NIR, snapshot

# The bodies the bridge sends: the creation, the transitions, the rectification, a lot line.
BODIES = (
    wire.Creation,
    wire.Entree,
    wire.Sortie,
    wire.Solde,
    wire.Annulation,
    wire.Rectification,
    wire.LigneLot,
)


def leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted path of every scalar field of a body, objects opened."""
    paths = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_in(info.annotation)
        paths += leaves(nested, f"{path}.") if nested else [path]
    return paths


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = get_args(annotation) if _is_union(annotation) else (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType)


def missing(rows: tuple[Ligne, ...], body: type[BaseModel]) -> list[str]:
    """Fields of `body` that no row of its route documents (a row may document an object whole,
    as `action.certification`)."""
    documented = [row.champ_agora for row in rows if row.route == body.ROUTE]  # type: ignore[attr-defined]
    return [
        leaf
        for leaf in leaves(body)
        if not any(leaf == d or leaf.startswith(f"{d}.") for d in documented)
    ]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body.__name__)
def test_every_field_of_every_body_is_in_the_correspondence(body: type[BaseModel]) -> None:
    assert missing(lignes(), body) == []


def test_a_field_left_out_of_a_table_is_reported() -> None:
    # The check above can fail: a creation table without the session documents no session.
    without = replace(CREATION, champs=tuple(c for c in CREATION.champs if c.agora != "session"))
    rows = tuple(_lignes(CorpsDocumente("x", wire.Creation.ROUTE, without, "")))
    assert missing(rows, wire.Creation) == [
        "session.numero",
        "session.date_debut",
        "session.date_fin",
        "session.duree_heures",
    ]


def test_every_operation_has_its_call() -> None:
    assert set(APPELS) == set(get_args(Operation))


def test_the_projection_gives_every_field_of_agoras_dossier() -> None:
    parts = {"titulaire": Titulaire, "fige": Fige, "sortie": SortieAgora}
    parts |= {"solde": SoldeAgora, "annulation": AnnulationAgora}
    own = [f.name for f in fields(AgoraDossier) if f.name not in parts]
    declared = {part: [c.nom for c in table] for part, table in PARTIES}
    assert declared[""] == own
    for part, model in parts.items():
        assert declared[part] == [f.name for f in fields(model)], part


@pytest.mark.parametrize(
    "source", sorted({s for _, table in PARTIES for c in table for s in c.sources})
)
def test_every_source_is_a_snapshot_field(source: str) -> None:
    model: Any = Snapshot
    for name in source.split("."):
        assert name in model.model_fields, source
        model = _model_in(model.model_fields[name].annotation) or model.model_fields[name]
    assert model is not Snapshot


def test_a_setting_is_named_as_the_bridge_reads_it() -> None:
    settings = [row for row in lignes() if row.transformation is None]
    assert {row.champ_agora for row in settings} == {"code_financeur"}
    assert all(row.champ_modele in Settings.model_fields for row in settings)


@pytest.mark.parametrize(
    ("route", "champ_agora", "sources", "transformation"),
    [
        (wire.Creation.ROUTE, "titulaire.nir", ("stagiaire.nir",), NIR_13),
        (wire.Creation.ROUTE, "titulaire.prenom", ("stagiaire.prenom",), NOM),
        (wire.Creation.ROUTE, "niveau_entree", ("stagiaire.niveau_entree",), NIVEAU_2019),
        (wire.Creation.ROUTE, "reference_financeur", ("id_dossier",), COPIE),
        (wire.Rectification.ROUTE, "date_sortie", ("sortie.date",), COPIE),
        (wire.LigneLot.ROUTE, "entree.date_entree", ("date_entree",), COPIE),
    ],
)
def test_rows_say_where_a_field_comes_from(
    route: wire.Route, champ_agora: str, sources: tuple[str, ...], transformation: object
) -> None:
    [row] = [r for r in lignes() if r.route == route and r.champ_agora == champ_agora]
    assert (row.sources, row.transformation) == (sources, transformation)


def test_the_computed_fields_name_every_input() -> None:
    solde = {r.champ_agora: r for r in lignes() if r.route == wire.Solde.ROUTE}
    assert solde["taux_realisation"].sources == (
        "solde.heures_realisees_centre",
        "solde.heures_realisees_entreprise",
        "session.duree_heures",
    )
    assert solde["cout_pedagogique_cents"].sources == (
        "solde.heures_realisees_centre",
        "taux_horaire_cents",
    )


def test_replace_keeps_a_field_readable() -> None:
    # `dataclasses.replace` on a projection field recomputes its getters (the test above that
    # swaps a transformation relies on it).
    [(_, titulaire)] = [(p, t) for p, t in PARTIES if p == "titulaire"]
    nir = replace(titulaire.champs[0], transformation=COPIE)
    assert nir.valeur(snapshot()) == NIR
