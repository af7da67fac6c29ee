"""Behaviour that survivors of the mutation run on main after issue 6 showed unpinned (finding 12).

Each test states the rule it holds (`region-input.md`, `docs/ARCHITECTURE.md`), not the code
that happens to implement it; the mutant it kills is named for the next mutation run.
"""

from __future__ import annotations

import gzip
import os
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.reader import (
    MAX_LINE_BYTES,
    InputFileError,
    check_readable,
    read_lines,
)
from agora_bridge.snapshots.validation import FieldError, Rejection, paris_today, parse_line
from tests.builders import TODAY, snapshot_dict, snapshot_line

GOOD = snapshot_line().encode()
TOO_LONG = Rejection(None, (FieldError("ligne", "LIGNE_TROP_LONGUE"),))


def padded(size: int) -> bytes:
    """A valid snapshot line of exactly `size` bytes: white space inside the object."""
    return GOOD[:-1] + b" " * (size - len(GOOD)) + b"}"


# The reader's messages: one sentence for the operator, naming the file and, when lines were
# already handed on, the last of them (`_unreadable`, `read_lines`).


def test_a_plain_file_that_cannot_be_read_is_not_called_gzip() -> None:
    unreadable = Path("/proc/self/mem")  # Linux (CI's system): opens, but reading fails (EIO)
    with pytest.raises(InputFileError) as refused:
        check_readable(unreadable)
    assert str(refused.value) == f"{unreadable}: cannot be read"


def test_a_gz_file_that_is_not_gzip_says_so_and_no_line_number(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(GOOD + b"\n")
    with pytest.raises(InputFileError) as refused:
        list(read_lines(path))
    assert str(refused.value) == f"{path}: not a readable gzip file"


def test_a_gzip_file_broken_past_its_head_names_the_last_line_handed_on(tmp_path: Path) -> None:
    # Incompressible lines, so that the cut lands well past the first 100 lines.
    lines = [snapshot_line(**{"action.intitule": os.urandom(300).hex()}) for _ in range(600)]
    whole = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    handed_on: list[int] = []
    with pytest.raises(InputFileError) as refused:
        handed_on.extend(number for number, _ in read_lines(path))
    assert 100 < len(handed_on) < 600
    assert str(refused.value) == f"{path}: not a readable gzip file after line {handed_on[-1]}"


# Over-long lines: past 1 MiB a line is `LIGNE_TROP_LONGUE`, and the reader holds at most
# about that much of it (`docs/ARCHITECTURE.md`, "Bad lines").


def test_a_line_of_exactly_the_limit_is_read() -> None:
    assert isinstance(parse_line(padded(MAX_LINE_BYTES), today=TODAY), Snapshot)
    assert parse_line(padded(MAX_LINE_BYTES + 1), today=TODAY) == TOO_LONG


def test_trailing_white_space_does_not_shorten_an_over_long_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b" " * MAX_LINE_BYTES + b"\n" + GOOD + b"\n")
    parsed = [(number, parse_line(line, today=TODAY)) for number, line in read_lines(path)]
    assert parsed[0] == (1, TOO_LONG)
    assert parsed[1][0] == 2
    assert isinstance(parsed[1][1], Snapshot)


def test_the_reader_does_not_hold_a_huge_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"x" * (32 * MAX_LINE_BYTES) + b"\n" + GOOD + b"\n")
    tracemalloc.start()
    try:
        numbers = [number for number, _ in read_lines(path)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert numbers == [1, 2]
    # A few copies of the MiB it keeps (the head check decodes it too), never the 32 MiB.
    assert peak < 8 * MAX_LINE_BYTES


# Hours and dates given as Python values (the builders, any caller of `Snapshot.model_validate`)
# follow the same rules as JSON text: at most 2 decimals, dates as dates.


def hours_error(hours: object) -> list[tuple[tuple[str | int, ...], str]]:
    try:
        Snapshot.model_validate(snapshot_dict(**{"session.duree_heures": hours}))
    except ValidationError as exc:
        return [(error["loc"], error["type"]) for error in exc.errors()]
    return []


@pytest.mark.parametrize("hours", [Decimal("812.125"), Decimal("812.500"), 812.125, 0.1 + 0.2])
def test_python_hours_with_more_than_2_decimals_are_invalid(hours: object) -> None:
    assert hours_error(hours) == [(("session", "duree_heures"), "FORMAT_INVALIDE")]


@pytest.mark.parametrize("hours", [Decimal("812.12"), Decimal("812.5"), 812.5, 812, Decimal(812)])
def test_python_hours_with_at_most_2_decimals_are_valid(hours: object) -> None:
    assert hours_error(hours) == []


def test_python_dates_are_dates() -> None:
    data = snapshot_dict(
        date_validation=date(2019, 2, 20), **{"session.date_fin": date(2019, 9, 27)}
    )
    snapshot = Snapshot.model_validate(data)
    assert (snapshot.date_validation, snapshot.session.date_fin) == (
        date(2019, 2, 20),
        date(2019, 9, 27),
    )


def test_a_python_datetime_is_not_a_date() -> None:
    with pytest.raises(ValidationError) as invalid:
        Snapshot.model_validate(snapshot_dict(date_validation=datetime(2019, 2, 20)))
    assert [(e["loc"], e["type"]) for e in invalid.value.errors()] == [
        (("date_validation",), "DATE_INVALIDE")
    ]


# "Today" is the Région's day, in Europe/Paris, whatever the machine's time zone.


@pytest.fixture
def machine_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.undo()
    time.tzset()


# Twenty-six hours apart: at any instant one of the two is on another day than Paris.
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
@pytest.mark.usefixtures("machine_zone")
def test_today_is_the_paris_day(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    paris = ZoneInfo("Europe/Paris")
    before = datetime.now(paris).date()
    today = paris_today()
    assert today in {before, datetime.now(paris).date()}
