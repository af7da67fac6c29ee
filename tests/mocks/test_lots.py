"""Asynchronous lots: intake limits, delayed processing, compte-rendu, final states."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from typing import Any

import pytest

from mocks import lots
from mocks.lots import MAX_BYTES, MAX_LINES
from mocks.models import LigneLot
from mocks.problems import Erreur
from mocks.rules import ligne_errors
from tests.contracts.validate import validate_compte_rendu_line, validate_lot_line
from tests.mocks.builders import SOLDE, changed, creation, ligne, ndjson
from tests.mocks.harness import Agora, agora_mock

NDJSON = {"Content-Type": "application/x-ndjson"}


async def post_lot(agora: Agora, body: bytes, key: str = "lot-1") -> dict[str, Any]:
    response = await agora.call("POST", "/lots", content=body, key=key, headers=NDJSON)
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


async def compte_rendu(agora: Agora, id_lot: str) -> list[dict[str, Any]]:
    await agora.state.lots.wait_all()
    response = await agora.call("GET", f"/lots/{id_lot}/compte-rendu")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    for line in lines:
        validate_compte_rendu_line(line)
    return lines


async def test_a_lot_goes_recu_en_cours_traite_after_the_delay() -> None:
    async with agora_mock(lot_delay_s=0.2) as agora:
        receipt = await post_lot(agora, ndjson(ligne("R-1")))
        assert receipt == {"id_lot": receipt["id_lot"], "statut": "RECU", "nb_lignes": 1}
        path = f"/lots/{receipt['id_lot']}"
        too_early = await agora.call("GET", f"{path}/compte-rendu")
        assert too_early.status_code == 409
        assert too_early.json()["code"] == "LOT_NON_TRAITE"
        seen: list[str] = []
        deadline = time.monotonic() + 2
        while not seen or seen[-1] != "TRAITE":
            assert time.monotonic() < deadline
            statut = (await agora.call("GET", path)).json()["statut"]
            if not seen or seen[-1] != statut:
                seen.append(statut)
            await asyncio.sleep(0.01)
        assert seen == ["RECU", "EN_COURS", "TRAITE"]
        assert (await agora.call("GET", f"{path}/compte-rendu")).status_code == 200


async def test_each_line_is_accepted_rejected_or_a_duplicate(agora: Agora) -> None:
    existing = await agora.create(creation("R-EXISTING"))
    body = ndjson(
        ligne("R-1", "SOLDE"),
        "",
        changed(ligne("R-2"), "organisme.siret", "73282932000075"),
        "{not json",
        "   ",
        ligne("R-EXISTING", "ENTRE"),
        ligne("R-1"),  # a duplicate of the first line of this lot
        {"reference_financeur": "R-6"},
    )
    receipt = await post_lot(agora, body)
    assert receipt["nb_lignes"] == 6  # blank lines are not lines
    lines = await compte_rendu(agora, receipt["id_lot"])
    summary = [(line["ligne"], line["reference_financeur"], line["resultat"]) for line in lines]
    assert summary == [
        (1, "R-1", "ACCEPTE"),
        (2, "R-2", "REJETE"),
        (3, None, "REJETE"),
        (4, "R-EXISTING", "DOUBLON"),
        (5, "R-1", "DOUBLON"),
        (6, "R-6", "REJETE"),
    ]
    assert lines[1]["erreurs"][0]["code"] == "SIRET_INVALIDE"
    assert lines[2]["erreurs"][0]["code"] == "FORMAT_INVALIDE"
    assert lines[3]["id_agora"] == existing
    assert lines[4]["id_agora"] == lines[0]["id_agora"]
    lot = (await agora.call("GET", f"/lots/{receipt['id_lot']}")).json()
    assert (lot["nb_acceptees"], lot["nb_rejetees"], lot["nb_doublons"]) == (1, 3, 2)
    assert (await agora.stats())["lignes_lot"] == {"ACCEPTE": 1, "REJETE": 3, "DOUBLON": 2}


async def test_an_accepted_line_creates_the_dossier_in_its_final_state(agora: Agora) -> None:
    receipt = await post_lot(agora, ndjson(ligne("R-1", "SOLDE")), key="k")
    [line] = await compte_rendu(agora, receipt["id_lot"])
    dossier = await agora.get(line["id_agora"])
    assert dossier["statut"] == "SOLDE"
    assert dossier["solde"] == SOLDE
    history = [(event["operation"], event["id_lot"]) for event in dossier["historique"]]
    assert history == [(op, receipt["id_lot"]) for op in ("CREATION", "ENTREE", "SORTIE", "SOLDE")]
    assert {event["request_id"] for event in dossier["historique"]} == {agora.request_ids[0]}


async def test_rules_are_checked_before_duplicates(agora: Agora) -> None:
    await agora.create(creation("R-1"))
    bad = {**ligne("R-1", "SORTI"), "solde": {**SOLDE, "taux_realisation": 1}}
    receipt = await post_lot(agora, ndjson(bad))
    [line] = await compte_rendu(agora, receipt["id_lot"])
    assert (line["resultat"], line["erreurs"][0]["code"]) == ("REJETE", "COUT_INCOHERENT")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (
            {**creation(), "sortie": {"date_sortie": "2019-09-27", "motif_sortie": "ABANDON"}},
            "FORMAT_INVALIDE",
        ),
        (
            {
                **ligne("R", "SORTI"),
                "annulation": {"date_annulation": "2019-10-01", "motif_annulation": "AUTRE"},
            },
            "FORMAT_INVALIDE",
        ),
        (ligne("R", "ENTRE", date_validation="2027-01-01"), "DATE_FUTURE"),
        ({**ligne("R", "SORTI"), "entree": {"date_entree": "2019-03-01"}}, "DATE_INCOHERENTE"),
        (
            {
                **ligne("R", "SORTI"),
                "sortie": {"date_sortie": "2019-10-01", "motif_sortie": "ABANDON"},
            },
            "SORTIE_APRES_FIN_SESSION",
        ),
        (changed(ligne("R"), "titulaire.sexe", "F"), "NIR_INVALIDE"),
    ],
)
async def test_a_line_breaking_a_rule_is_rejected_with_its_code(
    agora: Agora, line: dict[str, Any], code: str
) -> None:
    receipt = await post_lot(agora, ndjson(line))
    [result] = await compte_rendu(agora, receipt["id_lot"])
    assert (result["resultat"], result["erreurs"][0]["code"]) == ("REJETE", code)
    assert (await agora.stats())["dossiers"] == 0


async def test_an_amount_over_the_maximum_rejects_its_line_only(agora: Agora) -> None:
    # 10^28 cents an hour stopped the whole lot before issue 6 (the cost overflowed).
    huge = {**ligne("R-2", "SOLDE"), "solde": {**SOLDE, "taux_horaire_cents": 10**28}}
    receipt = await post_lot(agora, ndjson(ligne("R-1", "SOLDE"), huge, ligne("R-3")))
    lines = await compte_rendu(agora, receipt["id_lot"])
    assert [line["resultat"] for line in lines] == ["ACCEPTE", "REJETE", "ACCEPTE"]
    assert lines[1]["erreurs"][0]["code"] == "FORMAT_INVALIDE"
    lot = (await agora.call("GET", f"/lots/{receipt['id_lot']}")).json()
    assert (lot["statut"], lot["nb_acceptees"], lot["nb_rejetees"]) == ("TRAITE", 2, 1)


async def test_a_line_the_mock_fails_on_is_rejected_and_its_neighbours_applied(
    agora: Agora, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_on_r2(ligne_lot: LigneLot, today: date) -> list[Erreur]:
        if ligne_lot.reference_financeur == "R-2":
            raise ArithmeticError("an unforeseen failure")
        return ligne_errors(ligne_lot, today)

    monkeypatch.setattr(lots, "ligne_errors", failing_on_r2)
    body = ndjson(ligne("R-1", "SOLDE"), ligne("R-2", "SOLDE"), ligne("R-3", "ANNULE"))
    receipt = await post_lot(agora, body)
    lines = await compte_rendu(agora, receipt["id_lot"])
    assert [line["resultat"] for line in lines] == ["ACCEPTE", "REJETE", "ACCEPTE"]
    assert lines[1]["reference_financeur"] == "R-2"
    assert [erreur["code"] for erreur in lines[1]["erreurs"]] == ["INDISPONIBLE"]
    assert "ArithmeticError" in lines[1]["erreurs"][0]["message"]
    lot = (await agora.call("GET", f"/lots/{receipt['id_lot']}")).json()
    assert (lot["statut"], lot["nb_acceptees"], lot["nb_rejetees"]) == ("TRAITE", 2, 1)
    assert [d.reference_financeur for d in agora.state.store] == ["R-1", "R-3"]
    logged = [record for record in caplog.records if record.msg == "mock.lot.line_failed"]
    assert [record.__dict__["ligne"] for record in logged] == [2]


async def test_the_same_key_returns_the_same_lot(agora: Agora) -> None:
    body = ndjson(ligne("R-1"), ligne("R-2"))
    first = await post_lot(agora, body, key="k")
    await agora.state.lots.wait_all()
    again = await post_lot(agora, body, key="k")
    assert again == {**first, "statut": "TRAITE"}
    stats = await agora.stats()
    assert (stats["lots"], stats["dossiers"], stats["rejeux_idempotents"]) == (1, 2, 1)


async def test_the_same_key_with_another_body_is_422(agora: Agora) -> None:
    await post_lot(agora, ndjson(ligne("R-1")), key="k")
    response = await agora.call("POST", "/lots", content=ndjson(ligne("R-2")), key="k")
    assert response.status_code == 422
    assert response.json()["code"] == "CLE_IDEMPOTENCE_REUTILISEE"


async def test_a_lot_without_key_is_400(agora: Agora) -> None:
    response = await agora.call("POST", "/lots", content=ndjson(ligne("R-1")))
    assert response.status_code == 400


async def test_more_than_10000_lines_is_413(agora: Agora) -> None:
    line = json.dumps(ligne("R-1"))
    at_most = ("\n" + line) * MAX_LINES + "\n\n"  # blank lines do not count
    assert (await agora.call("POST", "/lots", content=at_most.encode(), key="a")).status_code == 202
    response = await agora.call("POST", "/lots", content=(at_most + line).encode(), key="b")
    assert response.status_code == 413
    assert response.json()["code"] == "LOT_TROP_VOLUMINEUX"


async def test_more_than_16_mib_is_413(agora: Agora) -> None:
    padded = json.dumps(ligne("R-1")).encode() + b" " * (MAX_BYTES)
    response = await agora.call("POST", "/lots", content=padded, key="k")
    assert response.status_code == 413
    assert response.json()["code"] == "LOT_TROP_VOLUMINEUX"


@pytest.mark.parametrize(
    "body",
    [b"", b"\n \n", b"\xff\xfe\x00", b"a,b,c\n1,2,3\n", b'[\n  {"a": 1}\n]\n'],
)
async def test_a_body_that_is_not_ndjson_at_all_is_400(agora: Agora, body: bytes) -> None:
    response = await agora.call("POST", "/lots", content=body, key="k")
    assert response.status_code == 400
    assert response.json()["code"] == "FORMAT_INVALIDE"
    assert (await agora.stats())["lots"] == 0


async def test_an_unknown_lot_is_404(agora: Agora) -> None:
    for path in ("/lots/LT000000000009", "/lots/LT000000000009/compte-rendu"):
        response = await agora.call("GET", path)
        assert response.status_code == 404
        assert response.json()["code"] == "LOT_INCONNU"


async def test_a_10000_line_lot_is_processed_in_well_under_a_second() -> None:
    async with agora_mock(lot_delay_s=0) as agora:
        lines = [ligne(f"R-{n}", ("VALIDE", "SOLDE")[n % 2]) for n in range(MAX_LINES)]
        for line in lines[:3]:
            validate_lot_line(line)
        receipt = await post_lot(agora, ndjson(*lines))
        # CPU time of this process, not wall time: the machine is shared, and a busy
        # neighbour must not fail the test; the work itself is what must stay small.
        started = time.process_time()
        await agora.state.lots.wait_all()
        elapsed = time.process_time() - started
        lot = (await agora.call("GET", f"/lots/{receipt['id_lot']}")).json()
        assert lot["nb_acceptees"] == MAX_LINES
        # ~0.4 s on a quiet machine (bench/mock_throughput.py); CPU time grows with contention
        # when two cores are shared by many processes (1.87 s seen at load 8): the margin
        # catches a regression (a per-line cost growing with the lot), not noise.
        assert elapsed < 3.0, f"{elapsed:.2f} s CPU"  # bench/mock_throughput.py measures it
