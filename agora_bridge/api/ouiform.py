"""`/ouiform/v1`: orientations (`ouiform.md`), and the Région's feed of their changes.

Transitions check in `ouiform.md`'s order, 401 > 404 > 403 > 412 > 422 > 409: the key (the
dependency), the caller's scope (404: existence is not disclosed), its role, `If-Match`, the
body, the state machine. Their bodies are read in the handler, not by FastAPI, which would
answer 422 before the 404 and 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from agora_bridge.api.auth import require_roles
from agora_bridge.api.ouiform_vues import (
    CONFLICT_RESPONSE,
    Answer,
    FluxRegion,
    OrientationVue,
    PageOrientations,
    decode_cursor,
    encode_cursor,
    etag,
    if_match_allows,
    render,
)
from agora_bridge.api.problems import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    Invalid,
    KeyAlreadyUsed,
    MissingHeader,
    NotFound,
    PreconditionFailed,
    field_errors,
    problem_responses,
)
from agora_bridge.api.state import BridgeState, bridge_state
from agora_bridge.logs import get_logger
from agora_bridge.orientation import machine
from agora_bridge.orientation.model import (
    Abandon,
    AnnulationOrientation,
    Change,
    Creation,
    Decision,
    Entree,
    Etat,
    Positionnement,
    StatutOrientation,
)
from agora_bridge.snapshots.model import Timestamp
from agora_bridge.snapshots.validation import FieldError, paris_today
from agora_bridge.storage import orientation_pages as pages
from agora_bridge.storage import orientations as store
from agora_bridge.storage.callers import Caller, Role

router = APIRouter(prefix="/ouiform/v1", tags=["ouiform"])
region_router = APIRouter(prefix="/region/v1", tags=["region"])
log = get_logger(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
ANY_ROLE = require_roles(*Role)
CREATORS = require_roles(Role.ORGANISME, Role.PRESCRIPTEUR)
State = Annotated[BridgeState, Depends(bridge_state)]
Limit = Annotated[int, Query(ge=1, le=500, description="1 to 500")]
Since = Annotated[Timestamp | None, Query(description="ISO 8601, with an offset")]
Cursor = Annotated[str | None, Query(max_length=200, description="A `next_cursor` received")]


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": ref}}
    # A cancellation carries nothing: its body may be left out.
    return {"requestBody": {"required": model is not AnnulationOrientation, "content": content}}


def _parsed(model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        raise Invalid(field_errors(error.errors())) from None


def _refuse(errors: list[FieldError]) -> None:
    if errors:
        raise Invalid([{"champ": e.champ, "code": e.code} for e in errors])


def _answer(vue: store.Vue, status: int = 200, **headers: str) -> Answer:
    return Answer(
        render(vue), status_code=status, headers={"ETag": etag(vue.etat["version"]), **headers}
    )


async def _unit_of_work(
    state: BridgeState, work: Callable[[AsyncConnection], Awaitable[T]], *, writes: bool = False
) -> T:
    """One connection; a failing database is a 503. Its statements commit one by one
    (`storage/orientations.py`: each write is one statement on PostgreSQL), but on SQLite a
    request that writes is one BEGIN IMMEDIATE transaction, its read included."""
    try:
        async with state.engine.connect() as connection:
            if writes and connection.dialect.name != "postgresql":
                async with connection.begin():
                    return await work(connection)
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await work(connection)
    except (SQLAlchemyError, OSError) as error:
        if isinstance(error, IntegrityError):
            raise
        raise DatabaseUnavailable("the database failed: nothing was changed") from None


@router.post(
    "/orientations",
    status_code=201,
    response_model=OrientationVue,
    responses=problem_responses(400, 401, 403, 413, 422, 503),
    openapi_extra=_json_body(Creation),
)
async def create_orientation(
    request: Request,
    state: State,
    caller: Annotated[Caller, Depends(CREATORS)],
    idempotency_key: Annotated[
        str | None,
        Header(alias=IDEMPOTENCY_KEY, max_length=255, description="Required: 400 without it"),
    ] = None,
) -> Answer:
    """Create an orientation (`PRESCRITE`). The same key and body within 24 h answer the
    first 201 again; the same key with another body, 422."""
    if not idempotency_key:
        raise MissingHeader(f"{IDEMPOTENCY_KEY} is required")
    raw = await request.body()
    creation = _parsed(Creation, raw)
    _refuse(machine.creation_errors(creation, paris_today()))
    if caller.role is Role.ORGANISME and creation.organisme.siret != caller.siret:
        raise Invalid([{"champ": "organisme.siret", "code": "SIRET_AUTRE_ORGANISME"}])
    empreinte = state.crypto.keyed_digest("idempotence", _canonical(raw))
    now = datetime.now(UTC)

    async def created(connection: AsyncConnection) -> tuple[store.Vue, bool]:
        known = await _replayed(
            connection, caller, cle=idempotency_key, empreinte=empreinte, now=now, state=state
        )
        if known is not None:
            return known, True
        vue = await store.create(
            connection, creation, caller=caller, key=(idempotency_key, empreinte),
            crypto=state.crypto, now=now,
        )  # fmt: skip
        return vue, False

    async def concurrent(connection: AsyncConnection) -> tuple[store.Vue, bool]:
        known = await _replayed(
            connection, caller, cle=idempotency_key, empreinte=empreinte, now=now, state=state
        )
        assert known is not None  # the unique key a concurrent request committed
        return known, True

    try:
        vue, replay = await _unit_of_work(state, created, writes=True)
    except IntegrityError:
        vue, replay = await _unit_of_work(state, concurrent)
    log.info("ouiform.orientation.created", orientation_id=vue.row.id, replay=replay)
    return _answer(vue, 201, **({"Idempotent-Replayed": "true"} if replay else {}))


def _canonical(raw: bytes) -> str:
    return json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def _replayed(
    connection: AsyncConnection,
    caller: Caller,
    *,
    cle: str,
    empreinte: str,
    now: datetime,
    state: Any,
) -> store.Vue | None:
    try:
        orientation_id = await store.replayed(connection, caller, cle, empreinte, now=now)
    except store.KeyReused:
        raise KeyAlreadyUsed([{"champ": IDEMPOTENCY_KEY, "code": "CLE_DEJA_UTILISEE"}]) from None
    if orientation_id is None:
        return None
    return await store.first_version(connection, orientation_id, state.crypto)


@router.get(
    "/orientations",
    response_model=PageOrientations,
    responses=problem_responses(401, 422, 503),
)
async def list_orientations(
    *,
    state: State,
    caller: Annotated[Caller, Depends(ANY_ROLE)],
    statut: StatutOrientation | None = None,
    session_numero: Annotated[str | None, Query(max_length=100)] = None,
    modifie_depuis: Since = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Answer:
    """The caller's orientations (`OPS`, `REGION_SI`: all), newest change first. A listing
    keeps the order it started with: an orientation changed meanwhile is neither repeated
    nor skipped (one created meanwhile shows in the next listing)."""
    position = decode_cursor(cursor, "h", "p") if cursor else None
    filtres = store.Filtres(statut, session_numero, modifie_depuis)

    async def page(connection: AsyncConnection) -> tuple[list[store.Vue], int]:
        return await pages.listing(
            connection, caller, filtres, page=(position["h"], position["p"]) if position else None,
            limit=limit + 1, crypto=state.crypto,
        )  # fmt: skip

    vues, high = await _unit_of_work(state, page)
    following = encode_cursor(h=high, p=vues[limit - 1].seq) if len(vues) > limit else None
    return Answer({"items": [render(v) for v in vues[:limit]], "next_cursor": following})


@router.get(
    "/orientations/{orientation_id}",
    response_model=OrientationVue,
    responses=problem_responses(401, 404, 422, 503),
)
async def get_orientation(
    orientation_id: str, state: State, caller: Annotated[Caller, Depends(ANY_ROLE)]
) -> Answer:
    """One orientation of the caller's, with `ETag: "<version>"`."""

    async def read(connection: AsyncConnection) -> store.Vue:
        row = await store.find(connection, orientation_id, caller)
        if row is None:
            raise NotFound("no such orientation")
        return store.vue_of(row, state.crypto)

    return _answer(await _unit_of_work(state, read))


Transition = Callable[..., Awaitable[Answer]]


def _transition(change: type[Change], roles: frozenset[Role]) -> Transition:
    async def handler(
        orientation_id: str,
        request: Request,
        state: State,
        caller: Annotated[Caller, Depends(ANY_ROLE)],
        if_match: Annotated[
            str | None, Header(alias="If-Match", description='"<version>": else 412')
        ] = None,
    ) -> Answer:
        raw = await request.body()

        async def move(connection: AsyncConnection) -> store.Vue:
            # Each lost race is a change another request made: a finite state machine ends
            # them (an orientation changes a handful of times at most).
            while True:
                row = await store.find(connection, orientation_id, caller)
                if row is None:
                    raise NotFound("no such orientation")
                if caller.role not in roles:
                    raise Forbidden("this role may not make this change")
                if if_match is not None and not if_match_allows(if_match, row.version):
                    raise PreconditionFailed("the orientation changed: read it again")
                parsed = _parsed(change, raw)
                _refuse(machine.rule_errors(parsed, paris_today()))
                read = store.etat_of(row.etat)
                now = _instant_after(read)
                try:
                    etat = machine.apply(read, parsed, le=now, par=caller.role.value)
                except machine.TransitionImpossible:
                    current = render(store.vue_of(row, state.crypto))
                    raise Conflict(f"impossible from {row.statut}", orientation=current) from None
                recorded = await store.record(connection, row, etat, now=now)
                if recorded is not None:
                    data, seq = recorded
                    return store.Vue(row, data, store.candidat_of(row, state.crypto), seq)

        vue = await _unit_of_work(state, move, writes=True)
        statut = vue.etat["statut"]
        log.info("ouiform.orientation.changed", orientation_id=vue.row.id, statut=statut)
        return _answer(vue)

    return handler


def _instant_after(current: Etat) -> datetime:
    """The instant of a change to `current`, taken once it is read: a request that waited
    for SQLite's write lock or read again after losing a race on PostgreSQL comes after the
    change it follows, so its step and `maj_le` must too (a history in order; `modifie_depuis`
    set to the last `maj_le` seen misses nothing). Never before the last step, whatever the
    clocks of several workers say."""
    return max(datetime.now(UTC), current.historique[-1].le)


_TRANSITIONS: dict[str, tuple[type[Change], frozenset[Role], str]] = {
    "positionnement": (Positionnement, frozenset({Role.ORGANISME}), "→ POSITIONNEE"),
    "decision": (Decision, frozenset({Role.ORGANISME}), "→ RETENUE, NON_RETENUE or ABSENTE_IC"),
    "entree": (Entree, frozenset({Role.ORGANISME}), "→ ENTREE"),
    "abandon": (Abandon, frozenset({Role.ORGANISME, Role.PRESCRIPTEUR}), "→ ABANDON"),
    "annulation": (AnnulationOrientation, frozenset({Role.PRESCRIPTEUR}), "→ ANNULEE"),
}

for _name, (_change, _roles, _summary) in _TRANSITIONS.items():
    router.add_api_route(
        f"/orientations/{{orientation_id}}/{_name}",
        _transition(_change, _roles),
        methods=["POST"],
        name=f"orientation_{_name}",
        summary=f"{_name.capitalize()} {_summary} ({', '.join(sorted(_roles))})",
        response_model=OrientationVue,
        responses=problem_responses(401, 403, 404, 412, 413, 422, 503) | CONFLICT_RESPONSE,
        openapi_extra=_json_body(_change),
    )


@region_router.get(
    "/orientations",
    response_model=FluxRegion,
    responses=problem_responses(401, 403, 422, 503),
)
async def region_feed(
    state: State,
    caller: Annotated[Caller, Depends(require_roles(Role.REGION_SI))],
    modifie_depuis: Since = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Answer:
    """Every change of every orientation, oldest first, each as that change left the
    orientation, NIR included: follow `next_cursor`; an empty page means caught up."""
    after = decode_cursor(cursor, "s")["s"] if cursor else 0

    async def page(connection: AsyncConnection) -> list[store.Vue]:
        return await pages.feed(
            connection, after=after, since=modifie_depuis, limit=limit, crypto=state.crypto
        )

    vues = await _unit_of_work(state, page)
    following = encode_cursor(s=vues[-1].seq if vues else after)
    items = [render(v, with_nir=True) for v in vues]
    return Answer({"items": items, "next_cursor": following})


_BODIES: tuple[type[BaseModel], ...] = (Creation, *(c for c, _, _ in _TRANSITIONS.values()))


def complete_openapi(schema: dict[str, Any]) -> None:
    """What FastAPI cannot infer: the bodies the handlers read themselves, and that
    `Idempotency-Key` is required (400, not FastAPI's 422, without it)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in _BODIES:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, part in {**body.pop("$defs", {}), model.__name__: body}.items():
            if components.setdefault(name, part) != part:
                raise RuntimeError(f"two schemas named {name} in the OpenAPI document")
    creation = schema["paths"]["/ouiform/v1/orientations"]["post"]
    for parameter in creation.get("parameters", []):
        if parameter["name"] == IDEMPOTENCY_KEY:
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 255}
