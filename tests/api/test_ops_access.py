"""Who reaches the monitoring routes: /metrics open (no personal data in it), /ops/status and
/ops for the role OPS only, by bearer key or by a browser session opened with one."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from typing import Any

import httpx
import pytest
import structlog
from itsdangerous import TimestampSigner
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from agora_bridge.api import create_app
from agora_bridge.api import ops as ops_routes
from agora_bridge.logs import configure_logging
from agora_bridge.ops import metrics as metrics_module
from agora_bridge.ops.session import COOKIE
from agora_bridge.settings import ApiSettings, ConfigurationError
from agora_bridge.storage.callers import Role, revoke_key, split_key
from tests.api.builders import (
    NOW,
    asgi_client,
    assert_problem,
    bearer,
    bridge,
    key_for,
    sessions_of,
    settings,
)

PROTECTED = ("/ops/status", "/ops")
HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _open_session(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/ops/session", data={"cle": key}, headers=FORM)


async def test_metrics_needs_no_key(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_request_labels_are_route_templates_never_paths(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        await client.get("/nothing/PDL-4242")
        await client.request("BREW", "/health/live")
        await client.get("/health/live")
        text = (await client.get("/metrics")).text
    samples = {
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        if family.name == "agora_bridge_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert (("method", "GET"), ("route", "unmatched"), ("status", "404")) in samples
    assert (("method", "OTHER"), ("route", "/health/live"), ("status", "405")) in samples
    assert (("method", "GET"), ("route", "/health/live"), ("status", "200")) in samples
    assert "PDL-4242" not in text


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_key_a_bad_key_or_a_revoked_key_is_refused_401(
    migrated_url: str, path: str
) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        key_id, secret = split_key(key) or ("", "")
        async with sessions_of(app)() as session, session.begin():
            await revoke_key(session, key_id, now=NOW)
        for headers in ({}, bearer("agb_nothing"), bearer(f"agb_{key_id}_{secret}"), bearer(key)):
            response = await client.get(path, headers=headers)
            assert_problem(response, 401, "CLE_API_INVALIDE")
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PROTECTED)
async def test_every_other_role_is_refused_403(migrated_sqlite: str, path: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        for role in set(Role) - {Role.OPS}:
            key = await key_for(sessions_of(app), role)
            assert_problem(await client.get(path, headers=bearer(key)), 403, "ROLE_NON_AUTORISE")


async def test_an_ops_key_reads_the_status_and_the_page(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        status = await client.get("/ops/status", headers=bearer(key))
        page = await client.get("/ops", headers=bearer(key))
    assert status.status_code == 200, status.text
    assert status.json()["file"]["a_faire"] == 0
    assert status.headers["cache-control"] == page.headers["cache-control"] == "no-store"
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<svg" in page.text
    assert "<script" not in page.text


async def test_a_browser_without_a_session_is_sent_to_the_sign_in_form(
    migrated_sqlite: str,
) -> None:
    async with bridge(settings(migrated_sqlite)) as (_, client):
        page = await client.get("/ops", headers=HTML)
        form = await client.get("/ops/session", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/ops/session"
    assert form.status_code == 200
    assert 'action="/ops/session"' in form.text


async def test_a_session_opened_with_an_ops_key_holds_a_signed_cookie_not_the_key(
    migrated_sqlite: str,
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        opened = await _open_session(client, key)
        page = await client.get("/ops")  # the client sends the cookie back
        status = await client.get("/ops/status")
        closed = await client.post("/ops/session/fin")
        after = await client.get("/ops")
    assert opened.status_code == 200, opened.text
    assert 'url=/ops"' in opened.text  # sent on to the page
    cookie = opened.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/ops" in cookie.lower()
    assert "secure" not in attributes  # plain http (loopback)
    assert key.split("_", 2)[2] not in cookie
    assert page.status_code == 200, page.text
    assert status.status_code == 200, status.text
    assert closed.status_code == 200
    assert 'url=/ops/session"' in closed.text
    assert_problem(after, 401, "CLE_API_INVALIDE")


async def test_the_session_cookie_is_secure_over_https(migrated_sqlite: str) -> None:
    app = create_app(settings(migrated_sqlite))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://bridge.test") as client,
    ):
        key = await key_for(sessions_of(app), Role.OPS)
        opened = await _open_session(client, key)
    assert opened.status_code == 200
    assert "; secure" in opened.headers["set-cookie"].lower()


async def test_signing_out_ends_the_session_for_a_copy_of_its_cookie_too(
    migrated_url: str,
) -> None:
    """The cookie is only a signed reference: signing out ends the session server-side, so a
    copy taken before (another browser, a stolen cookie) is refused from then on, while
    another session of the same key goes on."""
    async with bridge(settings(migrated_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        await _open_session(client, key)
        copied = client.cookies[COOKIE]
        async with asgi_client(app) as other:
            await _open_session(other, key)
            assert (await client.post("/ops/session/fin")).status_code == 200
            client.cookies.set(COOKIE, copied, path="/ops")
            replayed = await client.get("/ops/status")
            still = await other.get("/ops/status")
    assert_problem(replayed, 401, "CLE_API_INVALIDE")
    assert still.status_code == 200, still.text


async def test_a_revoked_key_ends_its_sessions_within_5_s(migrated_url: str) -> None:
    async with bridge(settings(migrated_url)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        assert (await _open_session(client, key)).status_code == 200
        assert (await client.get("/ops/status")).status_code == 200  # cached from now on
        key_id = key.split("_")[1]
        async with sessions_of(app)() as session, session.begin():
            await revoke_key(session, key_id, now=NOW)
        revoked_at = time.monotonic()
        while (response := await client.get("/ops/status")).status_code == 200:
            assert time.monotonic() - revoked_at < 5
            await asyncio.sleep(0.1)
    assert_problem(response, 401, "CLE_API_INVALIDE")


async def test_a_forged_tampered_or_expired_cookie_is_refused(
    migrated_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        key_id = key.split("_")[1]
        # Signed by another app (another secret): the same shape, another signature.
        async with bridge(settings(migrated_sqlite)) as (_, other):
            await _open_session(other, key)
            forged = other.cookies[COOKIE]
        real_time = TimestampSigner.get_timestamp
        monkeypatch.setattr(
            TimestampSigner, "get_timestamp", lambda self: real_time(self) - 9 * 3600
        )
        await _open_session(client, key)
        expired = client.cookies[COOKIE]
        monkeypatch.undo()
        await _open_session(client, key)
        _, stamp, signature = client.cookies[COOKIE].split(".")
        other_key = base64.urlsafe_b64encode(json.dumps({"cle": "0" * len(key_id)}).encode())
        tampered = f"{other_key.decode().rstrip('=')}.{stamp}.{signature}"
        for cookie in (forged, expired, tampered, "not-a-session"):
            client.cookies.clear()
            client.cookies.set(COOKIE, cookie)
            response = await client.get("/ops/status")
            assert_problem(response, 401, "CLE_API_INVALIDE")


async def test_a_session_is_refused_to_a_bad_key_or_another_role(migrated_sqlite: str) -> None:
    async with bridge(settings(migrated_sqlite)) as (app, client):
        region = await key_for(sessions_of(app), Role.REGION_SI)
        assert_problem(await _open_session(client, region), 403, "ROLE_NON_AUTORISE")
        assert_problem(await _open_session(client, "agb_nothing"), 401, "CLE_API_INVALIDE")
        as_browser = await client.post(
            "/ops/session", data={"cle": "agb_nothing"}, headers=FORM | HTML
        )
    assert as_browser.status_code == 401
    assert 'action="/ops/session"' in as_browser.text  # the form again, with the reason
    assert COOKIE not in client.cookies


async def test_the_routes_are_documented(migrated_sqlite: str) -> None:
    schema = create_app(settings(migrated_sqlite)).openapi()
    for path in ("/metrics", "/ops/status", "/ops", "/ops/session", "/ops/session/fin"):
        assert path in schema["paths"]
    assert "401" in schema["paths"]["/ops/status"]["get"]["responses"]


async def test_scrapes_share_one_database_read_for_a_few_seconds(
    migrated_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = 0
    real = metrics_module.read_gauges

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(ops_routes, "read_gauges", counted)
    async with bridge(settings(migrated_sqlite)) as (_, client):
        together = await asyncio.gather(*(client.get("/metrics") for _ in range(5)))
        after = await client.get("/metrics")
    assert [r.status_code for r in (*together, after)] == [200] * 6
    assert reads == 1  # no client can make /metrics load the database at will


async def test_the_session_forms_refuse_a_post_from_another_site(migrated_sqlite: str) -> None:
    """SameSite keeps the cookie home, not another site's form from signing a browser in
    with a key of that site's choosing (login CSRF), or out."""
    async with bridge(settings(migrated_sqlite)) as (app, client):
        key = await key_for(sessions_of(app), Role.OPS)
        for elsewhere in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://bridge.test.evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            signed_in = await client.post(
                "/ops/session", data={"cle": key}, headers=FORM | HTML | elsewhere
            )
            assert_problem(signed_in, 403, "ORIGINE_REFUSEE")
            assert COOKIE not in client.cookies
            signed_out = await client.post("/ops/session/fin", headers=elsewhere)
            assert_problem(signed_out, 403, "ORIGINE_REFUSEE")
        home = {"Origin": "http://bridge.test", "Sec-Fetch-Site": "same-origin"}
        opened = await client.post("/ops/session", data={"cle": key}, headers=FORM | home)
        closed = await client.post("/ops/session/fin", headers=home)
    assert opened.status_code == closed.status_code == 200


@pytest.mark.parametrize("secret", ["s3cret", "x" * 31])
def test_a_short_session_secret_is_refused_without_being_named(
    migrated_sqlite: str, secret: str
) -> None:
    """A cookie names a key id (logged): a guessable signing secret would forge sessions."""
    config = settings(migrated_sqlite)
    config.api = ApiSettings(session_secret=SecretStr(secret))
    with pytest.raises(ConfigurationError, match="API__SESSION_SECRET") as refused:
        create_app(config)
    assert secret not in str(refused.value)
    config.api = ApiSettings(session_secret=SecretStr("x" * 32))
    create_app(config)


async def test_a_session_s_requests_are_logged_with_its_key_id(migrated_sqlite: str) -> None:
    """Who read the ops status is in the request's log line, by session as by bearer key."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        async with bridge(settings(migrated_sqlite)) as (app, client):
            key = await key_for(sessions_of(app), Role.OPS)
            await _open_session(client, key)
            configure_logging(stream=stream)
            assert (await client.get("/ops/status")).status_code == 200
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line.get("route") == "/ops/status"]
    assert [line.get("key_id") for line in requests] == [key.split("_")[1]]
