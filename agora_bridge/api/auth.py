"""API keys on every protected route: `require_roles(...)` gives the handler its `Caller`.

A key looked up is trusted for `API__KEY_CACHE_TTL_S` (≤ 4 s) by this replica only: a
revocation is effective on every replica within that time, as `operations.md` asks (5 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agora_bridge.api.problems import DatabaseUnavailable, Forbidden, Unauthenticated
from agora_bridge.storage.callers import Caller, Role, StoredKey, load_key, matches, split_key

Clock = Callable[[], float]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="cleApi",
    description="An API key printed by `agora-bridge keys create`: `Authorization: Bearer <key>`",
)


class KeyAuthenticator:
    """Finds the caller behind a key: the key id locates the row, the secret's hash is
    compared in constant time, a revoked key finds no one."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._session_maker = session_maker
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, StoredKey]] = {}

    async def caller(self, key: str) -> Caller | None:
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        stored = await self._stored(key_id)
        valid = matches(stored.secret_hash if stored else None, secret)
        if stored is None or not valid or stored.revoked:
            return None
        return stored.caller

    async def caller_of_id(self, key_id: str) -> Caller | None:
        """The caller behind a key id that a signed ops session names (its secret was
        checked when the session opened): None once the key is revoked or gone."""
        stored = await self._stored(key_id)
        if stored is None or stored.revoked:
            return None
        return stored.caller

    async def _stored(self, key_id: str) -> StoredKey | None:
        # The time before the read: an entry never outlives the TTL from when it was true.
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        try:
            async with self._session_maker() as session:
                stored = await load_key(session, key_id)
        except (SQLAlchemyError, OSError):
            raise DatabaseUnavailable("the database failed: the key cannot be checked") from None
        if stored is None:
            self._cache.pop(key_id, None)
        elif self._ttl_s > 0:
            self._cache[key_id] = (now, stored)  # only existing keys: bounded by the table
        return stored


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency: 401 without a valid key, 403 when the caller's role is not in `roles`."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(allowed))

    async def authenticated_caller(request: Request, credentials: Credentials) -> Caller:
        if credentials is None:
            raise Unauthenticated("no API key: send Authorization: Bearer <key>")
        keys: KeyAuthenticator = request.app.state.bridge.keys
        caller = await keys.caller(credentials.credentials)
        if caller is None:
            raise Unauthenticated("the API key is malformed, unknown or revoked")
        structlog.contextvars.bind_contextvars(
            organisation_id=caller.organisation_id, key_id=caller.key_id
        )
        if caller.role not in allowed:
            raise Forbidden(f"this route is open to the roles {names} only")
        return caller

    return authenticated_caller
