"""The client's calls against respx: requests as the spec says, answers as typed models, every
documented status and code in the right error family."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import httpx
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from agora_bridge.agora.errors import (
    AgoraPermanentError,
    AgoraTransientError,
    DossierExistant,
    TransitionDejaAppliquee,
)
from agora_bridge.agora.retry import RetryPolicy
from agora_bridge.agora.schemas import (
    Annulation,
    Entree,
    Rectification,
    Sortie,
    TransitionAppliquee,
)
from agora_bridge.snapshots.model import Statut
from tests.agora.test_errors import BUSINESS_CODES
from tests.agora.wire_builders import (
    ID_AGORA,
    ID_LOT,
    NIR,
    creation,
    dossier_json,
    ligne_lot,
    make_agora,
    problem,
    request_ids,
    solde,
    token_response,
)

ENTREE = Entree(date_entree=date(2019, 3, 4))


# ---- Requests and answers -----------------------------------------------------------------


async def test_search_by_reference() -> None:
    agora = make_agora()
    found = {
        "id_agora": ID_AGORA,
        "code_financeur": "REG52",
        "reference_financeur": "PDL-1",
        "statut": "VALIDE",
    }
    route = agora.router.post("/dossiers/recherche").respond(200, json={"resultats": [found]})
    async with agora.client:
        results = await agora.client.rechercher(reference_financeur="PDL-1")

    assert [(r.id_agora, r.statut) for r in results] == [(ID_AGORA, Statut.VALIDE)]
    assert json.loads(route.calls.last.request.content) == {"reference_financeur": "PDL-1"}


async def test_search_by_nir_and_session() -> None:
    agora = make_agora()
    route = agora.router.post("/dossiers/recherche").respond(200, json={"resultats": []})
    async with agora.client:
        assert await agora.client.rechercher(nir=NIR, numero_session="1330305") == []

    assert json.loads(route.calls.last.request.content) == {"nir": NIR, "numero_session": "1330305"}


async def test_a_search_needs_one_form_and_says_so_without_the_nir() -> None:
    agora = make_agora()
    async with agora.client:
        with pytest.raises(TypeError) as raised:
            await agora.client.rechercher(nir=NIR)

    assert NIR not in str(raised.value)


async def test_creation_sends_json_with_bearer_ids_and_key() -> None:
    agora = make_agora()
    route = agora.router.post("/dossiers").respond(
        201, json={"id_agora": ID_AGORA, "statut": "VALIDE"}
    )
    async with agora.client:
        accepted = await agora.client.creer(
            creation=creation(), idempotency_key="creer-PDL-1-v3", request_id="req-1"
        )

    assert (accepted.id_agora, accepted.statut) == (ID_AGORA, Statut.VALIDE)
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer jeton-1"
    assert request.headers["X-Request-Id"] == "req-1"
    assert request.headers["Idempotency-Key"] == "creer-PDL-1-v3"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == creation().model_dump(mode="json")


async def test_creation_requires_an_idempotency_key() -> None:
    agora = make_agora()
    async with agora.client:
        with pytest.raises(ValueError, match="Idempotency-Key"):
            await agora.client.creer(creation=creation(), idempotency_key=" ")


@pytest.mark.parametrize(
    ("step", "method", "body", "statut"),
    [
        ("entree", "entrer", ENTREE, "ENTRE"),
        (
            "sortie",
            "sortir",
            Sortie(date_sortie=date(2019, 9, 27), motif_sortie="FIN_FORMATION"),
            "SORTI",
        ),
        ("solde", "solder", solde(), "SOLDE"),
        (
            "annulation",
            "annuler",
            Annulation(date_annulation=date(2019, 3, 1), motif_annulation="DESISTEMENT"),
            "ANNULE",
        ),
    ],
)
async def test_transitions(step: str, method: str, body: BaseModel, statut: str) -> None:
    agora = make_agora()
    route = agora.router.post(f"/dossiers/{ID_AGORA}/{step}").respond(200, json={"statut": statut})
    async with agora.client:
        call = getattr(agora.client, method)
        answer = await call(id_agora=ID_AGORA, **{step: body})

    assert answer == TransitionAppliquee(statut=Statut(statut))
    assert "Idempotency-Key" not in route.calls.last.request.headers
    assert route.calls.last.request.content == body.model_dump_json().encode()


async def test_a_call_carries_the_client_defaults_and_timeouts_without_its_send_path() -> None:
    """The call goes straight to the transport (`_Exchange`), yet as `AsyncClient.send` would
    have sent it: the base URL, the client's User-Agent, one Accept, the timeouts."""
    agora = make_agora(timeout_s=7.0)
    route = agora.router.post(f"/dossiers/{ID_AGORA}/entree").respond(200, json={"statut": "ENTRE"})
    async with agora.client:
        await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE, request_id="rid-1")
    request = route.calls.last.request
    assert str(request.url).endswith(f"/dossiers/{ID_AGORA}/entree")
    assert request.headers["User-Agent"] == "agora-bridge"
    assert request.headers.get_list("Accept") == ["application/json, application/problem+json"]
    assert request.headers["X-Request-Id"] == "rid-1"
    assert request.extensions["timeout"] == httpx.Timeout(7.0).as_dict()


async def test_a_call_that_succeeds_at_once_builds_no_retry_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_loop(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the retry loop was built for a call that succeeded")

    monkeypatch.setattr(RetryPolicy, "retrying", no_loop)
    agora = make_agora()
    agora.router.post(f"/dossiers/{ID_AGORA}/entree").respond(200, json={"statut": "ENTRE"})
    async with agora.client:
        answer = await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)
    assert answer == TransitionAppliquee(statut=Statut("ENTRE"))


async def test_rectification_patches_only_the_fields_given() -> None:
    agora = make_agora()
    route = agora.router.patch(f"/dossiers/{ID_AGORA}").respond(200, json=dossier_json())
    async with agora.client:
        dossier = await agora.client.rectifier(
            id_agora=ID_AGORA, rectification=Rectification(date_entree=date(2019, 3, 5))
        )

    assert dossier.id_agora == ID_AGORA
    assert json.loads(route.calls.last.request.content) == {"date_entree": "2019-03-05"}


async def test_read_a_dossier_ignoring_fields_agora_adds() -> None:
    agora = make_agora()
    agora.router.get(f"/dossiers/{ID_AGORA}").respond(200, json=dossier_json(ajout="x"))
    async with agora.client:
        dossier = await agora.client.lire(id_agora=ID_AGORA)

    assert (dossier.statut, dossier.entree) == (Statut.ENTRE, ENTREE)


async def test_ids_that_would_change_the_path_are_refused() -> None:
    agora = make_agora()
    async with agora.client:
        for wrong in ("../lots", "AG1/entree", "", "AG1?x=1"):
            with pytest.raises(ValueError, match="not an AGORA id"):
                await agora.client.lire(id_agora=wrong)


async def test_lot_deposit_sends_ndjson_with_its_key() -> None:
    agora = make_agora()
    route = agora.router.post("/lots").respond(
        202, json={"id_lot": ID_LOT, "statut": "RECU", "nb_lignes": 2}
    )
    lines = [ligne_lot("PDL-1"), ligne_lot("PDL-2")]
    async with agora.client:
        lot = await agora.client.deposer_lot(lignes=lines, idempotency_key="lot-1")

    assert (lot.id_lot, lot.statut, lot.nb_lignes) == (ID_LOT, "RECU", 2)
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Idempotency-Key"] == "lot-1"
    sent = [json.loads(line) for line in request.content.decode().splitlines()]
    assert [line["reference_financeur"] for line in sent] == ["PDL-1", "PDL-2"]
    assert sent[0]["solde"]["heures_realisees_centre"] == "812.5"


async def test_lot_deposit_accepts_bytes_already_serialised() -> None:
    agora = make_agora()
    route = agora.router.post("/lots").respond(
        202, json={"id_lot": ID_LOT, "statut": "RECU", "nb_lignes": 1}
    )
    body = ligne_lot().model_dump_json().encode() + b"\n"
    async with agora.client:
        await agora.client.deposer_lot(lignes=body, idempotency_key="lot-1")

    assert route.calls.last.request.content == body


async def test_lot_status_and_report() -> None:
    agora = make_agora()
    counts = {"nb_lignes": 3, "nb_acceptees": 1, "nb_rejetees": 1, "nb_doublons": 1}
    agora.router.get(f"/lots/{ID_LOT}").respond(
        200, json={"id_lot": ID_LOT, "statut": "TRAITE", **counts}
    )
    report = [
        {"ligne": 1, "reference_financeur": "PDL-1", "resultat": "ACCEPTE", "id_agora": ID_AGORA},
        {"ligne": 2, "reference_financeur": None, "resultat": "REJETE", "id_agora": None,
         "erreurs": [{"champ": "", "code": "FORMAT_INVALIDE", "message": "pas du JSON"}]},
        {"ligne": 3, "reference_financeur": "PDL-3", "resultat": "DOUBLON", "id_agora": ID_AGORA},
    ]  # fmt: skip
    ndjson = "\n".join(json.dumps(line) for line in report) + "\n\n"
    route = agora.router.get(f"/lots/{ID_LOT}/compte-rendu").respond(
        200, content=ndjson.encode(), headers={"Content-Type": "application/x-ndjson"}
    )
    async with agora.client:
        lot = await agora.client.lire_lot(id_lot=ID_LOT)
        lines = await agora.client.compte_rendu(id_lot=ID_LOT)

    assert (lot.statut, lot.nb_doublons) == ("TRAITE", 1)
    assert [(line.ligne, line.resultat) for line in lines] == [
        (1, "ACCEPTE"),
        (2, "REJETE"),
        (3, "DOUBLON"),
    ]
    assert lines[1].erreurs[0].code == "FORMAT_INVALIDE"
    assert route.calls.last.request.headers["Accept"].startswith("application/x-ndjson")


async def test_a_success_whose_body_is_not_the_spec_is_a_clean_permanent_error() -> None:
    agora = make_agora()
    body = {"resultats": [{"id_agora": ID_AGORA, "nir": NIR}]}
    agora.router.post("/dossiers/recherche").respond(200, json=body)
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.rechercher(reference_financeur="PDL-1")

    assert (raised.value.status, raised.value.code) == (200, "REPONSE_INVALIDE")
    assert raised.value.__cause__ is None  # pydantic's error would quote the NIR
    assert NIR not in str(raised.value)
    assert "resultats.0.statut" in {e.champ for e in raised.value.erreurs}


# ---- Every documented refusal -------------------------------------------------------------


async def test_400_format_invalide_is_permanent_and_not_retried() -> None:
    agora = make_agora()
    erreurs = [{"champ": "session.duree_heures", "code": "FORMAT_INVALIDE", "message": "?"}]
    route = agora.router.post("/dossiers").mock(
        return_value=problem(400, "FORMAT_INVALIDE", erreurs=erreurs)
    )
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.creer(creation=creation(), idempotency_key="k")

    assert (raised.value.status, raised.value.code) == (400, "FORMAT_INVALIDE")
    assert raised.value.erreurs[0].champ == "session.duree_heures"
    assert route.call_count == 1
    assert agora.sleeps == []


async def test_401_refreshes_the_token_once_then_succeeds() -> None:
    agora = make_agora()
    agora.token.mock(side_effect=[token_response("jeton-1"), token_response("jeton-2")])
    route = agora.router.get(f"/dossiers/{ID_AGORA}").mock(
        side_effect=[problem(401, "JETON_INVALIDE"), httpx.Response(200, json=dossier_json())]
    )
    async with agora.client:
        dossier = await agora.client.lire(id_agora=ID_AGORA)

    assert dossier.id_agora == ID_AGORA
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        "Bearer jeton-1",
        "Bearer jeton-2",
    ]
    assert agora.token.call_count == 2


async def test_concurrent_calls_obtain_one_token() -> None:
    agora = make_agora()
    release = asyncio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return token_response("jeton-1")

    agora.token.mock(side_effect=slow_token)
    route = agora.router.get(f"/dossiers/{ID_AGORA}").respond(200, json=dossier_json())
    async with agora.client:
        calls = [asyncio.create_task(agora.client.lire(id_agora=ID_AGORA)) for _ in range(10)]
        await asyncio.sleep(0.01)  # all ten are waiting for the first one's token
        release.set()
        await asyncio.gather(*calls)

    assert agora.token.call_count == 1
    assert {c.request.headers["Authorization"] for c in route.calls} == {"Bearer jeton-1"}
    assert len(set(request_ids(route))) == 10


async def test_a_second_401_is_a_permanent_jeton_invalide() -> None:
    agora = make_agora()
    agora.token.mock(side_effect=[token_response("jeton-1"), token_response("jeton-2")])
    route = agora.router.post(f"/dossiers/{ID_AGORA}/entree").mock(
        return_value=problem(401, "JETON_INVALIDE")
    )
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert (raised.value.status, raised.value.code) == (401, "JETON_INVALIDE")
    assert (route.call_count, agora.token.call_count) == (2, 2)


async def test_wrong_credentials_fail_before_the_call() -> None:
    agora = make_agora()
    agora.token.mock(return_value=problem(401, "JETON_INVALIDE"))
    route = agora.router.get(f"/dossiers/{ID_AGORA}").respond(200, json=dossier_json())
    async with agora.client:
        with pytest.raises(AgoraPermanentError, match="JETON_INVALIDE"):
            await agora.client.lire(id_agora=ID_AGORA)
        with pytest.raises(AgoraPermanentError, match="JETON_INVALIDE"):
            await agora.client.verifier_authentification()

    assert route.call_count == 0


async def test_404_dossier_inconnu() -> None:
    agora = make_agora()
    agora.router.get(f"/dossiers/{ID_AGORA}").mock(return_value=problem(404, "DOSSIER_INCONNU"))
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.lire(id_agora=ID_AGORA)

    assert (raised.value.status, raised.value.code) == (404, "DOSSIER_INCONNU")


async def test_404_lot_inconnu() -> None:
    agora = make_agora()
    agora.router.get(f"/lots/{ID_LOT}").mock(return_value=problem(404, "LOT_INCONNU"))
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.lire_lot(id_lot=ID_LOT)

    assert (raised.value.status, raised.value.code) == (404, "LOT_INCONNU")


async def test_409_dossier_existant_names_the_existing_dossier() -> None:
    agora = make_agora()
    agora.router.post("/dossiers").mock(
        return_value=problem(409, "DOSSIER_EXISTANT", id_agora=ID_AGORA)
    )
    async with agora.client:
        with pytest.raises(DossierExistant) as raised:
            await agora.client.creer(creation=creation(), idempotency_key="k")

    assert (raised.value.code, raised.value.id_agora) == ("DOSSIER_EXISTANT", ID_AGORA)


async def test_409_transition_deja_appliquee_carries_the_dossier() -> None:
    agora = make_agora()
    agora.router.post(f"/dossiers/{ID_AGORA}/entree").mock(
        return_value=problem(409, "TRANSITION_DEJA_APPLIQUEE", dossier=dossier_json("ENTRE"))
    )
    async with agora.client:
        with pytest.raises(TransitionDejaAppliquee) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    dossier = raised.value.dossier
    assert dossier is not None
    assert (dossier.statut, dossier.entree) == (Statut.ENTRE, ENTREE)


async def test_409_lot_non_traite() -> None:
    agora = make_agora()
    agora.router.get(f"/lots/{ID_LOT}/compte-rendu").mock(
        return_value=problem(409, "LOT_NON_TRAITE")
    )
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.compte_rendu(id_lot=ID_LOT)

    assert (raised.value.status, raised.value.code) == (409, "LOT_NON_TRAITE")


async def test_413_lot_trop_volumineux() -> None:
    agora = make_agora()
    route = agora.router.post("/lots").mock(return_value=problem(413, "LOT_TROP_VOLUMINEUX"))
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.deposer_lot(lignes=[ligne_lot()], idempotency_key="lot-1")

    assert (raised.value.status, raised.value.code) == (413, "LOT_TROP_VOLUMINEUX")
    assert route.call_count == 1


@pytest.mark.parametrize("code", BUSINESS_CODES)
async def test_422_business_rejections_are_permanent_and_never_retried(code: str) -> None:
    agora = make_agora()
    erreurs = [{"champ": "titulaire.nir", "code": code, "message": f"{NIR} refusé"}]
    route = agora.router.post("/dossiers").mock(return_value=problem(422, code, erreurs=erreurs))
    async with agora.client:
        with pytest.raises(AgoraPermanentError) as raised:
            await agora.client.creer(creation=creation(), idempotency_key="k")

    assert (raised.value.status, raised.value.code) == (422, code)
    assert route.call_count == 1
    assert NIR not in str(raised.value)


async def test_an_html_error_page_gives_a_clean_error() -> None:
    agora = make_agora()
    page = b"<html><body>502 Bad Gateway</body></html>"
    agora.router.post(f"/dossiers/{ID_AGORA}/entree").respond(
        502, content=page, headers={"Content-Type": "text/html"}
    )
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert (raised.value.status, raised.value.code) == (502, None)
    assert "html" not in str(raised.value).lower()


# ---- Logs ---------------------------------------------------------------------------------


async def test_each_exchange_is_logged_without_body_or_nir() -> None:
    agora = make_agora()
    agora.router.post("/dossiers/recherche").respond(200, json={"resultats": []})
    agora.router.post("/dossiers").mock(return_value=problem(422, "NIR_INVALIDE"))
    async with agora.client:
        with capture_logs() as logs:
            await agora.client.rechercher(nir=NIR, numero_session="1330305", request_id="r-1")
            with pytest.raises(AgoraPermanentError):
                await agora.client.creer(creation=creation(), idempotency_key="k")

    sent, failed = (e for e in logs if e["event"].startswith("agora.request"))
    assert sent["event"] == "agora.request.sent"
    assert {k: sent[k] for k in ("method", "route", "status", "request_id")} == {
        "method": "POST",
        "route": "/dossiers/recherche",
        "status": 200,
        "request_id": "r-1",
    }
    assert isinstance(sent["duration_ms"], float)
    assert (failed["event"], failed["status"]) == ("agora.request.failed", 422)
    assert NIR not in repr(logs)
    assert "DUPONT" not in repr(logs)


async def test_transition_routes_are_logged_as_templates() -> None:
    agora = make_agora()
    agora.router.post(f"/dossiers/{ID_AGORA}/entree").respond(200, json={"statut": "ENTRE"})
    async with agora.client:
        with capture_logs() as logs:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert [e["route"] for e in logs if "route" in e] == ["/dossiers/{id_agora}/entree"]
