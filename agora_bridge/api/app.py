"""The one app factory of the HTTP API: `create_app(settings)`.

Tests build their own app with their own settings and database; `agora-bridge serve` builds
one and runs it under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from agora_bridge.agora.client import AgoraClient
from agora_bridge.api import health, ops, ouiform, region, retours
from agora_bridge.api.auth import KeyAuthenticator
from agora_bridge.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from agora_bridge.api.problems import PROBLEM_JSON, install_handlers
from agora_bridge.api.state import BridgeState
from agora_bridge.ops.metrics import HttpMetricsMiddleware, http_requests
from agora_bridge.ops.session import OpsSessions
from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.storage import db
from agora_bridge.storage.crypto import NirCrypto

# One worker's connections: more requests in flight than this wait for one (never opening
# and closing connections past the pool under load); unused this long, one is checked first.
API_POOL_SIZE = 20
API_PING_AFTER_IDLE_S = 2.0

# A service started with the app and stopped with it (the delivery engine's scheduler):
# given the shared state, it returns an async context manager that runs while the app serves.
BackgroundService = Callable[[BridgeState], AbstractAsyncContextManager[None]]


def create_app(settings: Settings, *, background: Sequence[BackgroundService] = ()) -> FastAPI:
    """The API. Secrets are checked now (production refuses demo ones, naming the setting);
    the lifespan refuses an unmigrated database, naming `agora-bridge db upgrade`."""
    crypto = NirCrypto.from_settings(settings)
    agora_settings = settings.agora_access()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(
            settings.database_url,
            pool_size=API_POOL_SIZE,
            max_overflow=0,
            ping_after_idle_s=API_PING_AFTER_IDLE_S,
        )
        try:
            await db.assert_at_head(engine)
            async with AgoraClient(agora_settings) as agora, AsyncExitStack() as services:
                session_maker = db.make_sessionmaker(engine)
                app.state.bridge = state = BridgeState(
                    settings=settings,
                    engine=engine,
                    session_maker=session_maker,
                    crypto=crypto,
                    perimeter=Perimeter(settings.perimetre.categories_exclues),
                    agora=agora,
                    keys=KeyAuthenticator(session_maker, ttl_s=settings.api.key_cache_ttl_s),
                )
                # The hook for background services: started once the state exists,
                # stopped (in reverse order) before the AGORA client and the engine close.
                for service in background:
                    await services.enter_async_context(service(state))
                yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="agora-bridge",
        summary="The Région's connector to AGORA: snapshots, return flow, orientations, health",
        version="1",
        lifespan=lifespan,
    )
    _install(app, settings)
    return app


def _install(app: FastAPI, settings: Settings) -> None:
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(region.router)
    app.include_router(retours.router)
    app.include_router(ouiform.router)
    app.include_router(ouiform.region_router)
    app.include_router(ops.router)
    app.state.ops = ops.OpsParts(
        sessions=OpsSessions.from_settings(settings.api),
        requests=http_requests(),
        gauges=ops.cached_gauges(app, ttl_s=settings.api.metrics_cache_s),
    )
    # Added innermost first: the request id wraps the body cap, so a 413 carries it too;
    # the request counter sees the 413 as well.
    app.add_middleware(
        BodyLimitMiddleware,
        default_bytes=settings.api.max_bytes,
        by_path={region.INGEST_PATH: settings.api.ingest_max_bytes},
    )
    app.add_middleware(HttpMetricsMiddleware, counter=app.state.ops.requests)
    app.add_middleware(RequestIdMiddleware)
    _complete_openapi(app)


def _complete_openapi(app: FastAPI) -> None:
    """Two things FastAPI cannot infer: problems are only application/problem+json, and the
    ingest route's raw body is an array of snapshots (whose schema joins the components)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _problems_only(schema)
            snapshot = region.snapshot_schema()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(snapshot.pop("$defs", {}))
            components["Snapshot"] = snapshot
            ouiform.complete_openapi(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problems_only(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content:
                    # Also the route's own media type (the ops page's text/html).
                    for media_type in set(content) - {PROBLEM_JSON}:
                        content.pop(media_type)
