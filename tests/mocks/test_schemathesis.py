"""A schemathesis run over the mock and contracts/agora-v2.openapi.json, as `schemathesis run` does.

Every phase: the contract's examples, coverage (boundary values, negated inputs, missing
headers, methods the contract does not list), fuzzing, and the stateful phase following the
contract's links (a creation to its dossier, a lot to its state and compte-rendu). Fixed seed,
bounded examples. The mock serves over loopback (`mock_in_thread`, lots processed at once),
with a dossier seeded in each state and a processed lot so that generated calls get past 404,
and generated bodies sometimes replaced by plausible ones so that calls get past 422.

Checks: every default one but `positive_data_acceptance`: no 5xx; status, media type, headers
and body as documented; schema-invalid input refused; a missing required header refused; an
unlisted method 405 with `Allow`; authentication enforced; a created resource readable. The
schemas cannot say a NIR's key or a date against today, so a schema-valid body is often
rightly refused with 422: accepting it is not required.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import AuthContext, BaseSchema, Case, HookContext
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.openapi import from_path

from mocks.server import RunningMock, mock_in_thread
from tests.contracts.validate import OPENAPI_FILE, ContractViolation, validate_request_body
from tests.mocks.builders import SOLDE, STEP_BODIES, changed, creation, ligne
from tests.mocks.harness import TOKEN_FORM

SEED = 20261127
MAX_EXAMPLES = 12  # per operation and phase: about 25 s on 2 busy cores
STATUTS = ("VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE")
LOTS = "/agora/v2/lots"
# A fresh mock numbers what it creates from 1: the seeded dossiers and lot have these ids.
SEEDED_DOSSIERS = [f"AG{n:012d}" for n in range(1, len(STATUTS) + 1)]
SEEDED_LOTS = ["LT000000000001"]
# Lot lines for generated lots: valid in each state, a duplicate, broken, an amount too large.
LOT_LINES: list[dict[str, Any]] = [
    *(ligne(f"ST-LOT-{statut}", statut) for statut in STATUTS),
    ligne("ST-SEED-VALIDE"),
    changed(ligne("ST-LOT-BAD-NIR"), "titulaire.sexe", "F"),
    {**ligne("ST-LOT-HUGE", "SOLDE"), "solde": {**SOLDE, "taux_horaire_cents": 10**28}},
    {"reference_financeur": "ST-LOT-PARTIAL"},
]
# Bodies that pass the rules (or break one on purpose), by operation.
PLAUSIBLE: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("POST", "/agora/v2/dossiers"): st.from_regex(r"ST-GEN-[0-9]{1,3}", fullmatch=True).map(
        creation
    ),
    ("PATCH", "/agora/v2/dossiers/{id_agora}"): st.sampled_from(
        [{"titulaire": creation()["titulaire"]}, {"date_entree": "2019-03-05"}]
    ),
    **{
        ("POST", f"/agora/v2/dossiers/{{id_agora}}/{step}"): st.just(body)
        for step, body in STEP_BODIES.items()
    },
}


class Lot(list[dict[str, Any]]):
    """Lines drawn by `flatmap_body`, sent one a line (a plain list is a generated value)."""


def ndjson(_: Any, value: Any) -> bytes:
    """A `Lot` as NDJSON lines; a generated string as it is; any other value, never a lot.

    The contract types the body as a string (NDJSON text). A generated value of another type
    is invalid input; sent as its own JSON, an object would be one NDJSON line, a valid lot.
    Inside a JSON array it stays what the generator meant: something that is not NDJSON.
    """
    if isinstance(value, Lot):
        return b"".join(json.dumps(line).encode() + b"\n" for line in value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps([value]).encode()


# The registration returns nothing: `ndjson` stays usable for the seed lot.
schemathesis.serializer("application/x-ndjson")(ndjson)


class Bearer:
    """A valid token of the mock's demo client (schemathesis caches and renews it)."""

    def get(self, case: Case[Any], context: AuthContext) -> str:
        url = f"{case.operation.schema.get_base_url()}/agora/v2/oauth/token"
        token: str = httpx.post(url, data=TOKEN_FORM).json()["access_token"]
        return token

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Mostly a seeded id, so that calls reach the rules; sometimes the drawn one (a 404)."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {"id_agora": SEEDED_DOSSIERS, "id_lot": SEEDED_LOTS}
    strategies = {
        name: st.sampled_from(known[name]) | st.just(value) if name in known else st.just(value)
        for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(strategies)


def flatmap_body(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    """A body the contract accepts may give way to a plausible one; an invalid one stays."""
    operation = context.operation
    if operation is None:
        return st.just(body)
    if operation.path == LOTS:  # valid is a string (NDJSON text): lines of dossiers instead
        lines = st.lists(st.sampled_from(LOT_LINES), min_size=1, max_size=4).map(Lot)
        return st.just(body) | lines if isinstance(body, str) else st.just(body)
    plausible = PLAUSIBLE.get((operation.method.upper(), operation.path))
    if plausible is None or not _accepted(operation.method, operation.path, body):
        return st.just(body)
    return st.just(body) | plausible


def _accepted(method: str, path: str, body: Any) -> bool:
    try:
        validate_request_body(method, path, body)
    except ContractViolation:
        return False
    return True


def contract_served_by(url: str) -> BaseSchema:
    """The contract with the mock's URL, the run's bounds, the auth and the hooks above."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": url,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": {"stateful": {"max-steps": 8}},
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = from_path(OPENAPI_FILE, config=config)
    schema.auth()(Bearer)
    schema.hook(flatmap_path_parameters)
    schema.hook(flatmap_body)
    return schema


def seed(mock: RunningMock) -> tuple[list[str], list[str]]:
    """A dossier in each state and one processed lot: their ids."""
    with httpx.Client(base_url=mock.url) as client:
        ids = []
        for statut in STATUTS:
            response = client.post("/__mock__/dossiers", json=ligne(f"ST-SEED-{statut}", statut))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id_agora"])
        token = client.post("/agora/v2/oauth/token", data=TOKEN_FORM).json()["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "seed-lot",
            "Content-Type": "application/x-ndjson",
        }
        body = ndjson(None, Lot([ligne("ST-SEED-LOT", "SOLDE"), LOT_LINES[-1]]))
        lot = client.post(LOTS, content=body, headers=headers)
        assert lot.status_code == 202, lot.text
    return ids, [lot.json()["id_lot"]]


def failures_of(event: events.ScenarioFinished) -> list[str]:
    """Each failed check: phase, operation, what, and the curl command that reproduces it."""
    found = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"[{event.phase.value}] {failure.operation}: {failure.title}\n"
                    f"{failure.message}\n{check.failure_info.code_sample}"
                )
    return found


def statuses_of(event: events.ScenarioFinished) -> Counter[tuple[str, int]]:
    """(phase, status) of every answer the scenario got."""
    return Counter(
        (event.phase.value, interaction.response.status_code)
        for interaction in event.recorder.interactions.values()
        if interaction.response is not None
    )


@pytest.fixture
def served() -> Iterator[RunningMock]:
    with mock_in_thread(lot_delay_s=0) as mock:
        assert seed(mock) == (SEEDED_DOSSIERS, SEEDED_LOTS)
        yield mock


def test_a_schemathesis_run_over_the_contract_finds_nothing(served: RunningMock) -> None:
    failures: list[str] = []
    errors: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()
    for event in schemathesis.engine.from_schema(contract_served_by(served.url)).execute():
        if isinstance(event, events.ScenarioFinished):
            failures += failures_of(event)
            answered += statuses_of(event)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"[{event.phase}] {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    assert errors == [], "\n\n".join(errors)
    assert failures == [], "\n\n".join(failures)
    # The run reached the mock's rules and state, not only its format checks. (The coverage
    # phase takes no hooks: its calls seldom pass the rules.)
    reached = {
        phase: {status for (where, status) in answered if where == phase}
        for phase in ("coverage", "fuzzing", "stateful")
    }
    assert {400, 404, 405, 415, 422} <= reached["coverage"], reached
    assert {200, 201, 202, 400, 422} <= reached["fuzzing"], reached
    assert {200, 201, 202, 422} <= reached["stateful"], reached
