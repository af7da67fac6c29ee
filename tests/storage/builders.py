"""Typed builders for the storage tests: each test states the values it cares about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_key
from agora_bridge.storage.crypto import DEMO_NIR_INDEX_KEY, KeyRing, NirCrypto, decode_key
from tests import builders

NIR_BODY, NIR = builders.NIR_BODY, builders.NIR  # a man born in May 1985
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

# Two test keys, "old" then "new", neither of them the demo key.
OLD_KEY = "old:" + "A" * 42 + "Q"
NEW_KEY = "new:" + "B" * 42 + "Q"
# A key some rows were encrypted under, then dropped from the configuration.
GONE_KEY = "gone:" + "D" * 42 + "Q"


def nir(order: int) -> str:
    """A valid NIR of the same man per order number (1..999), for dossiers that differ."""
    body = f"1850578006{order:03d}"
    return body + nir_key(body)


def crypto(keys: str = OLD_KEY) -> NirCrypto:
    return NirCrypto(KeyRing.parse(keys), decode_key(DEMO_NIR_INDEX_KEY, setting="test"))


def snapshot(
    *, id_dossier: str = "PDL-TEST-1", version: int = 1, nir: str | None = NIR, **changes: Any
) -> Snapshot:
    """The suite's valid snapshot (`tests.builders`), with the fields storage tests vary."""
    return builders.snapshot(
        "VALIDE", id_dossier=id_dossier, version=version, **{"stagiaire.nir": nir}, **changes
    )
