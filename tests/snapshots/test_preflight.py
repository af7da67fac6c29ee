from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.perimeter import Perimeter
from agora_bridge.snapshots.preflight import PreflightReport, preflight
from agora_bridge.snapshots.reader import MAX_LINE_BYTES, InputFileError, read_lines
from tests.builders import TODAY, snapshot_dict, snapshot_line

CUT_OFF = date(2017, 1, 1)


def write(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as out:
        for line in lines:
            out.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def run(path: Path) -> tuple[PreflightReport, list[dict[str, Any]]]:
    with preflight(
        path, today=TODAY, since=CUT_OFF, perimeter=Perimeter(DEFAULT_EXCLUDED)
    ) as report:
        return report, list(report.details())


def line(ident: str, step: str = "VALIDE", /, **changes: Any) -> str:
    return snapshot_line(step, id_dossier=ident, **changes)


BEFORE_2017 = {
    "session.date_debut": "2016-09-05",
    "session.date_fin": "2016-12-16",
    "date_validation": "2016-09-01",
}


def test_every_line_is_counted_once(tmp_path: Path) -> None:
    file = write(
        tmp_path / "in.jsonl",
        [
            line("A", "SOLDE"),
            line("B", **{"programme.categorie": "PSAD"}),
            line("C", **{"programme.interface_agora": False}),
            line("D", **BEFORE_2017),
            line("E", **{"stagiaire.nir": None}),
            line("F", **{"stagiaire.nir": "185057800608400"}),
            line("G", **{"organisme.siret": "73282932000075"}),
            line("A", "ENTRE", version=0),  # invalid: counted as invalid, not as duplicate
            line("A", "SORTI", version=2),
            "",
            "{not json",
        ],
    )
    report, _ = run(file)
    assert (report.lignes, report.invalides, report.doublons, report.envoyables) == (10, 3, 1, 1)
    assert report.exclus == {"CATEGORIE_PSAD": 1, "INTERFACE_AGORA_NON": 1, "AVANT_REPRISE": 1}
    assert report.retenus == {"NIR_ABSENT": 1, "NIR_INVALIDE": 1}
    assert report.incoherences == 1
    total = report.invalides + report.doublons + report.envoyables
    assert report.lignes == total + sum(report.exclus.values()) + sum(report.retenus.values())


def test_the_highest_version_is_classified(tmp_path: Path) -> None:
    file = write(
        tmp_path / "in.jsonl",
        [
            line("A", version=3),
            line("A", version=1, **{"stagiaire.nir": None}),
            line("A", version=2),
        ],
    )
    report, _ = run(file)
    assert (report.envoyables, report.doublons, report.retenus) == (1, 2, {})


def test_on_a_version_tie_the_first_line_wins(tmp_path: Path) -> None:
    file = write(tmp_path / "in.jsonl", [line("A", **{"stagiaire.nir": None}), line("A")])
    report, _ = run(file)
    assert (report.retenus, report.envoyables, report.doublons) == ({"NIR_ABSENT": 1}, 0, 1)


def test_rejections_carry_the_physical_line_number_and_every_reason(tmp_path: Path) -> None:
    bad = line("Z", **{"organisme.siret": "1", "stagiaire.sexe": "X"})
    file = write(
        tmp_path / "in.jsonl",
        [
            "",
            line("A", **{"stagiaire.prenom": "Éloïse"}),
            "   ",
            bad,
            b'{"id_dossier": "PDL-5", "nom": "\xe9"}',
            b'{"id_dossier": "\xe9"}',
        ],
    )
    _, details = run(file)
    assert details == [
        {
            "ligne": 4,
            "id_dossier": "Z",
            "erreurs": [
                {"champ": "stagiaire.sexe", "code": "VALEUR_INCONNUE"},
                {"champ": "organisme.siret", "code": "SIRET_INVALIDE"},
            ],
        },
        {
            "ligne": 5,
            "id_dossier": "PDL-5",
            "erreurs": [{"champ": "ligne", "code": "ENCODAGE_INVALIDE"}],
        },
        {  # only a well-formed id is reported
            "ligne": 6,
            "id_dossier": None,
            "erreurs": [{"champ": "ligne", "code": "ENCODAGE_INVALIDE"}],
        },
    ]


def test_gzip_files_are_read_as_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(line("A") + "\n" + line("B") + "\n")
    assert run(path)[0].envoyables == 2


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = write(tmp_path / "in.jsonl", [b"\xef\xbb\xbf" + line("A").encode()])
    assert run(file)[0].envoyables == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{\x00}\x00\n", "not UTF-8"),
        (b'[{"id_dossier": "A"}]\n', "not JSON Lines"),
        (b"id_dossier;version\nA;1\n", "not JSON Lines"),
    ],
)
def test_a_file_that_cannot_be_read_at_all(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        list(read_lines(path))


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        list(read_lines(tmp_path / "absent.jsonl"))


def test_a_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputFileError, match="gzip"):
        list(read_lines(path))


def test_an_empty_file_counts_nothing(tmp_path: Path) -> None:
    report, details = run(write(tmp_path / "in.jsonl", ["", "  "]))
    assert (report.lignes, report.envoyables, details) == (0, 0, [])


def test_a_bad_line_never_stops_the_file_whatever_it_holds(tmp_path: Path) -> None:
    latin_1 = json.dumps(snapshot_dict(**{"stagiaire.prenom": "Éloïse"}), ensure_ascii=False)
    bad: list[tuple[bytes, str]] = [
        (latin_1.encode("latin-1"), "ENCODAGE_INVALIDE"),  # first: never decides the file
        (b'{"id_dossier": "\\ud800"}', "ENCODAGE_INVALIDE"),
        (b'{"id_dossier": "Z", "nom": "\x00"}', "JSON_INVALIDE"),  # a raw NUL
        (b"\x00\x00\x00", "JSON_INVALIDE"),
        (b"[" * 50_000, "JSON_INVALIDE"),
        (b'{"version": 1' + b"0" * 10_000 + b"}", "JSON_INVALIDE"),
        (b"\xff" * (MAX_LINE_BYTES + 10), "LIGNE_TROP_LONGUE"),
        (b"[1, 2]", "JSON_INVALIDE"),
    ]
    lines: list[str | bytes] = []
    for index, (content, _) in enumerate(bad):
        lines += [content, line(f"OK-{index}")]
    report, details = run(write(tmp_path / "in.jsonl", lines))
    assert (report.lignes, report.invalides, report.envoyables) == (
        2 * len(bad),
        len(bad),
        len(bad),
    )
    assert [(d["ligne"], d["erreurs"]) for d in details] == [
        (2 * index + 1, [{"champ": "ligne", "code": code}]) for index, (_, code) in enumerate(bad)
    ]


def test_field_errors_of_the_new_rules_are_reported_by_line(tmp_path: Path) -> None:
    file = write(
        tmp_path / "in.jsonl",
        [
            line("A", **{"stagiaire.nom_naissance": "Du\x00pont"}),
            line("B", **{"session.duree_heures": "1_000"}),
            line("C", **{"date_validation": 20190220}),
        ],
    )
    _, details = run(file)
    assert details == [
        {
            "ligne": 1,
            "id_dossier": "A",
            "erreurs": [{"champ": "stagiaire.nom_naissance", "code": "CARACTERE_CONTROLE"}],
        },
        {
            "ligne": 2,
            "id_dossier": "B",
            "erreurs": [{"champ": "session.duree_heures", "code": "FORMAT_INVALIDE"}],
        },
        {
            "ligne": 3,
            "id_dossier": "C",
            "erreurs": [{"champ": "date_validation", "code": "DATE_INVALIDE"}],
        },
    ]
