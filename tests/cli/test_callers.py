"""`agora-bridge orgs …` and `keys …` on a SQLite file, as an operator runs them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agora_bridge.api.auth import KeyAuthenticator
from agora_bridge.cli.main import app
from agora_bridge.storage.callers import Role, StructureType
from agora_bridge.storage.db import make_engine, make_sessionmaker
from tests.builders import SIRET


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.db"
    monkeypatch.setenv("AGORA_BRIDGE_DATABASE_URL", f"sqlite:///{path}")
    assert run("db", "upgrade").exit_code == 0
    return path


def run(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments))


def last_line(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


async def _caller(path: Path, key: str) -> tuple[Role, str | None, str | None] | None:
    engine = make_engine(f"sqlite:///{path}")
    try:
        caller = await KeyAuthenticator(make_sessionmaker(engine), ttl_s=0).caller(key)
    finally:
        await engine.dispose()
    return None if caller is None else (caller.role, caller.siret, caller.structure_code)


def test_an_organisme_and_its_key(database: Path) -> None:
    org = last_line(run("orgs", "add", "--nom", "OF", "--role", "ORGANISME", "--siret", SIRET))
    key = last_line(run("keys", "create", "--org", org))
    assert asyncio.run(_caller(database, key)) == (Role.ORGANISME, SIRET, None)
    with sqlite3.connect(database) as connection:
        dump = "\n".join(connection.iterdump())
    assert key.split("_", 2)[2] not in dump  # only the hash is stored


def test_a_prescripteur_with_the_long_option_names(database: Path) -> None:
    org = last_line(
        run(
            "orgs",
            "add",
            "--name",
            "Mission locale Nantes",
            "--role",
            "PRESCRIPTEUR",
            "--structure-code",
            "ML-44-01",
            "--structure-type",
            StructureType.MISSION_LOCALE.value,
        )
    )
    key = last_line(run("keys", "create", "--org", org))
    assert asyncio.run(_caller(database, key)) == (Role.PRESCRIPTEUR, None, "ML-44-01")
    listing = run("orgs", "list")
    assert "Mission locale Nantes" in listing.stdout
    assert "ML-44-01" in listing.stdout


@pytest.mark.parametrize("by", ["key", "id"])
def test_revoke_by_the_key_or_its_id(database: Path, by: str) -> None:
    org = last_line(run("orgs", "add", "--nom", "SI", "--role", "REGION_SI"))
    key = last_line(run("keys", "create", "--org", org))
    key_id = key.split("_")[1]
    revoked = run("keys", "revoke", key if by == "key" else key_id)
    assert last_line(revoked) == f"key {key_id} revoked"
    assert key not in revoked.output
    assert asyncio.run(_caller(database, key)) is None


@pytest.mark.parametrize(
    ("arguments", "sentence"),
    [
        (("orgs", "add", "--nom", "OF", "--role", "ORGANISME"), "SIRET"),
        (("orgs", "add", "--nom", "OF", "--role", "ORGANISME", "--siret", "1" * 14), "SIRET"),
        (("orgs", "add", "--nom", "ML", "--role", "PRESCRIPTEUR", "--code", "X"), "--type"),
        (("keys", "create", "--org", "nobody"), "no organisation with id nobody"),
        (("keys", "revoke", "agb_000000000000_x"), "no such API key"),
    ],
)
def test_bad_requests_are_one_sentence_exit_2(
    database: Path, arguments: tuple[str, ...], sentence: str
) -> None:
    result = run(*arguments)
    assert result.exit_code == 2
    # The last line of stderr (the log goes there too): one sentence.
    error = result.stderr.splitlines()[-1]
    assert error.startswith("Error: ")
    assert sentence in error
    assert "Traceback" not in result.output
