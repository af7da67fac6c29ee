"""The client-credentials token: cached, refreshed before expiry, fetched once for many."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from agora_bridge.agora.auth import ClientCredentialsProvider
from agora_bridge.agora.errors import AgoraPermanentError, AgoraTransientError
from tests.agora.wire_builders import BASE_URL, problem, token_response


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TokenEndpoint:
    provider: ClientCredentialsProvider
    route: respx.Route
    clock: Clock
    http: httpx.AsyncClient


def token_endpoint(*answers: httpx.Response) -> TokenEndpoint:
    """A provider whose token endpoint gives `answers` in turn."""
    router = respx.Router(base_url=BASE_URL, assert_all_mocked=True)
    route = router.post("/oauth/token").mock(side_effect=list(answers))
    clock = Clock()
    provider = ClientCredentialsProvider(
        token_url="/oauth/token",
        client_id="bridge",
        client_secret=SecretStr("secret-de-test"),
        clock=clock,
    )
    http = httpx.AsyncClient(base_url=BASE_URL, transport=httpx.MockTransport(router.async_handler))
    return TokenEndpoint(provider, route, clock, http)


async def test_asks_with_client_credentials() -> None:
    endpoint = token_endpoint(token_response("jeton-1"))
    async with endpoint.http as client:
        assert await endpoint.provider.token(client=client) == "jeton-1"

    request = endpoint.route.calls.last.request
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["bridge"],
        "client_secret": ["secret-de-test"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-Request-Id"]


async def test_token_is_cached_then_refreshed_before_expiry() -> None:
    endpoint = token_endpoint(token_response("jeton-1", 600), token_response("jeton-2", 600))
    provider, clock = endpoint.provider, endpoint.clock
    async with endpoint.http as client:
        assert await provider.token(client=client) == "jeton-1"
        clock.now += 539  # 61 s left: more than the margin (10 % of 600 s)
        assert await provider.token(client=client) == "jeton-1"
        clock.now += 2  # 59 s left: refreshed before AGORA would refuse it
        assert await provider.token(client=client) == "jeton-2"

    assert endpoint.route.call_count == 2


async def test_the_margin_is_at_least_thirty_seconds() -> None:
    endpoint = token_endpoint(token_response("jeton-1", 200), token_response("jeton-2", 200))
    provider, clock = endpoint.provider, endpoint.clock
    async with endpoint.http as client:
        await provider.token(client=client)
        clock.now += 169  # 31 s left
        assert await provider.token(client=client) == "jeton-1"
        clock.now += 2  # 29 s left
        assert await provider.token(client=client) == "jeton-2"


async def test_a_short_lived_token_is_not_refetched_on_every_call() -> None:
    endpoint = token_endpoint(token_response("jeton-1", 20))
    async with endpoint.http as client:
        await endpoint.provider.token(client=client)
        endpoint.clock.now += 9  # the margin takes at most half its life
        assert await endpoint.provider.token(client=client) == "jeton-1"

    assert endpoint.route.call_count == 1


async def test_concurrent_callers_cause_one_request() -> None:
    release = asyncio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return token_response("jeton-1")

    endpoint = token_endpoint()
    endpoint.route.mock(side_effect=slow_token)
    async with endpoint.http as client:
        callers = [asyncio.create_task(endpoint.provider.token(client=client)) for _ in range(20)]
        await asyncio.sleep(0.01)  # every caller is now waiting on the first one's request
        release.set()
        tokens = await asyncio.gather(*callers)

    assert set(tokens) == {"jeton-1"}
    assert endpoint.route.call_count == 1


async def test_invalidate_forgets_only_the_refused_token() -> None:
    endpoint = token_endpoint(*(token_response(f"jeton-{n}") for n in (1, 2, 3)))
    provider = endpoint.provider
    async with endpoint.http as client:
        first = await provider.token(client=client)
        provider.invalidate(first)
        second = await provider.token(client=client)
        provider.invalidate(first)  # a late 401 for the old token keeps the new one
        assert await provider.token(client=client) == second == "jeton-2"
        provider.invalidate()
        assert await provider.token(client=client) == "jeton-3"

    assert endpoint.route.call_count == 3


async def test_wrong_credentials_are_a_permanent_jeton_invalide() -> None:
    endpoint = token_endpoint(problem(401, "JETON_INVALIDE"))
    async with endpoint.http as client:
        with pytest.raises(AgoraPermanentError) as raised:
            await endpoint.provider.token(client=client)

    assert (raised.value.status, raised.value.code) == (401, "JETON_INVALIDE")
    assert raised.value.route == "POST /oauth/token"


async def test_an_unavailable_token_endpoint_is_transient() -> None:
    endpoint = token_endpoint(problem(503, "INDISPONIBLE", headers={"Retry-After": "2"}))
    async with endpoint.http as client:
        with pytest.raises(AgoraTransientError) as raised:
            await endpoint.provider.token(client=client)

    assert raised.value.retry_after_s == 2.0


async def test_an_answer_that_is_not_a_token_is_permanent() -> None:
    endpoint = token_endpoint(httpx.Response(200, json={"token": "?"}))
    async with endpoint.http as client:
        with pytest.raises(AgoraPermanentError) as raised:
            await endpoint.provider.token(client=client)

    assert raised.value.code == "REPONSE_INVALIDE"
