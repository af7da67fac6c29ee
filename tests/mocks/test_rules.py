"""Every rejection code of agora-v2.md, and the order of the checks: 400 → 422 → 404/409."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.mocks.builders import DELETE, NIR, SOLDE, SORTIE, changed, creation
from tests.mocks.harness import Agora, FakeClock, agora_mock


def codes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(erreur["champ"], erreur["code"]) for erreur in body["erreurs"]]


@pytest.mark.parametrize(
    ("path", "value", "champ"),
    [
        ("titulaire.nir", "185057800608412", "titulaire.nir"),  # with its key
        ("organisme.siret", "7328293200007", "organisme.siret"),
        ("date_validation", "2019-02-30", "date_validation"),
        ("date_validation", 1550620800, "date_validation"),
        ("session.duree_heures", "0", "session.duree_heures"),
        ("niveau_entree", "V", "niveau_entree"),  # the old level, not sent to AGORA
        ("titulaire.prenom", "Jean", "titulaire.prenom"),  # not normalised
        ("dispositif", DELETE, "dispositif"),
        ("inconnu", "x", "inconnu"),
    ],
)
async def test_a_malformed_creation_is_400_format_invalide(
    agora: Agora, path: str, value: Any, champ: str
) -> None:
    response = await agora.call("POST", "/dossiers", changed(creation(), path, value), key="k")
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"
    assert champ in [erreur["champ"] for erreur in response.json()["erreurs"]]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe"])
async def test_a_body_that_is_no_json_object_is_400(agora: Agora, content: bytes) -> None:
    response = await agora.call("POST", "/dossiers", content=content, key="k")
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"


@pytest.mark.parametrize(
    ("titulaire", "why"),
    [
        ({"nir": "1851378006084"}, "month 13"),
        ({"nir": "1850578006000"}, "order 000"),
        ({"nir": "9850578006084"}, "first digit 9"),
        ({"sexe": "F"}, "a man's NIR"),
        ({"date_naissance": "1986-05-12"}, "born in 1985"),
        ({"date_naissance": "1985-06-12"}, "born in May"),
    ],
)
async def test_a_nir_that_breaks_a_rule_is_nir_invalide(
    agora: Agora, titulaire: dict[str, str], why: str
) -> None:
    body = creation(titulaire={**creation()["titulaire"], **titulaire})
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.status_code == 422, why
    assert codes(response.json()) == [("titulaire.nir", "NIR_INVALIDE")]


async def test_provisional_nirs_and_corsica_are_accepted(agora: Agora) -> None:
    for n, nir in enumerate(["7850578006084", "185052A006084"]):
        body = creation(f"R-{n}", titulaire={**creation()["titulaire"], "nir": nir})
        assert (await agora.call("POST", "/dossiers", body, key=f"k{n}")).status_code == 201


async def test_a_siret_with_a_bad_checksum_is_siret_invalide(agora: Agora) -> None:
    body = changed(creation(), "organisme.siret", "73282932000075")
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.status_code == 422
    assert codes(response.json()) == [("organisme.siret", "SIRET_INVALIDE")]


async def test_la_poste_establishments_follow_their_own_rule(agora: Agora) -> None:
    body = changed(creation(), "organisme.siret", "35600000000010")  # digit sum 15
    assert (await agora.call("POST", "/dossiers", body, key="k")).status_code == 201


async def test_a_validation_after_today_is_date_future(agora: Agora) -> None:
    body = creation(date_validation="2026-11-27")
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.status_code == 422
    assert codes(response.json()) == [("date_validation", "DATE_FUTURE")]
    assert (
        await agora.call("POST", "/dossiers", creation(date_validation="2026-11-26"), key="k")
    ).status_code == 201


async def test_today_is_the_date_in_paris() -> None:
    # 23:30 UTC on the 26th is already the 27th in Paris.
    async with agora_mock(clock=FakeClock(datetime(2026, 11, 26, 23, 30, tzinfo=UTC))) as agora:
        body = creation(date_validation="2026-11-27")
        assert (await agora.call("POST", "/dossiers", body, key="k")).status_code == 201


async def test_a_session_ending_before_it_starts_is_date_incoherente(agora: Agora) -> None:
    body = changed(creation(), "session.date_fin", "2019-03-01")
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert codes(response.json()) == [("session.date_fin", "DATE_INCOHERENTE")]


@pytest.mark.parametrize("day", ["2019-03-03", "2019-09-28"])
async def test_an_entry_outside_the_session_is_date_incoherente(agora: Agora, day: str) -> None:
    id_agora = await agora.create(creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/entree", {"date_entree": day})
    assert response.status_code == 422
    assert codes(response.json()) == [("date_entree", "DATE_INCOHERENTE")]


async def test_an_exit_before_the_entry_is_date_incoherente(agora: Agora) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    body = {**SORTIE, "date_sortie": "2019-03-03"}
    response = await agora.call("POST", f"/dossiers/{id_agora}/sortie", body)
    assert codes(response.json()) == [("date_sortie", "DATE_INCOHERENTE")]


async def test_an_exit_after_the_session_is_sortie_apres_fin_session(agora: Agora) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    body = {**SORTIE, "date_sortie": "2019-09-28"}
    response = await agora.call("POST", f"/dossiers/{id_agora}/sortie", body)
    assert response.status_code == 422
    assert codes(response.json()) == [("date_sortie", "SORTIE_APRES_FIN_SESSION")]


async def test_a_settlement_before_the_exit_is_date_incoherente(agora: Agora) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    body = {**SOLDE, "date_solde": "2019-09-26"}
    response = await agora.call("POST", f"/dossiers/{id_agora}/solde", body)
    assert codes(response.json()) == [("date_solde", "DATE_INCOHERENTE")]


async def test_a_cancellation_before_the_validation_is_date_incoherente(agora: Agora) -> None:
    id_agora = await agora.create(creation())
    body = {"date_annulation": "2019-02-19", "motif_annulation": "AUTRE"}
    response = await agora.call("POST", f"/dossiers/{id_agora}/annulation", body)
    assert codes(response.json()) == [("date_annulation", "DATE_INCOHERENTE")]


@pytest.mark.parametrize(
    ("changes", "champs"),
    [
        ({"taux_realisation": 99}, ["taux_realisation"]),
        ({"cout_pedagogique_cents": 875001}, ["cout_pedagogique_cents"]),
        ({"heures_realisees_centre": "699"}, ["taux_realisation", "cout_pedagogique_cents"]),
    ],
)
async def test_costs_off_the_rules_are_cout_incoherent(
    agora: Agora, changes: dict[str, Any], champs: list[str]
) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/solde", {**SOLDE, **changes})
    assert response.status_code == 422
    assert codes(response.json()) == [(champ, "COUT_INCOHERENT") for champ in champs]


@pytest.mark.parametrize(
    "solde",
    [
        # More hours than planned: the rate is capped at 100.
        {
            "heures_realisees_centre": "900",
            "heures_realisees_entreprise": "0",
            "taux_realisation": 100,
            "cout_pedagogique_cents": 1125000,
        },
        # 0.5 cent rounds half up; company hours are not billed; ⌊100 × 0.05 / 840⌋ = 0.
        {
            "heures_realisees_centre": "0.01",
            "heures_realisees_entreprise": "0.04",
            "taux_horaire_cents": 50,
            "taux_realisation": 0,
            "cout_pedagogique_cents": 1,
        },
    ],
)
async def test_costs_follow_the_region_rules(agora: Agora, solde: dict[str, Any]) -> None:
    id_agora = await agora.dossier_in("SORTI", creation())
    response = await agora.call("POST", f"/dossiers/{id_agora}/solde", {**SOLDE, **solde})
    assert response.status_code == 200, response.text


async def test_every_broken_rule_is_listed_the_first_one_gives_the_code(agora: Agora) -> None:
    body = creation(
        date_validation="2027-01-01", titulaire={**creation()["titulaire"], "sexe": "F"}
    )
    body = changed(body, "organisme.siret", "73282932000075")
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.json()["code"] == "NIR_INVALIDE"
    assert [code for _, code in codes(response.json())] == [
        "NIR_INVALIDE",
        "SIRET_INVALIDE",
        "DATE_FUTURE",
    ]


async def test_format_is_checked_before_the_rules(agora: Agora) -> None:
    body = changed(creation(), "titulaire.nir", "9850578006084") | {"inconnu": 1}
    response = await agora.call("POST", "/dossiers", body, key="k")
    assert response.status_code == 400


async def test_rules_are_checked_before_existence(agora: Agora) -> None:
    await agora.create(creation("R-1"))
    body = changed(creation("R-1"), "organisme.siret", "73282932000075")
    response = await agora.call("POST", "/dossiers", body, key="k2")
    assert response.status_code == 422
    unknown = "/dossiers/AG999999999999/entree"
    response = await agora.call("POST", unknown, {"date_entree": "2027-01-01"})
    assert response.json()["code"] == "DATE_FUTURE"


async def test_a_rule_that_reads_the_dossier_comes_after_the_404(agora: Agora) -> None:
    unknown = "/dossiers/AG999999999999/entree"
    response = await agora.call("POST", unknown, {"date_entree": "2010-01-01"})
    assert response.status_code == 404


async def test_rules_are_checked_before_the_conflict(agora: Agora) -> None:
    id_agora = await agora.dossier_in("ENTRE", creation())
    response = await agora.call(
        "POST", f"/dossiers/{id_agora}/entree", {"date_entree": "2010-01-01"}
    )
    assert response.json()["code"] == "DATE_INCOHERENTE"


async def test_a_search_by_nir_checks_only_its_format(agora: Agora) -> None:
    response = await agora.call(
        "POST", "/dossiers/recherche", {"nir": NIR + "12", "numero_session": "1"}
    )
    assert response.status_code == 400
