"""The uvicorn configuration of every server we run: `agora-bridge serve` and the AGORA mock.

One server stack for both, so that a benchmark of the bridge against the mock measures the
same machinery on each side: uvloop's event loop and httptools' HTTP parser (uvicorn's
`standard` extra), both in C. uvicorn's defaults ("auto") would silently fall back to the
pure-Python asyncio loop and h11 when those are missing; naming them makes a broken install
fail at start-up instead of running three times slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Scope

LOOP = "uvloop"
HTTP = "httptools"

_DEFAULTS: dict[str, Any] = {
    "loop": LOOP,
    "http": HTTP,
    "lifespan": "on",
    # Requests are logged by the app, with their request id: uvicorn's access log would log
    # every path a second time, without it.
    "access_log": False,
    "log_config": None,  # keep the logging set up by agora_bridge.logs (JSON, redaction)
    "server_header": False,  # no "server: uvicorn" telling a scanner what to try
}


def uvicorn_config(app: ASGIApp, *, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """uvicorn's `Config` for `app` on `host:port`; `overrides` are any other `Config` option.

    For example `http=SomeHttpToolsProtocol` (the mock's, to drop connections), or
    `timeout_graceful_shutdown=1`.
    """
    return uvicorn.Config(app, host=host, port=port, **{**_DEFAULTS, **overrides})


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes on this path, for a 405's `Allow` (RFC 9110):
    Starlette's own names only the first route of the path."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)
