"""`/__mock__`: inspection and control endpoints, never part of AGORA's contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import cast

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from mocks import flows
from mocks.faults import FaultConfig
from mocks.models import LigneLot, final_state_errors, format_errors
from mocks.problems import DOSSIER_EXISTANT, Probleme, json_response, rejection
from mocks.rules import ligne_errors
from mocks.state import MockState

router = APIRouter(prefix="/__mock__")


def _mock(request: Request) -> MockState:
    return cast(MockState, request.app.state.mock)


@router.get("/dossiers")
async def dossiers(request: Request) -> Response:
    """NDJSON of every dossier: content, statut, historique (time and X-Request-Id)."""
    lines = (dossier.to_json_bytes() for dossier in _mock(request).store)
    return StreamingResponse(ndjson_chunks(lines), media_type="application/x-ndjson")


@router.post("/dossiers")
async def seed(request: Request) -> Response:
    """Create a dossier in the final state a lot line describes, under any code_financeur.

    For tests and demos that need another financeur's dossier (the search includes them) or
    a dossier already advanced; checked like a lot line, answered like a creation.
    """
    mock = _mock(request)
    ligne = flows.parse(LigneLot, await request.body())
    flows.require_format(final_state_errors(ligne))
    flows.require_rules(ligne_errors(ligne, mock.today()))
    existing = mock.store.existing(ligne.code_financeur, ligne.reference_financeur)
    if existing is not None:
        extra = {"id_agora": existing.id_agora}
        raise Probleme(409, DOSSIER_EXISTANT, "dossier existant", extra=extra)
    request_id = request.headers.get("x-request-id")
    dossier = flows.create_final(mock, ligne, at=mock.clock(), request_id=request_id, id_lot=None)
    return json_response({"id_agora": dossier.id_agora, "statut": dossier.statut}, status=201)


@router.get("/stats")
async def stats(request: Request) -> Response:
    mock = _mock(request)
    return json_response(mock.stats.to_json(dossiers=len(mock.store)))


@router.put("/faults")
async def faults(request: Request) -> Response:
    """Replace the whole fault configuration; `{}` switches every fault off."""
    try:
        config = FaultConfig.model_validate_json(await request.body())
    except ValidationError as error:
        raise rejection(400, format_errors(error), "configuration de pannes invalide") from None
    _mock(request).faults.configure(config)
    return json_response(config.model_dump(mode="json"))


@router.post("/reset")
async def reset(request: Request) -> Response:
    _mock(request).reset()
    return Response(status_code=204)


async def ndjson_chunks(lines: Iterable[bytes], size: int = 1000) -> AsyncIterator[bytes]:
    """NDJSON in chunks of `size` lines: a million dossiers stream without one huge body.

    An async generator, so it runs on the event loop between requests (a sync one would run
    in a worker thread, reading dossiers while requests change them).
    """
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"
