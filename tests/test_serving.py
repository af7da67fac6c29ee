"""The server stack of `serve` and of the mock: uvloop and httptools, never a silent fallback."""

from __future__ import annotations

import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agora_bridge.cli.serve import server_for as serve_server_for
from agora_bridge.serving import uvicorn_config
from mocks.app import create_app
from mocks.server import MockProtocol, server_for


def test_the_config_names_uvloop_and_httptools_and_loads_them() -> None:
    config = uvicorn_config(FastAPI(), host="127.0.0.1", port=0)
    assert (config.loop, config.http) == ("uvloop", "httptools")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    loop_factory = config.get_loop_factory()
    assert loop_factory is not None
    loop = loop_factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_config_keeps_the_host_s_logging_and_logs_no_access_line() -> None:
    config = uvicorn_config(FastAPI(), host="0.0.0.0", port=8000)
    assert (config.host, config.port) == ("0.0.0.0", 8000)
    assert config.log_config is None
    assert config.access_log is False
    assert config.lifespan == "on"
    assert config.server_header is False


def test_overrides_win_over_the_defaults() -> None:
    config = uvicorn_config(FastAPI(), host="127.0.0.1", port=0, http="h11", workers=3)
    assert (config.http, config.loop, config.workers) == ("h11", "uvloop", 3)


def test_the_mock_is_served_on_the_same_stack_with_its_own_protocol() -> None:
    app = create_app(client_id="id", client_secret="secret")
    config = server_for(app).config
    assert config.http is MockProtocol
    assert issubclass(MockProtocol, HttpToolsProtocol)
    assert config.loop == "uvloop"
    assert config.timeout_graceful_shutdown == 1


def test_serve_runs_the_api_on_the_same_stack_with_one_worker() -> None:
    config = serve_server_for(FastAPI(), host="127.0.0.1", port=0).config
    assert (config.loop, config.http, config.workers) == ("uvloop", "httptools", 1)
    assert (config.access_log, config.log_config, config.server_header) == (False, None, False)
