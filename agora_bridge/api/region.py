"""`/region/v1`: the Région's system sends its dossier snapshots (role `REGION_SI`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from agora_bridge.api.auth import require_roles
from agora_bridge.api.bodies import JSON, NDJSON, Item, split_items
from agora_bridge.api.problems import ChampErreur, DatabaseUnavailable, problem_responses
from agora_bridge.api.state import BridgeState, bridge_state
from agora_bridge.delivery import wakeup
from agora_bridge.logs import get_logger
from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.validation import paris_today
from agora_bridge.storage.callers import Caller, Role
from agora_bridge.storage.ingest import Ingestion, IngestReport, LineOutcome, ingest_lines

INGEST_PATH = "/region/v1/dossiers"
MAX_ITEMS = 1000

router = APIRouter(prefix="/region/v1", tags=["region"])
log = get_logger(__name__)


class ResultatDossier(BaseModel):
    index: int = Field(description="Position of the item in the body, from 0")
    ligne: int | None = Field(
        default=None, description="JSON Lines: the item's physical line, from 1"
    )
    id_dossier: str | None
    resultat: Literal["ACCEPTE", "IGNORE_VERSION_ANCIENNE", "REJETE"]
    classement: Literal["ENVOYABLE", "EXCLU", "RETENU"] | None = Field(
        default=None, description="An accepted snapshot's classification"
    )
    motif: str | None = Field(default=None, description="Why excluded or held")
    erreurs: list[ChampErreur] = Field(
        default_factory=list, description="A rejected item's broken rules (never a value)"
    )


class ReponseIngestion(BaseModel):
    recus: int
    acceptes: int
    ignores: int
    rejetes: int
    resultats: list[ResultatDossier] = Field(description="One per item, in input order")


_SNAPSHOTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_ITEMS,
    "items": {"$ref": "#/components/schemas/Snapshot"},
}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        JSON: {"schema": _SNAPSHOTS_SCHEMA},
        NDJSON: {"schema": {"type": "string", "description": "One snapshot (JSON object) a line"}},
    },
}


@router.post(
    "/dossiers",
    status_code=202,
    response_model=ReponseIngestion,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 503),
    openapi_extra={"requestBody": _REQUEST_BODY},
)
async def ingest(
    request: Request,
    state: Annotated[BridgeState, Depends(bridge_state)],
    caller: Annotated[Caller, Depends(require_roles(Role.REGION_SI))],
) -> ReponseIngestion:
    """Store up to 1,000 snapshots (a JSON array, or JSON Lines) and answer once they are
    durable: one result per item, in input order. A bad item is rejected alone."""
    items = split_items(
        await request.body(),
        request.headers.get("content-type"),
        max_items=min(MAX_ITEMS, state.settings.api.ingest_max_items),
    )
    report = await _store(state, items)
    log.info("region.ingest.stored", organisation_id=caller.organisation_id, **report.outcomes)
    state.delivery_due.set()  # after the commit: the engine finds the work durable
    if report.outcomes["ACCEPTE"]:
        await wakeup.notify(state.session_maker)  # and `sync` in other processes
    return _answer(items, report)


async def _store(state: BridgeState, items: list[Item]) -> IngestReport:
    ingestion = Ingestion(
        today=paris_today(), now=datetime.now(UTC), perimeter=state.perimeter, crypto=state.crypto
    )
    lines = ((item.index, item.text) for item in items)
    report = IngestReport(lines=[])
    try:
        # One batch, one transaction: the answer says ACCEPTE only of what is committed.
        return await ingest_lines(
            state.session_maker, lines, ingestion, batch_size=max(len(items), 1), report=report
        )
    except (SQLAlchemyError, OSError):
        # A failing database (not a refused value: those are REJETE items): nothing of the
        # request is stored; the Région's system sends it again.
        raise DatabaseUnavailable(
            "the database failed: nothing was stored, send the request again"
        ) from None


def _answer(items: list[Item], report: IngestReport) -> ReponseIngestion:
    outcomes = {outcome.ligne: outcome for outcome in report.lines or []}
    resultats = [_resultat(item, outcomes[item.index]) for item in items]
    return ReponseIngestion(
        recus=len(items),
        acceptes=report.outcomes["ACCEPTE"],
        ignores=report.outcomes["IGNORE_VERSION_ANCIENNE"],
        rejetes=report.outcomes["REJETE"],
        resultats=resultats,
    )


def _resultat(item: Item, outcome: LineOutcome) -> ResultatDossier:
    classification = outcome.classification
    return ResultatDossier(
        index=item.index,
        ligne=item.ligne,
        id_dossier=outcome.id_dossier,
        resultat=outcome.resultat,
        classement=classification.classement.value if classification else None,
        motif=classification.motif if classification else None,
        erreurs=[ChampErreur(champ=e.champ, code=e.code) for e in outcome.erreurs],
    )


def snapshot_schema() -> dict[str, Any]:
    """The snapshot's JSON Schema, for the OpenAPI components."""
    return Snapshot.model_json_schema(ref_template="#/components/schemas/{model}")
