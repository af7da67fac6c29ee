"""The ingest route's body, split into items without judging them.

A JSON array (`application/json`) or JSON Lines (`application/x-ndjson`). Each item is handed
to `parse_line` as its own text, exactly as sent, so an item is judged by the same rules as a
line of a file and a bad item never spoils the others. Only a body that cannot be split at
all (an array that is not valid JSON, not UTF-8) is refused whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agora_bridge.api.problems import ApiProblem

JSON = "application/json"
NDJSON = "application/x-ndjson"
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\n\r"
# Scans without converting: a number of 5,000 digits is left for `parse_line` to reject
# alone, instead of failing the whole array in `int()`.
_SCANNER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


class UnreadableBody(ApiProblem):
    status, code, title = 400, "CORPS_ILLISIBLE", "Corps de requête illisible"


class UnsupportedMediaType(ApiProblem):
    status, code, title = 415, "TYPE_NON_SUPPORTE", "Type de contenu non supporté"


class TooManyItems(ApiProblem):
    status, code, title = 413, "TROP_DE_DOSSIERS", "Trop de dossiers dans une requête"


@dataclass(frozen=True, slots=True)
class Item:
    index: int  # position in the body, from 0
    ligne: int | None  # JSON Lines: the physical line, from 1
    text: bytes


def split_items(body: bytes, content_type: str | None, *, max_items: int) -> list[Item]:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == NDJSON:
        items = _lines(body)
    elif media_type == JSON:
        items = _array(body)
    else:
        raise UnsupportedMediaType(f"send {JSON} (a JSON array) or {NDJSON} (JSON Lines)")
    if len(items) > max_items:
        raise TooManyItems(f"at most {max_items} snapshots a request: split the batch")
    return items


def _lines(body: bytes) -> list[Item]:
    lines = body.removeprefix(_BOM).split(b"\n")
    numbered = ((number, line.rstrip(b"\r")) for number, line in enumerate(lines, start=1))
    kept = [(number, line) for number, line in numbered if line.strip()]
    return [Item(index, number, line) for index, (number, line) in enumerate(kept)]


def _array(body: bytes) -> list[Item]:
    try:
        text = body.removeprefix(_BOM).decode("utf-8")
        return [Item(index, None, raw) for index, raw in enumerate(_elements(text))]
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UnreadableBody("the body is not a JSON array of snapshots") from None


def _elements(text: str) -> list[bytes]:
    """The raw text of each element of a JSON array; ValueError when it is not one."""
    position = _skip(text, 0)
    if not text.startswith("[", position):
        raise ValueError("not an array")
    position = _skip(text, position + 1)
    elements: list[bytes] = []
    if text.startswith("]", position):
        return _end(text, position, elements)
    while True:
        _, end = _SCANNER.raw_decode(text, position)
        elements.append(text[position:end].encode("utf-8"))
        position = _skip(text, end)
        if text.startswith("]", position):
            return _end(text, position, elements)
        if not text.startswith(",", position):
            raise ValueError("expected , or ]")
        position = _skip(text, position + 1)


def _end(text: str, position: int, elements: list[bytes]) -> list[bytes]:
    if _skip(text, position + 1) != len(text):
        raise ValueError("text after the array")
    return elements


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position
