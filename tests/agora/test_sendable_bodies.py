"""Every snapshot the input classifies sendable becomes AGORA bodies that `contracts/` accept.

Issue 6, finding 3: the input model had no lengths or bounds, so a line could be sendable and
yet impossible to send (a 101-character session number, 10^28 cents an hour). Snapshots are
drawn at the limits of every field the spec allows, and with any JSON value in any field:
whatever is sendable must map to a valid creation, each step, a rectification, a lot line.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agora_bridge.agora.mapping import lot_line
from agora_bridge.decision.dossier import AgoraDossier, apply
from agora_bridge.decision.planner import ANNULATION_APRES_SORTIE, plan, project
from agora_bridge.settings import DEFAULT_EXCLUDED
from agora_bridge.snapshots.model import VERSION_MAX, Snapshot
from agora_bridge.snapshots.perimeter import SENDABLE, Perimeter, classify
from agora_bridge.snapshots.settlement import TAUX_HORAIRE_MAX_CENTS
from agora_bridge.snapshots.validation import parse_line
from tests.agora.test_mapping_contracts import as_json, check_operation
from tests.builders import TODAY
from tests.contracts.validate import validate_lot_line
from tests.snapshots.test_fuzz_input import json_values
from tests.strategies import TEXT_CHARACTERS, names, sendable_snapshot_dicts

PERIMETER = Perimeter(DEFAULT_EXCLUDED)


def parse(data: dict[str, Any]) -> Snapshot | None:
    """The snapshot of a line as the Région writes it, when it is valid and sendable."""
    line = json.dumps(data, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    result = parse_line(line, today=TODAY)
    if isinstance(result, Snapshot) and classify(result, PERIMETER, since=None) == SENDABLE:
        return result
    return None


def check_bodies(snapshot: Snapshot, acknowledged: AgoraDossier | None = None) -> None:
    planned = plan(acknowledged, snapshot)
    if planned.retenue is not None:
        return
    for op in planned.operations:
        check_operation(op)
    validate_lot_line(as_json(lot_line(project(snapshot), code_financeur="REG52")))


@settings(max_examples=300, deadline=None)
@given(sendable_snapshot_dicts())
def test_every_snapshot_at_the_limits_is_sendable_and_maps_to_valid_bodies(
    data: dict[str, Any],
) -> None:
    snapshot = parse(data)
    assert snapshot is not None, "the strategy draws only valid, sendable snapshots"
    if plan(None, snapshot).retenue is not None:  # the one hold a first plan can give
        assert plan(None, snapshot).retenue == ANNULATION_APRES_SORTIE
    check_bodies(snapshot)


@st.composite
def corrections(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A snapshot and a later version correcting the trainee or the exit motive."""
    first = draw(sendable_snapshot_dicts())
    later = copy.deepcopy(first)
    first["version"] = min(first["version"], VERSION_MAX - 1)
    later["version"] = first["version"] + 1
    later["stagiaire"]["prenom"] = draw(names())
    later["stagiaire"]["nom_naissance"] = draw(names())
    if later["sortie"] is not None:
        later["sortie"]["motif"] = draw(st.sampled_from(["ABANDON", "ACCES_EMPLOI"]))
    return first, later


@settings(max_examples=150, deadline=None)
@given(corrections())
def test_rectifications_of_sendable_snapshots_map_to_valid_bodies(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, later = (parse(data) for data in pair)
    assert first is not None
    assert later is not None
    acknowledged = None
    for op in plan(None, first).operations:
        acknowledged = apply(acknowledged, op)
    check_bodies(later, acknowledged)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[leaf] = value


def around(longest: int) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARACTERS, min_size=longest - 1, max_size=longest + 1)


_HOURS = st.sampled_from(["9999.99", "10000", 9999.99, 10000, 10**28, "0.001", 0.001, "-0"])
_DAYS = st.sampled_from(["0001-01-01", "9999-12-31", "1900-02-28", TODAY.isoformat()])
# Each field, with values just inside and just past its limits.
EDGES: dict[str, st.SearchStrategy[Any]] = {
    "id_dossier": st.from_regex(r"[A-Za-z0-9._/-]{63,65}", fullmatch=True),
    "version": st.integers(VERSION_MAX - 1, VERSION_MAX + 1),
    "date_maj": st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00"]),
    "stagiaire.nir": st.text(TEXT_CHARACTERS, max_size=20),
    "stagiaire.nom_naissance": around(80),
    "stagiaire.prenom": around(80) | st.sampled_from(["-", "'", "ß", "ﬁ", "œ", "İ"]),
    "stagiaire.date_naissance": _DAYS,
    "stagiaire.niveau_entree": st.sampled_from(["VI", "Vbis", "8", "0", "IX"]),
    "programme.code": around(100),
    "programme.dispositif": around(100),
    "programme.consultation": around(100),
    "organisme.siret": st.sampled_from(["35600000000048", "35600000000049", "00000000000000"]),
    "action.numero": around(100),
    "action.formacode": st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    "action.certification": st.builds(
        lambda kind, n: {"type": kind, "code": (kind if kind != "CERTIFINFO" else "") + "1" * n},
        st.sampled_from(["RNCP", "RS", "CERTIFINFO"]),
        st.integers(95, 101),
    ),
    "session.numero": around(100),
    "session.date_debut": _DAYS,
    "session.date_fin": _DAYS,
    "session.duree_heures": _HOURS,
    "taux_horaire_cents": st.sampled_from(
        [TAUX_HORAIRE_MAX_CENTS, TAUX_HORAIRE_MAX_CENTS + 1, 10**28]
    ),
    "date_validation": _DAYS,
    "date_entree": _DAYS,
    "sortie.date": _DAYS,
    "solde.date": _DAYS,
    "solde.heures_realisees_centre": _HOURS,
    "solde.heures_realisees_entreprise": _HOURS,
    "annulation.date": _DAYS,
}


@settings(max_examples=400, deadline=None)
@given(sendable_snapshot_dicts(), st.data())
def test_whatever_a_field_holds_a_sendable_snapshot_maps_to_valid_bodies(
    data: dict[str, Any], draw: st.DataObject
) -> None:
    field = draw.draw(st.sampled_from(sorted(EDGES)))
    _set(data, field, draw.draw(EDGES[field] | json_values))
    snapshot = parse(data)
    if snapshot is not None:
        check_bodies(snapshot)
