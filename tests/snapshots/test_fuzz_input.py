"""Whatever a line or a file holds, it is counted and reported, never a traceback.

Issue 6, finding 2: `validate` crashed on `{"id_dossier": "\\ud800"}`. Here any bytes, and any
JSON value in any field of a valid snapshot, go through `parse_line` and a whole file
through `preflight`: every non-blank line is a snapshot or a rejection with its number, and
`lignes` = `invalides` + `doublons` + Σ`exclus` + Σ`retenus` + `envoyables`.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import ID_DOSSIER, Snapshot
from agora_bridge.snapshots.perimeter import Perimeter, classify
from agora_bridge.snapshots.preflight import PreflightReport, preflight
from agora_bridge.snapshots.reader import HEAD_LINES, InputFileError
from agora_bridge.snapshots.validation import RULES, Rejection, parse_line
from tests.builders import TODAY, snapshot_dict, snapshot_line

PERIMETER = Perimeter(DEFAULT_EXCLUDED)
BOM = b"\xef\xbb\xbf"

# Characters of every kind, surrogates and control characters made frequent.
characters = st.characters() | st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Nd"])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.decimals(allow_nan=False, places=3).map(float)
    | st.text(characters, max_size=20)
    | st.sampled_from(["", "2019-03-04", "840", "1e3", " 840 ", "\x00", "\ud800", "A" * 300])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(characters, max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        found += [prefix + key, *_paths(value, f"{prefix}{key}.")]
    return found


# Every field, object or leaf, of a snapshot that has each step; plus a new field.
PATHS = sorted({*_paths(snapshot_dict("SOLDE")), "annulation", "nouveau", "stagiaire.nouveau"})


@st.composite
def lines_with_any_value(draw: st.DrawFn) -> str | bytes:
    step = draw(st.sampled_from(["SOLDE", "ANNULE"]))
    paths = [p for p in PATHS if step == "SOLDE" or not p.startswith(("sortie.", "solde."))]
    changes = draw(st.dictionaries(st.sampled_from(paths), json_values, min_size=1, max_size=3))
    data = snapshot_dict(step)
    for dotted, value in sorted(changes.items()):  # a parent replaced first, then its leaf
        *parents, leaf = dotted.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = value
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    # Unescaped, a surrogate becomes bytes that are not UTF-8.
    raw = text.encode("utf-8", errors="surrogatepass")
    return raw if draw(st.booleans()) else text


def check_result(result: Snapshot | Rejection) -> None:
    if isinstance(result, Snapshot):
        classify(result, PERIMETER, since=None)
        return
    assert result.erreurs
    assert {e.code for e in result.erreurs} <= set(RULES)
    assert result.id_dossier is None or ID_DOSSIER.fullmatch(result.id_dossier)
    json.dumps([result.id_dossier, [(e.champ, e.code) for e in result.erreurs]]).encode("ascii")


@settings(max_examples=300)
@given(lines_with_any_value())
def test_any_json_value_in_any_field_is_a_snapshot_or_a_rejection(line: str | bytes) -> None:
    check_result(parse_line(line, today=TODAY))


@st.composite
def mangled_lines(draw: st.DrawFn) -> bytes:
    """A valid line with arbitrary bytes put in, or arbitrary bytes alone."""
    line = snapshot_line("SOLDE").encode()
    at = draw(st.integers(0, len(line)))
    cut = draw(st.integers(0, 8))
    return draw(
        st.sampled_from([line[:at], line[at:]])
        .flatmap(lambda _: st.binary(max_size=12))
        .map(lambda junk: line[:at] + junk + line[at + cut :])
        | st.binary(max_size=200)
    )


@settings(max_examples=300)
@given(mangled_lines())
def test_any_bytes_are_a_snapshot_or_a_rejection(line: bytes) -> None:
    check_result(parse_line(line, today=TODAY))


# ---- Whole files --------------------------------------------------------------------------


def valid_lines(ident: str, version: int, nir_absent: bool) -> bytes:
    changes = {"version": version, "stagiaire.nir": None} if nir_absent else {"version": version}
    return snapshot_line("SOLDE", id_dossier=ident, **changes).encode()


def as_bytes(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.encode("utf-8", errors="surrogatepass")


file_lines = st.lists(
    st.builds(valid_lines, st.sampled_from(["A", "B", "C"]), st.integers(1, 3), st.booleans())
    | lines_with_any_value().map(as_bytes)
    | mangled_lines()
    | st.sampled_from([b"", b"  ", b"\r", b'{"id_dossier": "\\ud800"}', b"\xe9\xe8"]),
    max_size=25,
)


def physical_lines(content: bytes) -> list[tuple[int, bytes]]:
    """The non-blank lines with their numbers, as the spec counts them (a BOM starts a file)."""
    pieces = content.removeprefix(BOM).split(b"\n")
    return [(n, piece) for n, piece in enumerate(pieces, start=1) if piece.strip()]


def is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except ValueError:
        return False


def run(path: Path) -> tuple[PreflightReport, list[dict[str, Any]]]:
    with preflight(path, today=TODAY, since=None, perimeter=PERIMETER) as report:
        return report, list(report.details())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=file_lines, bom=st.booleans(), gzipped=st.booleans())
def test_every_non_blank_line_of_any_file_is_counted_once(
    lines: list[bytes], bom: bool, gzipped: bool
) -> None:
    content = (BOM if bom else b"") + b"\n".join(lines)
    expected = physical_lines(content)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("in.jsonl.gz" if gzipped else "in.jsonl")
        path.write_bytes(gzip.compress(content) if gzipped else content)
        head = [line for _, line in expected[:HEAD_LINES]]
        if head and not any(is_json_object(line) for line in head):
            try:
                run(path)
            except InputFileError:
                return
            raise AssertionError("a file with no JSON object in its head is refused")
        report, details = run(path)
    counted = report.invalides + report.doublons + report.envoyables
    counted += sum(report.exclus.values()) + sum(report.retenus.values())
    assert report.lignes == counted == len(expected)
    rejected = [detail["ligne"] for detail in details]
    assert len(rejected) == report.invalides
    assert rejected == sorted(set(rejected))
    assert set(rejected) <= {number for number, _ in expected}
