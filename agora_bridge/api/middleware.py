"""Pure ASGI middleware: a request id on every request, and a cap on request bodies.

Pure ASGI rather than `BaseHTTPMiddleware`: the request id bound in structlog's contextvars
must be seen by the handler, which runs in the same task, and streamed bodies must be counted
as they arrive, Content-Length or not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora_bridge.api.problems import BodyTooLarge, internal_error, render
from agora_bridge.logs import get_logger

REQUEST_ID_HEADER = "X-Request-Id"
CALLER_LOG_KEYS = ("organisation_id", "key_id")
HEALTH_PREFIX = "/health/"

log = get_logger(__name__)


def accepted_request_id(value: str | None) -> str:
    """The caller's id when it is a UUID (safe to log and echo), else a new one."""
    if value:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    return str(uuid.uuid4())


class RequestIdMiddleware:
    """Accept or create the request id, bind it for every log line, echo it, log the request.

    Also the last resort for an unexpected exception: answered here as a problem+json 500
    that still carries the request id, logged once with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self._handle(scope, receive, send, request_id)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            log.error("http.request.failed", exc_info=error)
            if status is not None:
                raise  # the answer is already on its way: the server drops the connection
            await internal_error(Request(scope))(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            # Probes come every few seconds: their lines would drown the rest at INFO.
            probe = scope["path"].startswith(HEALTH_PREFIX) and status == 200
            (log.debug if probe else log.info)(
                "http.request",
                method=scope["method"],
                route=getattr(route, "path", None),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            # Bound by the route's key check; a server runs each request in its own task,
            # but an in-process client (tests) reuses one.
            structlog.contextvars.unbind_contextvars(*CALLER_LOG_KEYS)


class BodyLimitMiddleware:
    """413 problem+json for a body over its route's cap: at once when Content-Length says so,
    else as soon as the bytes received pass it (chunked bodies have no Content-Length)."""

    def __init__(self, app: ASGIApp, *, default_bytes: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.by_path = dict(by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await render(Request(scope), _too_large(limit))(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as error:
            # Raised where no handler catches it (a body read outside a route): answer here.
            if response_started:
                raise
            await render(Request(scope), error)(scope, receive, send)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request body exceeds {limit} bytes on this route", limit=limit)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None
