"""What the client retries itself, with which ids and delays, and what it leaves to the engine.

The sleep is a recorder: delays are asserted, never waited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from agora_bridge.agora.errors import AgoraTransientError
from agora_bridge.agora.schemas import Entree, Rectification
from tests.agora.wire_builders import (
    ID_AGORA,
    ID_LOT,
    creation,
    dossier_json,
    ligne_lot,
    make_agora,
    problem,
    request_ids,
    token_response,
)

ENTREE = Entree(date_entree=date(2019, 3, 4))
DOSSIER = f"/dossiers/{ID_AGORA}"
OK_DOSSIER = httpx.Response(200, json=dossier_json())
CREATED = httpx.Response(201, json={"id_agora": ID_AGORA, "statut": "VALIDE"})
ENTERED = httpx.Response(200, json={"statut": "ENTRE"})


def unavailable(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return problem(503, "INDISPONIBLE", headers=headers)


def quota(retry_after: str) -> httpx.Response:
    return problem(429, "QUOTA_DEPASSE", headers={"Retry-After": retry_after})


# ---- Ids across retries -------------------------------------------------------------------


async def test_request_id_is_the_same_on_every_retry_and_new_for_each_call() -> None:
    agora = make_agora()
    route = agora.router.get(DOSSIER).mock(
        side_effect=[unavailable(), unavailable(), OK_DOSSIER, OK_DOSSIER]
    )
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA)
        await agora.client.lire(id_agora=ID_AGORA)

    first, second, third, fourth = request_ids(route)
    assert first == second == third
    assert fourth != first
    assert len(agora.sleeps) == 2


async def test_the_caller_may_choose_the_request_id() -> None:
    agora = make_agora()
    route = agora.router.get(DOSSIER).mock(side_effect=[unavailable(), OK_DOSSIER])
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA, request_id="op-17-attempt-1")

    assert request_ids(route) == ["op-17-attempt-1", "op-17-attempt-1"]


async def test_a_creation_is_retried_with_the_same_idempotency_key() -> None:
    agora = make_agora()
    route = agora.router.post("/dossiers").mock(side_effect=[httpx.ReadTimeout("lent"), CREATED])
    async with agora.client:
        accepted = await agora.client.creer(creation=creation(), idempotency_key="creer-1")

    assert accepted.id_agora == ID_AGORA
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == ["creer-1", "creer-1"]
    assert len(set(request_ids(route))) == 1


async def test_a_lot_deposit_is_retried_after_a_lost_response() -> None:
    agora = make_agora()
    lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    received = httpx.Response(202, json={"id_lot": ID_LOT, "statut": "RECU", "nb_lignes": 1})
    route = agora.router.post("/lots").mock(side_effect=[lost, received])
    async with agora.client:
        lot = await agora.client.deposer_lot(lignes=[ligne_lot()], idempotency_key="lot-1")

    assert lot.id_lot == ID_LOT
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["lot-1", "lot-1"]
    assert route.calls[0].request.content == route.calls[1].request.content


# ---- Delays -------------------------------------------------------------------------------


async def test_retry_after_zero_does_not_make_a_hot_loop() -> None:
    agora = make_agora(retry_base_s=0.0001, retry_min_s=0.25)
    route = agora.router.get(DOSSIER).mock(return_value=quota("0"))
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.lire(id_agora=ID_AGORA)

    assert route.call_count == 3
    assert len(agora.sleeps) == 2
    assert min(agora.sleeps) >= 0.25
    assert (raised.value.status, raised.value.code) == (429, "QUOTA_DEPASSE")
    assert raised.value.retry_after_s == 0.0


async def test_429_waits_at_least_retry_after_in_seconds() -> None:
    agora = make_agora()
    agora.router.get(DOSSIER).mock(side_effect=[quota("2"), OK_DOSSIER])
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA)

    [delay] = agora.sleeps
    assert 2.0 <= delay <= 2.4


async def test_429_waits_until_the_retry_after_http_date() -> None:
    agora = make_agora()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=6), usegmt=True)
    agora.router.get(DOSSIER).mock(side_effect=[quota(when), OK_DOSSIER])
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA)

    [delay] = agora.sleeps
    assert 4.0 <= delay <= 6.0 * 1.2  # the date has a one-second resolution


async def test_503_with_retry_after_is_retried_then_raised_with_it() -> None:
    agora = make_agora()
    route = agora.router.get(DOSSIER).mock(return_value=unavailable("1"))
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.lire(id_agora=ID_AGORA)

    assert route.call_count == 3
    assert all(delay >= 1.0 for delay in agora.sleeps)
    error = raised.value
    assert (error.status, error.code, error.retry_after_s) == (503, "INDISPONIBLE", 1.0)
    assert (error.ambiguous, error.sent) == (False, True)


async def test_503_without_retry_after_backs_off_exponentially() -> None:
    agora = make_agora(retry_base_s=0.5)
    agora.router.get(DOSSIER).mock(side_effect=[unavailable(), unavailable(), OK_DOSSIER])
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA)

    first, second = agora.sleeps
    assert 0.4 <= first <= 0.6
    assert 0.8 <= second <= 1.2


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_on_reads_are_retried(status: int) -> None:
    agora = make_agora()
    route = agora.router.get(DOSSIER).mock(
        side_effect=[problem(status, "ERREUR"), problem(status, "ERREUR"), OK_DOSSIER]
    )
    async with agora.client:
        await agora.client.lire(id_agora=ID_AGORA)

    assert route.call_count == 3


async def test_retry_after_beyond_the_cap_is_left_to_the_engine() -> None:
    agora = make_agora(retry_cap_s=10)
    route = agora.router.get(DOSSIER).mock(return_value=unavailable("3600"))
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.lire(id_agora=ID_AGORA)

    assert route.call_count == 1
    assert agora.sleeps == []
    assert raised.value.retry_after_s == 3600.0


async def test_total_wait_stays_within_the_budget() -> None:
    agora = make_agora(retry_attempts=10, retry_base_s=1, retry_cap_s=10, retry_budget_s=5)
    agora.router.get(DOSSIER).mock(return_value=unavailable())
    async with agora.client:
        with pytest.raises(AgoraTransientError):
            await agora.client.lire(id_agora=ID_AGORA)

    assert 0 < sum(agora.sleeps) <= 5


# ---- Calls AGORA could apply twice --------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("lent"),
        httpx.ReadError("connexion coupée"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteTimeout("lent"),
    ],
)
async def test_a_transition_is_not_retried_when_agora_may_have_applied_it(
    failure: httpx.TransportError,
) -> None:
    agora = make_agora()
    route = agora.router.post(f"{DOSSIER}/entree").mock(side_effect=[failure, ENTERED])
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert route.call_count == 1
    assert (raised.value.ambiguous, raised.value.sent) == (True, True)
    assert raised.value.status is None


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refusée"),
        httpx.ConnectTimeout("lent"),
        httpx.PoolTimeout("pas de connexion libre"),
        quota("1"),
    ],
)
async def test_a_transition_is_retried_when_agora_certainly_did_not_process_it(
    failure: httpx.TransportError | httpx.Response,
) -> None:
    agora = make_agora()
    route = agora.router.post(f"{DOSSIER}/entree").mock(side_effect=[failure, ENTERED])
    async with agora.client:
        answer = await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert answer.statut == "ENTRE"
    assert route.call_count == 2
    assert len(set(request_ids(route))) == 1


@pytest.mark.parametrize(("status", "ambiguous"), [(503, False), (500, True), (502, True)])
async def test_a_transition_is_not_retried_after_a_server_error(
    status: int, ambiguous: bool
) -> None:
    agora = make_agora()
    route = agora.router.post(f"{DOSSIER}/entree").mock(
        side_effect=[problem(status, "ERREUR"), ENTERED]
    )
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert route.call_count == 1
    assert raised.value.ambiguous is ambiguous


async def test_a_rectification_is_not_retried_after_a_read_timeout() -> None:
    agora = make_agora()
    route = agora.router.patch(DOSSIER).mock(side_effect=[httpx.ReadTimeout("lent"), OK_DOSSIER])
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.rectifier(
                id_agora=ID_AGORA, rectification=Rectification(date_entree=date(2019, 3, 5))
            )

    assert route.call_count == 1
    assert raised.value.ambiguous


async def test_a_rectification_is_retried_after_a_connection_error() -> None:
    agora = make_agora()
    route = agora.router.patch(DOSSIER).mock(side_effect=[httpx.ConnectError("x"), OK_DOSSIER])
    async with agora.client:
        await agora.client.rectifier(
            id_agora=ID_AGORA, rectification=Rectification(date_entree=date(2019, 3, 5))
        )

    assert route.call_count == 2


async def test_ambiguity_of_an_earlier_attempt_is_not_lost() -> None:
    agora = make_agora()
    agora.router.post("/dossiers").mock(
        side_effect=[httpx.ReadTimeout("lent"), unavailable(), unavailable()]
    )
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.creer(creation=creation(), idempotency_key="creer-1")

    # The last answer (503) was a clean refusal, but the first attempt may have been applied.
    assert raised.value.status == 503
    assert raised.value.ambiguous


# ---- The token inside a call --------------------------------------------------------------


async def test_a_failing_token_is_retried_even_for_a_transition() -> None:
    agora = make_agora()
    agora.token.mock(side_effect=[unavailable(), httpx.ConnectError("x"), token_response()])
    route = agora.router.post(f"{DOSSIER}/entree").mock(return_value=ENTERED)
    async with agora.client:
        await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert (agora.token.call_count, route.call_count) == (3, 1)


async def test_a_token_that_never_comes_means_the_call_was_never_sent() -> None:
    agora = make_agora()
    agora.token.mock(return_value=problem(500, "ERREUR"))
    route = agora.router.post(f"{DOSSIER}/entree").mock(return_value=ENTERED)
    async with agora.client:
        with pytest.raises(AgoraTransientError) as raised:
            await agora.client.entrer(id_agora=ID_AGORA, entree=ENTREE)

    assert route.call_count == 0
    assert (raised.value.sent, raised.value.ambiguous) == (False, False)
    assert raised.value.route == "POST /oauth/token"


# ---- Client-side rate limit ---------------------------------------------------------------


async def test_requests_are_spaced_to_max_rps() -> None:
    now = [100.0]
    agora = make_agora(max_rps=2, clock=lambda: now[0])
    agora.router.get(DOSSIER).mock(return_value=OK_DOSSIER)
    async with agora.client:
        for _ in range(3):  # a burst of two, then half a second each
            await agora.client.lire(id_agora=ID_AGORA)

    assert agora.sleeps == [pytest.approx(0.5)]
