"""`agora-bridge sync` and `replay` as subprocesses of a test, with the mock in the test's loop
(so the subprocess runs while the mock serves: never `subprocess.run` here)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agora_bridge.storage.crypto import DEMO_NIR_INDEX_KEY
from mocks import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.storage.builders import OLD_KEY


def environment(database_url: str, mock_url: str, **sync: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "AGORA_BRIDGE_MODE": "test",
        "AGORA_BRIDGE_DATABASE_URL": database_url,
        "AGORA_BRIDGE_NIR_KEYS": OLD_KEY,
        "AGORA_BRIDGE_NIR_INDEX_KEY": DEMO_NIR_INDEX_KEY,
        "AGORA_BRIDGE_AGORA__BASE_URL": f"{mock_url}/agora/v2",
        "AGORA_BRIDGE_AGORA__CLIENT_ID": DEMO_CLIENT_ID,
        "AGORA_BRIDGE_AGORA__CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "AGORA_BRIDGE_AGORA__TIMEOUT_S": "2",
        "AGORA_BRIDGE_AGORA__MAX_RPS": "0",
        "AGORA_BRIDGE_AGORA__RETRY_ATTEMPTS": "2",
        "AGORA_BRIDGE_AGORA__RETRY_BASE_S": "0.01",
        "AGORA_BRIDGE_AGORA__RETRY_MIN_S": "0.01",
        "AGORA_BRIDGE_AGORA__RETRY_CAP_S": "0.05",
        "AGORA_BRIDGE_AGORA__RETRY_BUDGET_S": "0.5",
        "AGORA_BRIDGE_SYNC__LEASE_S": "5",
        "AGORA_BRIDGE_SYNC__INTERVAL_S": "0.1",
        "AGORA_BRIDGE_SYNC__RETRY_BASE_S": "0.05",
        "AGORA_BRIDGE_SYNC__RETRY_CAP_S": "0.5",
        "AGORA_BRIDGE_SYNC__BREAKER_PAUSE_S": "0.2",
        "AGORA_BRIDGE_SYNC__BREAKER_MAX_PAUSE_S": "0.5",
        "AGORA_BRIDGE_LOG_FORMAT": "json",
        "AGORA_BRIDGE_LOG_LEVEL": "INFO",
    }
    return env | {f"AGORA_BRIDGE_SYNC__{k.upper()}": str(v) for k, v in sync.items()}


@dataclass(frozen=True)
class Done:
    status: int
    stdout: str
    stderr: str


async def run(env: dict[str, str], *args: str, timeout_s: float = 60) -> Done:
    process = await start(env, *args)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return Done(process.returncode, stdout.decode(), stderr.decode())


async def start(
    env: dict[str, str], *args: str, log: IO[bytes] | None = None
) -> asyncio.subprocess.Process:
    pipe = asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agora_bridge",
        *args,
        env=env,
        stdout=log or pipe,
        stderr=log or pipe,
        cwd=Path(__file__).parent,
    )
