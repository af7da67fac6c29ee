"""Streaming reader of snapshot files: JSON Lines, plain or gzip, any size.

A bad line never stops a file (`region-input.md`): the reader hands every non-blank line on,
whatever it holds, and `validation.parse_line` rejects it. The whole file is refused only
when it cannot be read, is not gzip although named `.gz`, or none of its first
`HEAD_LINES` non-blank lines is a UTF-8 JSON object (another encoding or format).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from agora_bridge.errors import OperatorError

HEAD_LINES = 100
# A snapshot is about 1 KB; past this a line is rejected unread (`LIGNE_TROP_LONGUE`), so
# that one line without a line break cannot fill the memory.
MAX_LINE_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_READ_ERRORS = (OSError, EOFError, zlib.error)


class InputFileError(OperatorError):
    """The file cannot be read at all; the message is one sentence for the operator."""


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be opened ({exc.strerror})") from None
    with raw:
        if _is_gzip_name(path):
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # GzipFile is a binary stream
        else:
            yield raw


def check_readable(path: Path) -> None:
    """Refuse, before anything is written, a file that is not UTF-8 JSON Lines at all.

    One UTF-8 JSON object among the first non-blank lines is enough: where the bad lines
    stand must not decide whether the file is read. A file with no line at all is read (an
    empty export counts nothing).
    """
    try:
        with _open(path) as stream:
            head = [line for _, line in islice(_non_blank_lines(stream), HEAD_LINES)]
    except _READ_ERRORS:
        raise InputFileError(_unreadable(path)) from None
    if not head or any(_is_json_object(line) for line in head):
        return
    if not any(is_utf8(line) for line in head):
        raise InputFileError(f"{path}: not UTF-8 text")
    raise InputFileError(f"{path}: not JSON Lines (one JSON object per line)")


def _unreadable(path: Path, after: int | None = None) -> str:
    what = "not a readable gzip file" if _is_gzip_name(path) else "cannot be read"
    return f"{path}: {what}" + (f" after line {after}" if after is not None else "")


def _is_json_object(line: bytes) -> bool:
    # The standard library accepts a lone surrogate escape: such a line is a JSON object in
    # the file's format, which `parse_line` rejects on its own.
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except (ValueError, RecursionError):
        return False


def is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(physical line number from 1, line) for each non-blank line, read as a stream.

    The line break is left out; a line longer than `MAX_LINE_BYTES` comes cut just past it.
    """
    check_readable(path)
    with _open(path) as stream:
        lines = _non_blank_lines(stream)
        number = 0
        try:
            for number, line in lines:
                yield number, line
        except _READ_ERRORS:
            raise InputFileError(_unreadable(path, after=number)) from None


def _non_blank_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(_bounded_lines(stream), start=1):
        if number == 1:
            line = line.removeprefix(_BOM)  # noqa: PLW2901 (a BOM only starts the file)
        if line.strip():
            yield number, line


def _bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Each physical line without its break, cut after `MAX_LINE_BYTES + 1` bytes."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if not line.endswith(b"\n"):
            _skip_rest_of_line(stream)
        yield line.rstrip(b"\r\n")


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
        pass


def _is_gzip_name(path: Path) -> bool:
    # `EXPORT.JSONL.GZ` from a Windows share is gzip too.
    return path.suffix.lower() == ".gz"
