"""The hash chain, pure: canonical bytes, and what `verify` names when the chain is broken."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from agora_bridge.ledger.chain import GENESIS, Chained, Entry, canonical, entry_hash, verify

T0 = datetime(2026, 11, 27, 8, 30, 0, 123456, tzinfo=UTC)


def entry(number: int) -> Entry:
    return Entry(
        recorded_at=T0 + timedelta(seconds=number),
        kind="agora.outcome",
        id_dossier=f"PDL-{number}",
        version=number,
        operation="Entrer",
        request_id="0b6e6c1e-7d52-4a55-a6a0-2f1b0d1c9e01",
        http_status=200,
    )


def chain_of(entries: list[Entry]) -> list[Chained]:
    links, prev = [], GENESIS
    for number, item in enumerate(entries, start=1):
        digest = entry_hash(item, prev)
        links.append(Chained(number, item, prev, digest))
        prev = digest
    return links


def test_the_canonical_encoding_is_sorted_compact_ascii_json_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    item = Entry(
        recorded_at=T0.astimezone(paris), kind="dossier.hold", id_dossier="PDL-é", code="X"
    )
    assert canonical(item, GENESIS) == (
        b'{"body_digest":null,"code":"X","http_status":null,"id_dossier":"PDL-\\u00e9",'
        b'"kind":"dossier.hold","operation":null,"prev_hash":"' + GENESIS.encode() + b'",'
        b'"recorded_at":"2026-11-27T08:30:00.123456+00:00","request_id":null,"version":null}'
    )
    assert entry_hash(item, GENESIS) == hashlib.sha256(canonical(item, GENESIS)).hexdigest()


def test_each_instant_is_encoded_as_its_own_whatever_was_encoded_before() -> None:
    """The instant's text is cached (entries appended together share it): the same instant
    in another zone gives the same text, and the next microsecond its own."""
    paris = timezone(timedelta(hours=1))
    later = T0 + timedelta(microseconds=1)
    texts = [
        canonical(Entry(recorded_at=at, kind="dossier.hold"), GENESIS)
        for at in (T0, T0.astimezone(paris), later, T0)
    ]
    assert texts[0] == texts[1] == texts[3]
    assert b'"recorded_at":"2026-11-27T08:30:00.123457+00:00"' in texts[2]


def test_the_hash_covers_every_field_and_the_previous_hash() -> None:
    base = entry(1)
    variants = [
        replace(base, recorded_at=base.recorded_at + timedelta(microseconds=1)),
        replace(base, kind="agora.attempt"),
        replace(base, id_dossier="PDL-2"),
        replace(base, version=2),
        replace(base, operation="Sortir"),
        replace(base, request_id=None),
        replace(base, http_status=409),
        replace(base, code="DATE_FUTURE"),
        replace(base, body_digest="ab" * 32),
    ]
    hashes = {entry_hash(variant, GENESIS) for variant in variants}
    assert len(hashes) == len(variants)
    assert entry_hash(base, GENESIS) not in hashes
    assert entry_hash(base, GENESIS) != entry_hash(base, "f" * 64)


def test_an_intact_chain_verifies_with_its_count_and_head() -> None:
    links = chain_of([entry(n) for n in range(1, 6)])
    verdict = verify(links)
    assert verdict.intact
    assert (verdict.entries, verdict.head, verdict.broken_at) == (5, links[-1].hash, None)
    assert verify([]).intact
    assert verify([]).head == GENESIS


def test_an_altered_entry_is_named() -> None:
    links = chain_of([entry(n) for n in range(1, 6)])
    links[2] = replace(links[2], entry=replace(links[2].entry, http_status=500))
    verdict = verify(links)
    assert not verdict.intact
    assert verdict.broken_at == 3
    assert verdict.reason is not None
    assert "altered" in verdict.reason


def test_a_deleted_entry_is_named_by_the_one_after_it() -> None:
    links = chain_of([entry(n) for n in range(1, 6)])
    del links[1]
    verdict = verify(links)
    assert (verdict.intact, verdict.broken_at, verdict.entries) == (False, 3, 1)


def test_an_inserted_entry_is_named() -> None:
    links = chain_of([entry(n) for n in range(1, 6)])
    forged = Chained(99, entry(99), links[1].hash, entry_hash(entry(99), links[1].hash))
    links.insert(2, forged)
    verdict = verify(links)
    assert (verdict.intact, verdict.broken_at) == (False, 3)


def test_an_anchor_must_be_on_the_chain() -> None:
    links = chain_of([entry(n) for n in range(1, 6)])
    assert verify(links, anchor=links[2].hash).intact
    cut = verify(links[:2], anchor=links[2].hash)
    assert not cut.intact
    assert cut.broken_at is None
    assert cut.reason is not None
    assert "anchored head" in cut.reason
