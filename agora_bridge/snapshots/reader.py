"""Streaming reader of snapshot files: JSON Lines, plain or gzip, any size."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from agora_bridge.errors import OperatorError

_SNIFF_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"


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
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # GzipFile is a binary stream
        else:
            yield raw


def check_readable(path: Path) -> None:
    """Refuse, before anything is written, a file that is not UTF-8 JSON Lines at all.

    Judged on the first 64 KiB: a file whose non-ASCII lines are mostly not UTF-8 is in
    another encoding (one corrupt line among good ones is only a bad line), and the first
    non-blank line must open a JSON object (a JSON array, a CSV, an XML export is a wrong
    file, not a bad line).
    """
    with _open(path) as stream:
        head = _read_head(path, stream)
    lines = head.splitlines()[:-1] or head.splitlines()  # the last one may be cut short
    non_ascii = [line for line in lines if not line.isascii()]
    undecodable = sum(1 for line in non_ascii if not is_utf8(line))
    if undecodable > len(non_ascii) - undecodable:
        raise InputFileError(f"{path}: not UTF-8 text")
    first = next((line.strip() for line in lines if line.strip()), b"")
    if first and not first.removeprefix(_BOM).startswith(b"{"):
        raise InputFileError(f"{path}: not JSON Lines (one JSON object per line)")


def is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_head(path: Path, stream: BinaryIO) -> bytes:
    try:
        return stream.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error):
        raise InputFileError(f"{path}: not a readable gzip file") from None


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(physical line number from 1, line) for each non-blank line, read as a stream."""
    check_readable(path)
    with _open(path) as stream:
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line.removeprefix(_BOM) if number == 1 else line
        except (OSError, EOFError, zlib.error):
            raise InputFileError(f"{path}: unreadable after line {number}") from None
