"""A transport between the client and the mock that loses chosen answers, precisely.

The mock's own faults are drawn at random over every request (the token too); a test of one
interleaving needs *this* call's answer lost, after the mock applied it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import httpx

from agora_bridge.agora.transport import AiohttpTransport


@dataclass
class Loss:
    method: str
    path: re.Pattern[str]
    times: int  # answers still to lose
    refusal: int | None = None  # answer this status instead, without forwarding
    body: dict[str, object] | None = None  # with this body
    containing: bytes | None = None  # only requests whose body holds this


@dataclass
class Faulty(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport = field(default_factory=AiohttpTransport)  # the default
    losses: list[Loss] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)
    # Requests whose body holds this text wait for the event before they leave.
    held: tuple[bytes, asyncio.Event] | None = None

    def lose(self, method: str, path: str, *, times: int = 1) -> None:
        """The next `times` answers to `method` on a path matching `path` (a regex searched
        in the URL path) are dropped after the mock applied the call."""
        self.losses.append(Loss(method, re.compile(path), times))

    def refuse(
        self,
        method: str,
        path: str,
        *,
        status: int = 503,
        times: int = 1,
        body: dict[str, object] | None = None,
        containing: str | None = None,
    ) -> None:
        """The next `times` calls (whose body holds `containing`, when given) are answered
        `status` (and `body`) without reaching the mock."""
        held = containing.encode() if containing is not None else None
        loss = Loss(method, re.compile(path), times, refusal=status, body=body, containing=held)
        self.losses.append(loss)

    def requests(self, method: str, path: str) -> list[httpx.Request]:
        pattern = re.compile(path)
        return [r for r in self.sent if r.method == method and pattern.search(r.url.path)]

    def hold(self, text: str) -> asyncio.Event:
        """Requests whose body holds `text` wait until the returned event is set: a dossier
        stuck on a slow AGORA."""
        release = asyncio.Event()
        self.held = (text.encode(), release)
        return release

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if self.held is not None and self.held[0] in request.content:
            await self.held[1].wait()
        loss = next((loss for loss in self.losses if self._matches(loss, request)), None)
        if loss is not None and loss.refusal is not None:
            loss.times -= 1
            body = loss.body if loss.body is not None else {"code": "INDISPONIBLE"}
            return httpx.Response(loss.refusal, json=body, request=request)
        response = await self.inner.handle_async_request(request)
        if loss is None:
            return response
        loss.times -= 1
        await response.aread()
        await response.aclose()
        raise httpx.RemoteProtocolError("answer lost (test)", request=request)

    @staticmethod
    def _matches(loss: Loss, request: httpx.Request) -> bool:
        return (
            loss.times > 0
            and request.method == loss.method
            and loss.path.search(request.url.path) is not None
            and (loss.containing is None or loss.containing in request.content)
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


# AGORA refusing a creation for a rule the bridge's model does not make (its own SIRET
# register, say): the business rejection the engine parks.
SIRET_REFUSED: dict[str, object] = {
    "type": "urn:agora:v2:probleme:SIRET_INVALIDE",
    "title": "SIRET invalide",
    "status": 422,
    "code": "SIRET_INVALIDE",
    "detail": "règle métier non respectée",
    "erreurs": [{"champ": "organisme.siret", "code": "SIRET_INVALIDE", "message": "inconnu"}],
}
