"""The ops page's browser sessions, server-side: opened at sign-in, ended at sign-out.

The cookie carries a random session id, signed (`ops/session.py`); this table holds its
SHA-256, the key it was opened with and until when it runs. A session is valid while its row
is neither ended nor expired, so signing out ends every copy of the cookie, on every replica.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.storage.models import OpsSession


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(
    sessions: async_sessionmaker[AsyncSession], key_id: str, *, now: datetime, ttl_s: int
) -> str:
    """A new session for `key_id`; its id, for the cookie only (never stored in clear)."""
    session_id = secrets.token_urlsafe(32)
    row = OpsSession(
        id_hash=_hashed(session_id),
        key_id=key_id,
        opened_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    async with sessions() as session, session.begin():
        session.add(row)
    return session_id


async def is_open(
    sessions: async_sessionmaker[AsyncSession], session_id: str, key_id: str, *, now: datetime
) -> bool:
    """The session exists for this key, was not ended, and has not expired."""
    statement = select(OpsSession.key_id).where(
        OpsSession.id_hash == _hashed(session_id),
        OpsSession.ended_at.is_(None),
        OpsSession.expires_at > now,
    )
    async with sessions() as session:
        found = await session.scalar(statement)
    return found == key_id


async def end_session(
    sessions: async_sessionmaker[AsyncSession], session_id: str, *, now: datetime
) -> None:
    """Sign-out: the session and every copy of its cookie are refused from now on."""
    statement = (
        update(OpsSession)
        .where(OpsSession.id_hash == _hashed(session_id), OpsSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    async with sessions() as session, session.begin():
        await session.execute(statement)
