"""The Pacte's indicators, pure: which snapshots are entries, the breakdowns, the index."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agora_bridge.pacte import Entry, Tally, entry_of, index, report
from tests.builders import snapshot_dict


def payload(step: str, **changes: Any) -> dict[str, Any]:
    return snapshot_dict(step, **changes)


def test_an_entry_is_a_dated_entry_that_was_not_cancelled() -> None:
    assert entry_of(payload("VALIDE")) is None
    assert entry_of(payload("ANNULE", date_entree="2019-03-04")) is None
    assert entry_of(payload("SOLDE")) == Entry(2019, "VISA_METIERS", "44", below_iv=True)
    assert entry_of(payload("ENTRE", date_entree="2024-12-31")) == Entry(
        2024, "VISA_METIERS", "44", below_iv=True
    )


def test_below_level_iv_is_a_2019_level_of_3_or_less_in_either_nomenclature() -> None:
    below = {"1", "2", "3", "VI", "Vbis", "V"}
    for niveau in (
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "VI",
        "Vbis",
        "V",
        "IV",
        "III",
        "II",
        "I",
    ):
        entry = entry_of(payload("ENTRE", **{"stagiaire.niveau_entree": niveau}))
        assert entry is not None
        assert entry.below_iv is (niveau in below), niveau


def test_the_index_is_2017_equal_100_rounded_half_up_to_one_decimal() -> None:
    assert index(1, 16) == 6.3  # 6.25: half up, not to even
    assert index(2, 3) == 66.7
    assert index(1, 3) == 33.3
    assert index(150, 100) == 150.0
    assert index(0, 7) == 0.0
    assert index(5, 0) is None


def test_the_report_has_every_year_since_2017_and_counts_each_breakdown() -> None:
    counts = Tally()
    for entry in (
        Entry(2017, "VISA_METIERS", "44", below_iv=True),
        Entry(2017, "PREPA_AVENIR", "85", below_iv=False),
        Entry(2019, "VISA_METIERS", "44", below_iv=True),
        Entry(2019, "VISA_METIERS", "49", below_iv=True),
        Entry(2019, "VISA_METIERS", "49", below_iv=False),
        Entry(2016, "VISA_METIERS", "44", below_iv=True),
    ):
        counts.add(entry)

    result = report(counts, last_year=2020)

    assert result["entrees_avant_2017"] == 1
    assert result["total"] == [
        {"annee": 2017, "entrees": 2, "entrees_infra_iv": 1, "indice_2017": 100.0,
         "indice_2017_infra_iv": 100.0},
        {"annee": 2018, "entrees": 0, "entrees_infra_iv": 0, "indice_2017": 0.0,
         "indice_2017_infra_iv": 0.0},
        {"annee": 2019, "entrees": 3, "entrees_infra_iv": 2, "indice_2017": 150.0,
         "indice_2017_infra_iv": 200.0},
        {"annee": 2020, "entrees": 0, "entrees_infra_iv": 0, "indice_2017": 0.0,
         "indice_2017_infra_iv": 0.0},
    ]  # fmt: skip
    by_departement = {(row["departement"], row["annee"]): row for row in result["par_departement"]}
    assert by_departement["49", 2019]["entrees"] == 2
    assert by_departement["49", 2019]["indice_2017"] is None  # no 2017 entry in the 49
    assert by_departement["85", 2019]["indice_2017"] == 0.0
    assert [row["dispositif"] for row in result["par_dispositif"]] == ["PREPA_AVENIR"] * 4 + [
        "VISA_METIERS"
    ] * 4


def test_an_empty_store_reports_zero_entries_and_no_index() -> None:
    result = report(Tally(), last_year=2018)
    assert [row["entrees"] for row in result["total"]] == [0, 0]
    assert {row["indice_2017"] for row in result["total"]} == {None}
    assert result["par_dispositif"] == result["par_departement"] == []


entries = st.builds(
    Entry,
    st.integers(2015, 2026),
    st.sampled_from(["VISA_METIERS", "PREPA_AVENIR", "ACCES_EMPLOI"]),
    st.sampled_from(["44", "49", "53", "72", "85"]),
    below_iv=st.booleans(),
)


@given(st.lists(entries, max_size=60))
def test_each_breakdown_adds_up_to_the_total(drawn: list[Entry]) -> None:
    counts = Tally()
    for entry in drawn:
        counts.add(entry)
    result = report(counts, last_year=2026)
    for year in range(2017, 2027):
        total = next(row for row in result["total"] if row["annee"] == year)
        assert total["entrees"] == sum(e.year == year for e in drawn)
        assert total["entrees_infra_iv"] == sum(e.year == year and e.below_iv for e in drawn)
        for section in ("par_dispositif", "par_departement"):
            rows = [row for row in result[section] if row["annee"] == year]
            assert sum(row["entrees"] for row in rows) == total["entrees"]
            assert sum(row["entrees_infra_iv"] for row in rows) == total["entrees_infra_iv"]
    assert result["entrees_avant_2017"] == sum(e.year < 2017 for e in drawn)
