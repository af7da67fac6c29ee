"""`GET /health/live` and `GET /health/ready`: for the orchestrator, no key needed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

from agora_bridge.api.problems import NotReady, problem_responses
from agora_bridge.api.state import BridgeState, bridge_state
from agora_bridge.logs import get_logger
from agora_bridge.storage import db

router = APIRouter(prefix="/health", tags=["health"])
log = get_logger(__name__)

Verdict = Literal["OK", "ECHEC"]


class Liveness(BaseModel):
    statut: Literal["VIVANT"] = "VIVANT"


class Readiness(BaseModel):
    statut: Literal["PRET"] = "PRET"
    # database, migrations, agora_token
    verifications: dict[str, Verdict]


@router.get("/live", response_model=Liveness)
async def live() -> Liveness:
    """The process answers (nothing else is checked: a restart would not fix the rest)."""
    return Liveness()


@router.get("/ready", response_model=Readiness, responses=problem_responses(503))
async def ready(state: Annotated[BridgeState, Depends(bridge_state)]) -> Readiness:
    """Database reachable, migrations at head, an AGORA token obtainable; else 503 naming
    the failing checks."""
    checks: dict[str, Callable[[], Awaitable[object]]] = {
        "database": lambda: _select_one(state),
        "migrations": lambda: db.assert_at_head(state.engine),
        "agora_token": state.agora.verifier_authentification,
    }
    timeout = state.settings.api.ready_timeout_s
    verdicts = {name: await _verdict(name, check, timeout) for name, check in checks.items()}
    failing = [name for name, verdict in verdicts.items() if verdict == "ECHEC"]
    if failing:
        raise NotReady(f"not ready: {', '.join(failing)} failed", verifications=verdicts)
    return Readiness(verifications=verdicts)


async def _select_one(state: BridgeState) -> None:
    async with state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _verdict(name: str, check: Callable[[], Awaitable[object]], timeout: float) -> Verdict:
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as error:
        # The class only: a driver's message may quote a URL or a value.
        log.warning("health.check.failed", check=name, cause=type(error).__name__)
        return "ECHEC"
    return "OK"
