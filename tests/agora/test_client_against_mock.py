"""The client against the real bundled mock, over loopback: every flow, then every fault."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from agora_bridge.agora import AgoraClient, AgoraPermanentError, AgoraTransientError
from agora_bridge.agora.mapping import body_for, lot_line
from agora_bridge.agora.schemas import Creation, Entree
from agora_bridge.decision.planner import plan, project
from agora_bridge.settings import AgoraSettings
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from mocks.server import RunningMock, running_mock
from tests.builders import snapshot

REG52 = "REG52"
ENTREE = Entree.model_validate({"date_entree": "2019-03-04"})


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    async with running_mock(lot_delay_s=0.05, token_ttl_s=600) as running:
        yield running


def settings(mock: RunningMock, **changes: Any) -> AgoraSettings:
    values: dict[str, Any] = {
        "base_url": mock.url + "/agora/v2",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": SecretStr(DEMO_CLIENT_SECRET),
        "timeout_s": 2.0,
        "retry_base_s": 0.01,
        "retry_min_s": 0.01,
    }
    return AgoraSettings(**(values | changes))


async def control(mock: RunningMock, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=mock.url) as http:
        response = await http.request(method, f"/__mock__/{path}", json=body)
        response.raise_for_status()
        if path == "dossiers":
            return [json.loads(line) for line in response.text.splitlines() if line]
        return response.json() if response.content else None


def creation_of(reference: str) -> Creation:
    (creer, *_) = plan(None, snapshot(id_dossier=reference)).operations
    body = body_for(creer, code_financeur=REG52)
    assert isinstance(body, Creation)
    return body


async def test_a_dossier_goes_through_every_flow(mock: RunningMock) -> None:
    ops = plan(None, snapshot("SOLDE")).operations
    creer, *steps = (body_for(op, code_financeur=REG52) for op in ops)
    assert isinstance(creer, Creation)
    async with AgoraClient(settings(mock)) as client:
        assert await client.rechercher(reference_financeur="PDL-2019-0001234") == []
        created = await client.creer(creation=creer, idempotency_key="key-1")
        replayed = await client.creer(creation=creer, idempotency_key="key-1")
        assert replayed.id_agora == created.id_agora
        with pytest.raises(AgoraPermanentError) as existing:
            await client.creer(creation=creer, idempotency_key="key-2")
        assert (existing.value.code, existing.value.id_agora) == (
            "DOSSIER_EXISTANT",
            created.id_agora,
        )
        entree, sortie, solde = steps
        assert isinstance(entree, Entree)
        await client.entrer(id_agora=created.id_agora, entree=entree)
        with pytest.raises(AgoraPermanentError) as again:
            await client.entrer(id_agora=created.id_agora, entree=entree)
        assert again.value.code == "TRANSITION_DEJA_APPLIQUEE"
        assert again.value.dossier is not None
        await client.sortir(id_agora=created.id_agora, sortie=sortie)  # type: ignore[arg-type]
        await client.solder(id_agora=created.id_agora, solde=solde)  # type: ignore[arg-type]
        dossier = await client.lire(id_agora=created.id_agora, request_id=str(uuid.uuid4()))
    assert dossier.statut.value == "SOLDE"
    found = await control(mock, "GET", "dossiers")
    assert [d["statut"] for d in found] == ["SOLDE"]


async def test_a_lot_is_accepted_then_reported_line_by_line() -> None:
    lines = [
        lot_line(project(snapshot(step, id_dossier=f"PDL-LOT-{step}")), code_financeur=REG52)
        for step in ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")
    ]
    # A delay long enough that a loaded machine still asks before the lot is processed.
    async with running_mock(lot_delay_s=1.0, token_ttl_s=600) as mock:
        async with AgoraClient(settings(mock)) as client:
            lot = await client.deposer_lot(lignes=[*lines, lines[0]], idempotency_key="lot-1")
            again = await client.deposer_lot(lignes=[*lines, lines[0]], idempotency_key="lot-1")
            # The same lot (its statut may have moved on meanwhile).
            assert lot.nb_lignes == 6
            assert (again.id_lot, again.nb_lignes) == (lot.id_lot, 6)
            with pytest.raises(AgoraPermanentError, match="LOT_NON_TRAITE"):
                await client.compte_rendu(id_lot=lot.id_lot)
            await asyncio.sleep(1.1)
            report = await client.compte_rendu(id_lot=lot.id_lot)
        assert [line.resultat for line in report] == ["ACCEPTE"] * 5 + ["DOUBLON"]
        dossiers = await control(mock, "GET", "dossiers")
    statuts = {d["reference_financeur"]: d["statut"] for d in dossiers}
    assert statuts["PDL-LOT-SOLDE"] == "SOLDE"
    assert statuts["PDL-LOT-ANNULE"] == "ANNULE"


async def test_wrong_credentials_are_a_permanent_error(mock: RunningMock) -> None:
    wrong = settings(mock, client_secret=SecretStr("not-the-secret"))
    async with AgoraClient(wrong) as client:
        with pytest.raises(AgoraPermanentError) as refused:
            await client.rechercher(reference_financeur="PDL-1")
    assert (refused.value.status, refused.value.code) == (401, "JETON_INVALIDE")


async def test_an_expired_token_is_refreshed() -> None:
    async with running_mock(token_ttl_s=1) as mock:
        async with AgoraClient(settings(mock)) as client:
            await client.rechercher(reference_financeur="PDL-1")
            await asyncio.sleep(1.1)
            assert await client.rechercher(reference_financeur="PDL-1") == []
        stats = await control(mock, "GET", "stats")
    assert stats["requetes"]["POST /agora/v2/oauth/token 200"] == 2


async def faulty(mock: RunningMock, **faults: Any) -> None:
    await control(mock, "PUT", "faults", {"seed": 7, **faults})


async def created_references(mock: RunningMock) -> list[str]:
    return [d["reference_financeur"] for d in await control(mock, "GET", "dossiers")]


@pytest.mark.parametrize(
    ("faults", "status", "ambiguous"),
    [
        ({"error_rate": 1.0}, {500, 502, 503}, None),
        ({"timeout_rate": 1.0, "timeout_s": 0.2}, {503}, None),
        ({"reset_rate": 1.0}, {None}, True),
        ({"rate_limit_rate": 1.0, "retry_after_s": 0}, {429}, False),
        ({"outage": {"from_s": 0, "to_s": 60}}, {503}, False),
    ],
)
async def test_each_fault_is_transient_and_nothing_is_applied(
    mock: RunningMock, faults: dict[str, Any], status: set[int | None], ambiguous: bool | None
) -> None:
    async with AgoraClient(settings(mock)) as client:
        await client.rechercher(reference_financeur="PDL-1")  # the token, before the faults
        await faulty(mock, **faults)
        with pytest.raises(AgoraTransientError) as failed:
            await client.creer(creation=creation_of("PDL-F-1"), idempotency_key="k-f-1")
    assert failed.value.status in status
    if ambiguous is not None:
        assert failed.value.ambiguous is ambiguous
    assert await created_references(mock) == []


async def test_a_client_timeout_is_transient_and_ambiguous(mock: RunningMock) -> None:
    async with AgoraClient(settings(mock, timeout_s=0.2)) as client:
        await client.rechercher(reference_financeur="PDL-1")  # the token, before the faults
        await faulty(mock, latency_ms=[400, 400])
        with pytest.raises(AgoraTransientError) as failed:
            await client.entrer(id_agora="AG000000000001", entree=ENTREE)
    assert failed.value.ambiguous


async def test_latency_slows_but_succeeds(mock: RunningMock) -> None:
    await faulty(mock, latency_ms=[50, 60])
    async with AgoraClient(settings(mock)) as client:
        started = asyncio.get_running_loop().time()
        await client.rechercher(reference_financeur="PDL-1")
        assert asyncio.get_running_loop().time() - started >= 0.1  # token call + search


async def test_a_lost_response_is_applied_although_the_client_saw_a_failure(
    mock: RunningMock,
) -> None:
    async with AgoraClient(settings(mock)) as client:
        await client.rechercher(reference_financeur="PDL-1")  # the token, before the faults
        await faulty(mock, lost_response_rate=1.0)
        with pytest.raises(AgoraTransientError) as failed:
            await client.creer(creation=creation_of("PDL-LOST"), idempotency_key="k-lost")
        assert failed.value.ambiguous
        assert await created_references(mock) == ["PDL-LOST"]
        stats = await control(mock, "GET", "stats")
        assert stats["requetes"]["POST /agora/v2/dossiers perdue"] >= 1
        await faulty(mock)
        # The idempotency key makes the retry of the creation safe: the first 201 is replayed.
        again = await client.creer(creation=creation_of("PDL-LOST"), idempotency_key="k-lost")
        assert again.statut.value == "VALIDE"
    assert await created_references(mock) == ["PDL-LOST"]
