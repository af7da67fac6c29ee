"""What the routes share for the life of the app, built by the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_bridge.agora.client import AgoraClient
from agora_bridge.api.auth import KeyAuthenticator
from agora_bridge.delivery.engine import Engine
from agora_bridge.settings import Settings
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.storage.crypto import NirCrypto


@dataclass
class BridgeState:
    settings: Settings
    engine: AsyncEngine
    session_maker: async_sessionmaker[AsyncSession]
    crypto: NirCrypto
    perimeter: Perimeter
    agora: AgoraClient
    keys: KeyAuthenticator
    # Set after each ingest commits: the delivery engine waits on it to work at once rather
    # than at its next tick (it clears it when it wakes).
    delivery_due: asyncio.Event = field(default_factory=asyncio.Event)
    # The sync engine running in this process (`serve`), for the ops status and /metrics:
    # its counters and its circuit. None when the app runs without one.
    delivery: Engine | None = None


async def bridge_state(request: Request) -> BridgeState:
    state: BridgeState = request.app.state.bridge
    return state
