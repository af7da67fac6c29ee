from __future__ import annotations

from typing import get_args

import pytest

from agora_bridge.snapshots.model import NiveauEntree
from agora_bridge.snapshots.normalise import agora_name, below_level_iv, level_2019


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Éloïse  d'Arc-Noël", "ELOISE D'ARC-NOEL"),
        ("  Jean\tPierre ", "JEAN PIERRE"),
        ("Œdipe", "OEDIPE"),
        ("Cœur", "COEUR"),
        ("Lætitia", "LAETITIA"),
        ("ÆLFRIC", "AELFRIC"),
        ("Strauß", "STRAUSS"),
        ("STRAUẞ", "STRAUSS"),  # the capital sharp s
        ("Søren Østergaard", "SOREN OSTERGAARD"),
        ("Łukasz Wałęsa", "LUKASZ WALESA"),
        ("Đặng Văn Định", "DANG VAN DINH"),
        ("O’Brien", "O'BRIEN"),
        ("Nguyễn Văn", "NGUYEN VAN"),
        ("Smith_2 (né)", "SMITH NE"),
        ("李", ""),
        ("A" * 49 + " B", "A" * 49),
    ],
)
def test_names(raw: str, expected: str) -> None:
    assert agora_name(raw) == expected


def test_every_level_has_a_2019_code() -> None:
    for code in get_args(NiveauEntree):
        assert level_2019(code) in "12345678"


def test_names_are_at_most_50_characters() -> None:
    assert len(agora_name("X" * 80)) == 50


@pytest.mark.parametrize(
    ("code", "expected"),
    [("VI", "2"), ("Vbis", "2"), ("V", "3"), ("IV", "4"), ("III", "5"), ("II", "6"), ("I", "7")]
    + [(str(n), str(n)) for n in range(1, 9)],
)
def test_levels_map_to_2019(code: NiveauEntree, expected: str) -> None:
    assert level_2019(code) == expected


def test_below_level_iv_means_2019_level_3_or_less() -> None:
    codes: list[NiveauEntree] = ["1", "2", "3", "4", "V", "IV", "Vbis"]
    assert [c for c in codes if below_level_iv(c)] == [
        "1",
        "2",
        "3",
        "V",
        "Vbis",
    ]
