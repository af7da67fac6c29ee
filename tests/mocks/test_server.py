"""Serving the mock: in the running loop, in a thread, and as `agora-bridge mock-agora`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from agora_bridge.cli.main import app as cli
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from mocks.lots import MAX_BYTES
from mocks.server import mock_in_thread, running_mock
from tests.mocks.builders import ligne
from tests.mocks.harness import TOKEN_FORM


async def test_running_mock_serves_on_a_free_loopback_port_and_stops() -> None:
    async with running_mock(client_id="me", client_secret="s3cret") as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=mock.url) as client:
            form = {
                "grant_type": "client_credentials",
                "client_id": "me",
                "client_secret": "s3cret",
            }
            assert (await client.post("/agora/v2/oauth/token", data=form)).status_code == 200
    port = int(mock.url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_mock_in_thread_serves_synchronous_callers() -> None:
    with mock_in_thread() as mock:
        response = httpx.post(f"{mock.url}/agora/v2/oauth/token", data=TOKEN_FORM)
        assert response.status_code == 200
        assert mock.state.tokens.ttl_s == 600


def test_the_command_documents_its_options() -> None:
    result = CliRunner().invoke(cli, ["mock-agora", "--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--host",
        "--client-id",
        "--client-secret",
        "--lot-delay-s",
        "--rate-limit",
        "--token-ttl-s",
    ):
        assert option in result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_agora_bridge_mock_agora_runs_the_mock() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "agora_bridge", "mock-agora", "--port", str(port)]
    command += ["--client-id", "cli", "--client-secret", "cli-secret", "--token-ttl-s", "42"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        form = {
            "grant_type": "client_credentials",
            "client_id": "cli",
            "client_secret": "cli-secret",
        }
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/agora/v2/oauth/token", data=form)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the mock did not start"
                time.sleep(0.1)
        assert response.json()["expires_in"] == 42
        demo = {**form, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
        assert (
            httpx.post(f"http://127.0.0.1:{port}/agora/v2/oauth/token", data=demo).status_code
            == 401
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_lot_over_16_mib_gets_its_413_over_http() -> None:
    # The mock reads the body to the end, so that the client gets the answer, not a reset.
    async with running_mock() as mock, httpx.AsyncClient(base_url=mock.url, timeout=30) as client:
        token = (await client.post("/agora/v2/oauth/token", data=TOKEN_FORM)).json()
        headers = {
            "Authorization": f"Bearer {token['access_token']}",
            "Idempotency-Key": "k",
            "Content-Type": "application/x-ndjson",
        }
        body = json.dumps(ligne("R-1")).encode() + b" " * MAX_BYTES
        response = await client.post("/agora/v2/lots", content=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (413, "LOT_TROP_VOLUMINEUX")
