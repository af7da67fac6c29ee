"""The ops page's browser session: a cookie naming the OPS key it was opened with and the
session's id, signed and timestamped (itsdangerous), never the key itself.

The key's secret is checked once, when the session opens (`POST /ops/session`); each
request then checks the session is still open server-side (`storage/ops_sessions.py`:
signing out ends it, copies of the cookie included) and looks the key id up like a bearer
key (`KeyAuthenticator`, cached at most `API__KEY_CACHE_TTL_S`), so a revoked key ends its
sessions within 5 s. The signing secret is `API__SESSION_SECRET`; without it each process
draws one at start, and its sessions end when it stops (and are unknown to the other
replicas).
"""

from __future__ import annotations

import secrets

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.responses import Response

from agora_bridge.settings import ApiSettings, ConfigurationError

COOKIE = "agora_bridge_ops"
COOKIE_PATH = "/ops"
_SALT = "agora-bridge.ops-session"
_FIELD = "cle"
_SESSION = "sid"
# A cookie names a key id, and key ids are in the logs: a guessable secret would let anyone
# who holds one cookie forge a session for any OPS key. As strong as the secret drawn here.
SECRET_MIN_CHARS = 32


class OpsSessions:
    def __init__(self, secret: bytes, *, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, api: ApiSettings) -> OpsSessions:
        configured = api.session_secret.get_secret_value() if api.session_secret else None
        if configured is not None and len(configured) < SECRET_MIN_CHARS:
            raise ConfigurationError(
                f"AGORA_BRIDGE_API__SESSION_SECRET is shorter than {SECRET_MIN_CHARS} characters"
            )
        secret = configured.encode() if configured else secrets.token_bytes(32)
        return cls(secret, ttl_s=api.session_ttl_s)

    def read(self, cookie: str | None) -> tuple[str, str] | None:
        """(key id, session id) of a validly signed, unexpired cookie; None for anything
        else. Whether the session is still open is the database's to say."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.ttl_s)
        except BadData:
            return None
        if not isinstance(data, dict):
            return None
        key_id, session_id = data.get(_FIELD), data.get(_SESSION)
        if isinstance(key_id, str) and isinstance(session_id, str):
            return key_id, session_id
        return None

    def open(self, response: Response, key_id: str, session_id: str, *, https: bool) -> None:
        response.set_cookie(
            COOKIE,
            self._serializer.dumps({_FIELD: key_id, _SESSION: session_id}),
            max_age=self.ttl_s,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=https,
        )

    def close(self, response: Response, *, https: bool) -> None:
        response.delete_cookie(
            COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=https
        )
