"""When a whole file is refused, and how its lines are handed on (issue 6, finding 5)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from agora_bridge.snapshots.reader import (
    HEAD_LINES,
    MAX_LINE_BYTES,
    InputFileError,
    check_readable,
    read_lines,
)
from tests.builders import snapshot_dict, snapshot_line

GOOD = snapshot_line().encode()
LATIN_1 = json.dumps(snapshot_dict(**{"stagiaire.prenom": "Éloïse"}), ensure_ascii=False).encode(
    "latin-1"
)
BOM = b"\xef\xbb\xbf"


def test_the_latin_1_line_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        LATIN_1.decode("utf-8")


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


@pytest.mark.parametrize(
    "lines",
    [
        [LATIN_1, GOOD, GOOD],
        [GOOD, LATIN_1, GOOD],
        [GOOD, GOOD, LATIN_1],
        [LATIN_1] * 99 + [GOOD],
        [b"not json"] * 99 + [GOOD],
        [b'{"id_dossier": "\\ud800"}'],  # a JSON object, though no snapshot
        [b'{"a": 1}'],
    ],
)
def test_one_json_object_in_the_head_is_enough(tmp_path: Path, lines: list[bytes]) -> None:
    check_readable(write(tmp_path / "in.jsonl", lines))


def test_blank_lines_do_not_count_in_the_head(tmp_path: Path) -> None:
    lines = [b"not json", b"", b"   ", b"\r"] * (HEAD_LINES - 1) + [b"", GOOD]
    check_readable(write(tmp_path / "in.jsonl", lines))


def test_past_the_head_a_json_object_comes_too_late(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", [b"not json"] * HEAD_LINES + [GOOD])
    with pytest.raises(InputFileError, match="not JSON Lines"):
        check_readable(path)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([LATIN_1] * 3, "not UTF-8 text"),
        (["é;1".encode("cp1252")], "not UTF-8 text"),
        ([snapshot_line().encode("utf-16")], "not UTF-8 text"),
        ([b'[{"id_dossier": "A"}]'], "not JSON Lines"),
        ([b"id_dossier;version", b"A;1"], "not JSON Lines"),
        ([b"<dossiers>", b"</dossiers>"], "not JSON Lines"),
        ([b'"a"', b"1", b"null"], "not JSON Lines"),
    ],
)
def test_a_file_in_another_encoding_or_format(
    tmp_path: Path, lines: list[bytes], message: str
) -> None:
    with pytest.raises(InputFileError, match=message):
        check_readable(write(tmp_path / "in.jsonl", lines))


def test_a_file_with_no_line_is_read(tmp_path: Path) -> None:
    assert list(read_lines(write(tmp_path / "in.jsonl", [b"", b"  "]))) == []


def test_a_file_named_gz_must_be_gzip(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not a readable gzip file"):
        list(read_lines(write(tmp_path / "in.jsonl.gz", [GOOD])))


def test_gzip_content_under_a_plain_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(gzip.compress(GOOD + b"\n"))
    with pytest.raises(InputFileError):
        check_readable(path)


def test_an_unreadable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot be opened"):
        list(read_lines(tmp_path))  # a directory


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_byte_order_mark_at_the_start_is_ignored(tmp_path: Path, suffix: str) -> None:
    content = BOM + b"\n" + GOOD + b"\n"
    path = tmp_path / f"in{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    assert list(read_lines(path)) == [(2, GOOD)]


def test_a_byte_order_mark_elsewhere_stays(tmp_path: Path) -> None:
    lines = list(read_lines(write(tmp_path / "in.jsonl", [GOOD, BOM + GOOD])))
    assert lines == [(1, GOOD), (2, BOM + GOOD)]


def test_lines_come_with_their_physical_number_and_without_their_break(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\r\n" + GOOD + b"\r\n\n" + LATIN_1 + b"\n  \n" + GOOD)  # no final break
    assert list(read_lines(path)) == [(2, GOOD), (4, LATIN_1), (6, GOOD)]


def test_an_overlong_line_is_cut_and_the_next_line_read(tmp_path: Path) -> None:
    long = b"x" * (3 * MAX_LINE_BYTES)
    just_fits = b"y" * MAX_LINE_BYTES
    lines = list(read_lines(write(tmp_path / "in.jsonl", [GOOD, long, just_fits, GOOD])))
    assert [(number, len(line)) for number, line in lines] == [
        (1, len(GOOD)),
        (2, MAX_LINE_BYTES + 1),  # enough to tell it is too long, no more held in memory
        (3, MAX_LINE_BYTES),
        (4, len(GOOD)),
    ]


def test_a_file_named_gz_in_capitals_is_read_as_gzip(tmp_path: Path) -> None:
    path = tmp_path / "EXPORT.JSONL.GZ"
    path.write_bytes(gzip.compress(GOOD + b"\n"))
    assert [number for number, _ in read_lines(path)] == [1]
