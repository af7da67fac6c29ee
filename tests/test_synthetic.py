"""Synthetic snapshots: reproducible, valid where they claim to be, in the stated mix."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from agora_bridge.snapshots.model import Categorie, Programme, Snapshot, Statut
from agora_bridge.snapshots.nir import NirVerdict, check_nir, normalise_nir
from agora_bridge.snapshots.perimeter import interface_agora
from agora_bridge.snapshots.siret import is_valid_siret
from agora_bridge.synthetic import (
    BEFORE_CUTOFF_SHARE,
    CUTOFF,
    EXCLUDED_CATEGORY_SHARE,
    INTERFACE_AGORA_OFF_SHARE,
    INVALID_LINE_SHARE,
    LATER_VERSION_SHARE,
    NIR_ABSENT_SHARE,
    NIR_INVALID_SHARE,
    Mix,
    generate,
    snapshot_dict,
    valid_nir,
    valid_siret,
    write_file,
)

TODAY = date(2026, 3, 15)
IN_PERIMETER = {Categorie.QUALIFIANT, Categorie.PREPARATOIRE}
STATUT_ORDER = [Statut.VALIDE, Statut.ENTRE, Statut.SORTI, Statut.SOLDE]


def all_valid(n: int, seed: int = 0) -> list[Snapshot]:
    lines = generate(n, seed=seed, today=TODAY, mix=Mix.ALL_VALID)
    return [Snapshot.model_validate_json(line) for line in lines]


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def broken_rules(s: Snapshot) -> list[str]:
    """The cross-field rules of region-input.md, written out independently of validation.py."""
    broken = []
    session, entree = s.session, s.date_entree
    if not session.date_debut <= session.date_fin:
        broken.append("session dates")
    if entree is not None and not session.date_debut <= entree <= session.date_fin:
        broken.append("entry outside the session")
    if s.sortie is not None and not (entree is not None and entree <= s.sortie.date):
        broken.append("exit before entry")
    if s.sortie is not None and s.sortie.date > session.date_fin:
        broken.append("exit after the session")
    if s.solde is not None and (s.sortie is None or s.solde.date < s.sortie.date):
        broken.append("settlement before exit")
    if s.annulation is not None and s.annulation.date < s.date_validation:
        broken.append("cancellation before validation")
    if not 15 <= age_on(s.stagiaire.date_naissance, s.entry_date) <= 99:
        broken.append("age")
    if s.action.certification is not None and not s.action.certification.code_is_well_formed():
        broken.append("certification code")
    return broken


def required_by_statut(s: Snapshot) -> bool:
    reached = STATUT_ORDER.index(s.statut) if s.statut in STATUT_ORDER else -1
    return (
        (s.date_entree is not None) == (reached >= 1)
        and (s.sortie is not None) == (reached >= 2)
        and (s.solde is not None) == (reached >= 3)
        and (s.annulation is not None) == (s.statut is Statut.ANNULE)
    )


def dates_of(s: Snapshot) -> list[date]:
    optional = [s.date_entree] + [p.date if p else None for p in (s.sortie, s.solde, s.annulation)]
    return [
        s.date_validation,
        s.session.date_debut,
        s.session.date_fin,
        s.stagiaire.date_naissance,
        s.date_maj.date(),
        *(d for d in optional if d is not None),
    ]


def test_same_seed_gives_the_same_lines() -> None:
    first = list(generate(300, seed=42, today=TODAY))
    assert first == list(generate(300, seed=42, today=TODAY))
    assert first != list(generate(300, seed=43, today=TODAY))
    assert len(first) == 300
    assert all(not line.endswith("\n") for line in first)


def test_lines_are_the_json_of_snapshot_dict() -> None:
    rng = random.Random(5)
    expected = [snapshot_dict(rng, index=i, today=TODAY) for i in range(1, 501)]
    lines = generate(500, seed=5, today=TODAY, mix=Mix.ALL_VALID)
    assert [json.loads(line) for line in lines] == expected


def test_all_valid_snapshots_are_valid_sendable_and_unique() -> None:
    snapshots = all_valid(3000)
    for s in snapshots:
        person = s.stagiaire
        verdict = check_nir(person.nir, sexe=person.sexe, date_naissance=person.date_naissance)
        assert verdict is NirVerdict.VALIDE
        assert is_valid_siret(s.organisme.siret)
        assert s.programme.categorie in IN_PERIMETER
        assert interface_agora(s.programme)
        assert s.entry_date >= CUTOFF
        assert broken_rules(s) == [], s.id_dossier
        assert required_by_statut(s), s.id_dossier
        assert max(dates_of(s)) <= TODAY
    assert len({s.id_dossier for s in snapshots}) == len(snapshots)


def test_all_valid_snapshots_look_like_the_regions() -> None:
    snapshots = all_valid(3000, seed=1)
    assert all(re.fullmatch(r"PDL-20[0-9]{2}-[0-9]{7}", s.id_dossier) for s in snapshots)
    assert all(18 <= age_on(s.stagiaire.date_naissance, s.entry_date) <= 60 for s in snapshots)
    assert all(800 <= s.taux_horaire_cents <= 2500 for s in snapshots)
    assert all(s.version >= 1 for s in snapshots)
    assert {s.statut for s in snapshots} == set(Statut)
    assert {s.programme.categorie for s in snapshots} == IN_PERIMETER
    levels_used = {deciding_level(s.programme) for s in snapshots}
    assert levels_used == {"programme", "consultation", "dispositif"}
    levels = {s.stagiaire.niveau_entree for s in snapshots}
    assert {"IV", "V", "3", "4"} <= levels
    names = {s.stagiaire.prenom for s in snapshots} | {s.stagiaire.nom_naissance for s in snapshots}
    assert {"Éloïse", "Noël", "D'Arc-Dupont"} <= names
    departments = Counter(normalise_nir(s.stagiaire.nir or "")[5:7] for s in snapshots)
    assert departments["2A"] + departments["2B"] > 0
    assert departments["99"] > 0
    assert any(s.solde and s.solde.heures_realisees_centre % 1 for s in snapshots)


def test_snapshot_dict_returns_a_copy_safe_to_change() -> None:
    rng = random.Random(0)
    for index in range(50):
        d = snapshot_dict(rng, index=index, today=TODAY)
        d["programme"]["categorie"] = "VAE"
        d["organisme"]["siret"] = "0"
        if d["action"]["certification"]:
            d["action"]["certification"]["code"] = "X"
    for s in all_valid(300):
        assert s.programme.categorie in IN_PERIMETER
        assert is_valid_siret(s.organisme.siret)


def kind_of(line: str, seen: set[str]) -> str:
    """Our reading of a line, in the order of region-input.md's classification."""
    try:
        s = Snapshot.model_validate_json(line)
    except ValidationError:
        return "INVALID"
    if s.date_validation > TODAY:
        return "INVALID"
    if s.id_dossier in seen:
        return "LATER_VERSION"
    seen.add(s.id_dossier)
    person = s.stagiaire
    verdict = check_nir(person.nir, sexe=person.sexe, date_naissance=person.date_naissance)
    if s.programme.categorie not in IN_PERIMETER:
        return "EXCLUDED_CATEGORY"
    if not interface_agora(s.programme):
        return "INTERFACE_AGORA_OFF"
    if s.entry_date < CUTOFF:
        return "BEFORE_CUTOFF"
    return "SENDABLE" if verdict is NirVerdict.VALIDE else verdict.value


@pytest.fixture(scope="module")
def realistic() -> list[str]:
    return list(generate(5000, seed=2026, today=TODAY))


def deciding_level(programme: Programme) -> str:
    """Which object's "Interface AGORA" decides (region-input.md), read independently."""
    if programme.interface_agora is not None:
        return "programme"
    if programme.interface_agora_consultation is not None:
        return "consultation"
    if programme.interface_agora_dispositif is not None:
        return "dispositif"
    return "nowhere"


def valid_programmes(lines: list[str]) -> list[tuple[Programme, dict[str, object]]]:
    """Each valid line's programme, parsed and as written (to tell absent from null)."""
    programmes = []
    for line in lines:
        try:
            programme = Snapshot.model_validate_json(line).programme
        except ValidationError:
            continue
        programmes.append((programme, json.loads(line)["programme"]))
    return programmes


def test_realistic_attribute_is_decided_on_each_level(realistic: list[str]) -> None:
    programmes = valid_programmes(realistic)
    decided = Counter((deciding_level(p), interface_agora(p)) for p, _ in programmes)
    on = sum(count for (_, value), count in decided.items() if value)
    # Sendable lines mostly inherit from the dispositif or the consultation, the programme's
    # own value null.
    for level, share in (("programme", 0.2), ("consultation", 0.05), ("dispositif", 0.2)):
        assert decided[level, True] >= share * on, (level, decided)
    for level in ("programme", "consultation", "dispositif", "nowhere"):
        assert decided[level, False] > 0, (level, decided)
    assert decided["nowhere", True] == 0
    nulls = sum(1 for p, _ in programmes if p.interface_agora is None and interface_agora(p))
    assert nulls >= 0.4 * on


def test_realistic_attribute_levels_look_like_the_regions(realistic: list[str]) -> None:
    by_dispositif: dict[str, set[bool | None]] = {}
    written: Counter[str] = Counter()
    for programme, raw in valid_programmes(realistic):
        if "interface_agora_dispositif" in raw:
            value = programme.interface_agora_dispositif
            by_dispositif.setdefault(programme.dispositif, set()).add(value)
            written["dispositif null" if value is None else "dispositif set"] += 1
        else:
            written["older export"] += 1
        if programme.interface_agora_consultation is not None:
            assert programme.consultation is not None  # set on a consultation that exists
    # The Région sets the attribute on a dispositif once, for all its programmes.
    assert all(len(values) == 1 for values in by_dispositif.values()), by_dispositif
    assert {"VISA_METIERS", "ACCES_EVOLUTION", "PREPA_AVENIR"} <= set(by_dispositif)
    assert min(written["older export"], written["dispositif null"], written["dispositif set"]) > 0


def test_realistic_mix_has_each_kind_in_roughly_its_share(realistic: list[str]) -> None:
    seen: set[str] = set()
    counts = Counter(kind_of(line, seen) for line in realistic)
    shares = {
        "EXCLUDED_CATEGORY": EXCLUDED_CATEGORY_SHARE,
        "INTERFACE_AGORA_OFF": INTERFACE_AGORA_OFF_SHARE,
        "BEFORE_CUTOFF": BEFORE_CUTOFF_SHARE,
        "NIR_ABSENT": NIR_ABSENT_SHARE,
        "NIR_INVALIDE": NIR_INVALID_SHARE,
        "INVALID": INVALID_LINE_SHARE,
        "LATER_VERSION": LATER_VERSION_SHARE,
    }
    for kind, share in shares.items():
        expected = share * len(realistic)
        assert 0.5 * expected <= counts[kind] <= 1.6 * expected, (kind, counts[kind])
    assert counts["SENDABLE"] >= 0.8 * len(realistic)


def test_realistic_invalid_lines_cover_each_fault(realistic: list[str]) -> None:
    faults: Counter[str] = Counter()
    for line in realistic:
        try:
            s = Snapshot.model_validate_json(line)
        except ValidationError as exc:
            faults.update(str(error["type"]) for error in exc.errors())
        else:
            faults["future"] += s.date_validation > TODAY
    assert faults["SIRET_INVALIDE"] > 0
    assert faults["missing"] > 0
    assert faults["json_invalid"] > 0
    assert faults["future"] > 0


def test_later_versions_advance_an_earlier_dossier(realistic: list[str]) -> None:
    earlier: dict[str, Snapshot] = {}
    later = 0
    for line in realistic:
        try:
            s = Snapshot.model_validate_json(line)
        except ValidationError:
            continue
        previous = earlier.get(s.id_dossier)
        if previous is not None:
            later += 1
            assert s.version == previous.version + 1
            assert STATUT_ORDER.index(s.statut) == STATUT_ORDER.index(previous.statut) + 1
            assert s.date_maj > previous.date_maj
            assert broken_rules(s) == []
            assert s.stagiaire == previous.stagiaire
        earlier[s.id_dossier] = s
    assert later > 0


def test_no_date_after_today_except_the_deliberate_one(realistic: list[str]) -> None:
    for line in realistic:
        try:
            s = Snapshot.model_validate_json(line)
        except ValidationError:
            continue
        if s.date_validation <= TODAY:
            assert max(dates_of(s)) <= TODAY, s.id_dossier


def test_spaced_nirs_are_valid_once_normalised(realistic: list[str]) -> None:
    spaced = [line for line in realistic if re.search(r'"nir":"[0-9] [0-9]{2} ', line)]
    assert spaced
    for line in spaced:
        person = Snapshot.model_validate_json(line).stagiaire
        verdict = check_nir(person.nir, sexe=person.sexe, date_naissance=person.date_naissance)
        assert verdict is NirVerdict.VALIDE


@given(
    seed=st.integers(0, 2**32),
    sexe=st.sampled_from(["M", "F"]),
    born=st.dates(date(1920, 1, 1), date(2020, 12, 31)),
)
def test_valid_nir_agrees_with_the_person(seed: int, sexe: str, born: date) -> None:
    nir = valid_nir(random.Random(seed), sexe=sexe, date_naissance=born)
    assert len(nir) == 15
    assert check_nir(nir, sexe=sexe, date_naissance=born) is NirVerdict.VALIDE
    if born.year < 1976:  # Corsica was 20 before its two departments
        assert nir[5:7] not in {"2A", "2B"}


@given(seed=st.integers(0, 2**32))
def test_valid_siret_passes_luhn(seed: int) -> None:
    siret = valid_siret(random.Random(seed))
    assert len(siret) == 14
    assert is_valid_siret(siret)
    # python-stdnum, independent of our Luhn: the SIREN (first 9 digits) passes on its own.
    assert stdnum_siren.is_valid(siret[:9])
    assert stdnum_siret.is_valid(siret)
    assert not siret.startswith("356000000")


@pytest.mark.parametrize("name", ["dossiers.jsonl", "dossiers.jsonl.gz"])
def test_write_file_writes_the_generated_lines(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_file(path, 200, seed=3, today=TODAY)
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")
    assert text == "".join(f"{line}\n" for line in generate(200, seed=3, today=TODAY))


def test_write_file_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_file(first, 100, seed=9, today=TODAY, mix=Mix.ALL_VALID)
    write_file(second, 100, seed=9, today=TODAY, mix=Mix.ALL_VALID)
    assert first.read_bytes() == second.read_bytes()


def test_today_must_leave_room_after_the_cutoff() -> None:
    with pytest.raises(ValueError, match="cut-off"):
        generate(1, today=date(2016, 6, 1))
    with pytest.raises(ValueError, match="cut-off"):
        snapshot_dict(random.Random(0), index=1, today=date(2016, 6, 1))
