"""Lot lines built in a pool of processes equal those built here, in the rows' order; the
acknowledged state built with a line equals the one a restored lot decodes from its body
(`delivery/acknowledged.py`'s encoding); each lot's line outcomes are anchored in the ledger
and a changed outcome is found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from sqlalchemy import select, update

from agora_bridge.agora.mapping import from_lot_line, lot_line
from agora_bridge.backfill import audit
from agora_bridge.backfill.building import (
    CHUNK,
    Builder,
    Built,
    ReadingRules,
    StoredRow,
    ack,
    build,
)
from agora_bridge.decision.planner import project
from agora_bridge.delivery import acknowledged
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.perimeter import SENDABLE, Classement, classify
from agora_bridge.snapshots.reader import read_lines
from agora_bridge.snapshots.validation import Rejection
from agora_bridge.storage import identity
from agora_bridge.storage.dossiers import Sealed, seal
from agora_bridge.storage.ingest import ValidLine
from agora_bridge.storage.models import LotReprise
from agora_bridge.synthetic import CUTOFF
from tests.agora.test_sendable_bodies import parse
from tests.backfill.cases import every_case_file
from tests.backfill.harness import PERIMETER, backfill, newest
from tests.builders import TODAY
from tests.contracts.validate import validate_lot_line
from tests.delivery.harness import CODE_FINANCEUR, CRYPTO, delivery
from tests.strategies import sendable_snapshot_dicts


def sendable(path: Path) -> list[Snapshot]:
    found = newest(path).values()
    return [s for s in found if classify(s, PERIMETER, since=CUTOFF) == SENDABLE]


def stored(snapshot: Snapshot) -> StoredRow:
    columns = identity.snapshot_columns(snapshot, CRYPTO)
    return StoredRow(
        snapshot.id_dossier,
        Classement.ENVOYABLE,
        json.loads(columns["payload"]),
        columns["identite_key_id"],
        columns["identite_ciphertext"],
    )


async def test_a_pool_builds_what_this_process_builds_in_order(tmp_path: Path) -> None:
    snapshots = sendable(every_case_file(tmp_path, dossiers=300))
    rows = [stored(s) for s in snapshots] * (2 * CHUNK // len(snapshots) + 1)  # > 2 chunks
    here = Builder(CRYPTO, CODE_FINANCEUR)
    pool = Builder(CRYPTO, CODE_FINANCEUR, workers=2)
    try:
        assert await pool.build_all(rows) == await here.build_all(rows)
    finally:
        pool.close()


async def test_the_acknowledged_state_is_the_one_decoded_from_the_line(tmp_path: Path) -> None:
    snapshots = sendable(every_case_file(tmp_path, dossiers=100))
    built = await Builder(CRYPTO, CODE_FINANCEUR).build_all([stored(s) for s in snapshots])
    lines = [b for b in built if isinstance(b, Built)]
    assert len(lines) > 50
    for line in lines:
        state = from_lot_line(line.line)
        assert line.ack.acquitte_dict() == acknowledged.encode(state)
        assert line.ack == ack(state, CRYPTO)  # a restored lot's
        assert line.ack.titulaire_index == acknowledged.digest(state.titulaire, CRYPTO)
        assert line.ack.statut == state.statut.value


async def test_each_lot_is_anchored_and_a_changed_outcome_is_found(
    database_url: str, tmp_path: Path
) -> None:
    path = every_case_file(tmp_path, dossiers=120)
    async with delivery(database_url) as bridge:
        report = await backfill(bridge, path, lot_size=50)
        assert report.lots >= 2
        async with bridge.sessions() as session:
            assert await audit.tampered(session) == []
            lot = (await session.scalars(select(LotReprise).order_by(LotReprise.numero))).first()
        assert lot is not None
        id_dossier = lot.dossiers[0][0]
        async with bridge.sessions() as session:
            [line] = await audit.lines_of(session, id_dossier)
        assert (line.cle, line.ligne, line.resultat, line.anchored) == (lot.cle, 1, "ACCEPTE", True)

        changed = [[*lot.dossiers[0][:3], "REJETE", "X"], *lot.dossiers[1:]]
        async with bridge.sessions() as session, session.begin():
            statement = update(LotReprise).where(LotReprise.cle == lot.cle)
            await session.execute(statement.values(dossiers=changed))
        async with bridge.sessions() as session:
            assert await audit.tampered(session) == [lot.cle]
            [line] = await audit.lines_of(session, id_dossier)
        assert (line.resultat, line.anchored) == ("REJETE", False)
        assert await bridge.ledger_intact()  # the chain itself is whole: the digest tells


async def test_a_pool_reads_lines_as_the_ingest_would_in_file_order(tmp_path: Path) -> None:
    path = every_case_file(tmp_path, dossiers=1500)  # several chunks, invalid lines among them
    rules = ReadingRules(TODAY, PERIMETER, CUTOFF)
    pool = Builder(CRYPTO, CODE_FINANCEUR, workers=2)
    try:
        pooled = list(pool.read(read_lines(path), rules))
    finally:
        pool.close()
    here = list(Builder(CRYPTO, CODE_FINANCEUR).read(read_lines(path), rules))
    assert [number for number, _ in pooled] == [number for number, _ in here]
    assert any(isinstance(parsed, Rejection) for _, parsed in here)
    for (number, read), (_, parsed) in zip(pooled, here, strict=True):
        if isinstance(parsed, Rejection):
            assert read == parsed
            continue
        assert isinstance(read, ValidLine)
        assert isinstance(parsed, Snapshot)
        assert read.ligne == number
        assert read.classification == classify(parsed, PERIMETER, since=CUTOFF)
        assert isinstance(read.snapshot, Sealed)
        expected = seal(parsed, CRYPTO)
        assert (read.snapshot.id_dossier, read.snapshot.version, read.snapshot.date_maj) == (
            expected.id_dossier,
            expected.version,
            expected.date_maj,
        )
        columns, wanted = dict(read.snapshot.columns), dict(expected.columns)
        ciphertext = columns.pop("identite_ciphertext")
        other = wanted.pop("identite_ciphertext")  # a fresh nonce each time: compared in clear
        assert columns == wanted
        key_id = columns["identite_key_id"]
        clear = identity.decrypt(parsed.id_dossier, key_id, ciphertext, CRYPTO)
        assert clear == identity.decrypt(parsed.id_dossier, key_id, other, CRYPTO)


async def test_a_line_and_its_acknowledged_state_are_their_models_json(tmp_path: Path) -> None:
    """The line is serialised once and the acknowledged state cut from it: both read back as
    pydantic's own JSON of the line and of `acknowledged.encode`."""
    snapshots = sendable(every_case_file(tmp_path, dossiers=100))
    built = await Builder(CRYPTO, CODE_FINANCEUR).build_all([stored(s) for s in snapshots])
    for snapshot, line in zip(snapshots, built, strict=True):
        if not isinstance(line, Built):
            continue
        model = lot_line(project(snapshot), code_financeur=CODE_FINANCEUR)
        assert json.loads(line.line) == json.loads(model.model_dump_json())
        assert json.loads(line.ack.acquitte) == acknowledged.encode(project(snapshot))


def _strict(text: bytes | str) -> Any:
    """JSON as AGORA reads it: a key twice (a part put back over one left in) is an error."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        assert len(keys) == len(set(keys)), f"a key twice: {sorted(keys)}"
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sendable_snapshot_dicts())
def test_whatever_a_snapshot_holds_its_line_is_its_models_json(data: dict[str, Any]) -> None:
    """Escaping, non-ASCII text, nulls, certifications, every final stage (cancellations
    included): the line serialised once, its parts put back as text, reads as pydantic's JSON
    of the line, on one line; its acknowledged state as `acknowledged.encode`, byte for byte
    the one a restored lot computes."""
    snapshot = parse(data)
    assert snapshot is not None
    built = build(stored(snapshot), CODE_FINANCEUR, CRYPTO, TODAY)
    if not isinstance(built, Built):
        return  # held (a cancellation after an exit): no line
    state = project(snapshot)
    model = lot_line(state, code_financeur=CODE_FINANCEUR)
    assert len(built.line.splitlines()) == 1  # NDJSON: one line a dossier
    assert _strict(built.line) == json.loads(model.model_dump_json())
    validate_lot_line(_strict(built.line))
    assert _strict(built.ack.acquitte) == acknowledged.encode(state)
    assert built.ack == ack(state, CRYPTO)
    assert from_lot_line(built.line) == state
