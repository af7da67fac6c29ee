"""Splitting an ingest body into items: every item exactly as sent, whatever it holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.api.bodies import (
    JSON,
    NDJSON,
    TooManyItems,
    UnreadableBody,
    UnsupportedMediaType,
    split_items,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
separators = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])


@given(st.lists(json_values, max_size=8), separators, st.booleans())
def test_an_array_splits_into_its_elements_as_sent(
    values: list[Any], separator: tuple[str, str], ascii_only: bool
) -> None:
    body = json.dumps(values, separators=separator, ensure_ascii=ascii_only).encode()
    items = split_items(b"\xef\xbb\xbf \n" + body + b"\n", JSON, max_items=1000)
    assert [json.loads(item.text) for item in items] == values
    assert [item.index for item in items] == list(range(len(values)))
    assert all(item.ligne is None for item in items)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r")), max_size=8))
def test_json_lines_keep_every_non_blank_line_and_its_number(lines: list[str]) -> None:
    encoded = [line.encode("utf-8", errors="surrogatepass") for line in lines]
    items = split_items(b"\n".join(encoded), f"{NDJSON}; charset=utf-8", max_items=1000)
    # Blank as the file reader judges it: ASCII white space only.
    expected = [(n, line) for n, line in enumerate(encoded, start=1) if line.strip()]
    assert [(item.ligne, item.text) for item in items] == expected
    assert [item.index for item in items] == list(range(len(expected)))


@pytest.mark.parametrize(
    "body", [b"", b"{}", b"[1,]", b"[1 2]", b"[1] [2]", b"\xff", b"[" * 50_000 + b"]" * 50_000]
)
def test_what_is_not_one_json_array_is_unreadable(body: bytes) -> None:
    with pytest.raises(UnreadableBody):
        split_items(body, JSON, max_items=1000)


def test_a_huge_number_is_left_to_its_item() -> None:
    (item,) = split_items(b"[" + b"9" * 10_000 + b"]", JSON, max_items=1000)
    assert item.text == b"9" * 10_000


def test_the_item_count_and_the_media_type_are_checked() -> None:
    with pytest.raises(TooManyItems):
        split_items(b"[1,2,3]", JSON, max_items=2)
    with pytest.raises(TooManyItems):
        split_items(b"1\n2\n3", NDJSON, max_items=2)
    with pytest.raises(UnsupportedMediaType):
        split_items(b"[]", "text/plain", max_items=2)
    with pytest.raises(UnsupportedMediaType):
        split_items(b"[]", None, max_items=2)
