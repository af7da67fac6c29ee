"""`agora-bridge serve` refuses an unmigrated database in one sentence (tests/api/test_server.py
runs its server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agora_bridge.cli.main import app as cli


def test_an_unmigrated_database_is_one_sentence_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'bridge.db'}")
    monkeypatch.setenv("AGORA_BRIDGE_MODE", "test")
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: database is not migrated: run `agora-bridge db upgrade`"
    )
