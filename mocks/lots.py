"""Asynchronous lots (reprise d'antériorité): intake, delayed processing, compte-rendu.

A lot is `RECU` for the first half of the delay, `EN_COURS` for the second half and while its
lines are applied, then `TRAITE`. Lines are applied in chunks with a yield to the event loop
between them, so that a 10,000-line lot never stalls the synchronous calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mocks.flows import create_final
from mocks.idempotency import raw_fingerprint
from mocks.models import LigneLot, final_state_errors, format_errors
from mocks.problems import (
    FORMAT_INVALIDE,
    INDISPONIBLE,
    LOT_INCONNU,
    LOT_NON_TRAITE,
    LOT_TROP_VOLUMINEUX,
    Erreur,
    Probleme,
    dumps,
)
from mocks.rules import ligne_errors

if TYPE_CHECKING:
    from mocks.state import MockState

MAX_LINES = 10_000
MAX_BYTES = 16 * 1024 * 1024
CHUNK_LINES = 500  # between two yields to the event loop: about 10 ms of work
RECU, EN_COURS, TRAITE = "RECU", "EN_COURS", "TRAITE"
ACCEPTE, REJETE, DOUBLON = "ACCEPTE", "REJETE", "DOUBLON"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LineResult:
    reference_financeur: str | None
    resultat: str
    id_agora: str | None = None
    erreurs: tuple[Erreur, ...] = ()


@dataclass(slots=True, eq=False)
class Lot:
    id_lot: str
    lines: list[str]  # the non-blank lines, until processed
    request_id: str | None
    nb_lignes: int
    statut: str = RECU
    results: list[LineResult] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def receipt(self) -> dict[str, Any]:
        return {"id_lot": self.id_lot, "statut": self.statut, "nb_lignes": self.nb_lignes}

    def summary(self) -> dict[str, Any]:
        return {
            **self.receipt(),
            "nb_acceptees": self.counts[ACCEPTE],
            "nb_rejetees": self.counts[REJETE],
            "nb_doublons": self.counts[DOUBLON],
        }


def too_large(detail: str) -> Probleme:
    return Probleme(413, LOT_TROP_VOLUMINEUX, detail)


def not_ndjson(detail: str) -> Probleme:
    return Probleme(400, FORMAT_INVALIDE, detail, erreurs=[Erreur("", FORMAT_INVALIDE, detail)])


def split_lines(body: bytes) -> list[str]:
    """The non-blank lines; 413 over 10,000, 400 when the body is not NDJSON at all."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise not_ndjson("le corps n'est pas en UTF-8") from None
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > MAX_LINES:
        raise too_large(f"{len(lines)} lignes, au plus {MAX_LINES}")
    # A bad line is a rejected line; but a body whose first line does not open a JSON object
    # (CSV, a JSON array) or where no line is one is no lot at all.
    if not lines or not lines[0].lstrip().startswith("{"):
        raise not_ndjson("la première ligne n'ouvre pas un objet JSON: NDJSON attendu")
    if not any(_is_json_object(line) for line in lines):
        raise not_ndjson("aucune ligne n'est un objet JSON: NDJSON attendu")
    return lines


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _reference_of(line: str) -> str | None:
    # For the compte-rendu of a malformed line: its reference when one can be read.
    try:
        content = json.loads(line)
    except ValueError:
        return None
    reference = content.get("reference_financeur") if isinstance(content, dict) else None
    return reference if isinstance(reference, str) else None


def process_line(
    state: MockState, line: str, *, at: datetime, today: date, request_id: str | None, id_lot: str
) -> LineResult:
    """Format, then rules, then duplicates: a rejected or duplicate line changes nothing."""
    try:
        ligne = LigneLot.model_validate_json(line)
    except ValidationError as error:
        return LineResult(_reference_of(line), REJETE, erreurs=tuple(format_errors(error)))
    reference = ligne.reference_financeur
    erreurs = final_state_errors(ligne) or ligne_errors(ligne, today)
    if erreurs:
        return LineResult(reference, REJETE, erreurs=tuple(erreurs))
    existing = state.store.existing(ligne.code_financeur, reference)
    if existing is not None:
        return LineResult(reference, DOUBLON, existing.id_agora)
    dossier = create_final(state, ligne, at=at, request_id=request_id, id_lot=id_lot)
    return LineResult(reference, ACCEPTE, dossier.id_agora)


def failed_line(line: str, error: Exception) -> LineResult:
    """A line the mock failed on: rejected, nothing applied, its neighbours go on.

    `INDISPONIBLE`, AGORA's code for its own failure: the line may be sent again. Only the
    error's type is said: its message could quote the line's personal data.
    """
    message = f"erreur du mock sur cette ligne ({type(error).__name__}); rien n'est appliqué"
    return LineResult(_reference_of(line), REJETE, erreurs=(Erreur("", INDISPONIBLE, message),))


def compte_rendu_line(number: int, result: LineResult) -> bytes:
    return dumps(
        {
            "ligne": number,
            "reference_financeur": result.reference_financeur,
            "resultat": result.resultat,
            "id_agora": result.id_agora,
            "erreurs": [erreur.to_json() for erreur in result.erreurs],
        }
    )


class Lots:
    def __init__(self, state: MockState) -> None:
        self._state = state
        self._lots: dict[str, Lot] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sequence = 0

    def submit(self, *, client_id: str, key: str, body: bytes, request_id: str | None) -> Lot:
        state = self._state
        fingerprint = raw_fingerprint("POST /lots", body)
        replayed = state.keys.replay(client_id, key, fingerprint)
        if replayed is not None:
            state.stats.rejeux_idempotents += 1
            return self._lots[replayed]
        lines = split_lines(body)
        self._sequence += 1
        lot = Lot(f"LT{self._sequence:012d}", lines, request_id, nb_lignes=len(lines))
        self._lots[lot.id_lot] = lot
        state.keys.remember(client_id, key, fingerprint, lot.id_lot)
        state.stats.lots += 1
        self._start(lot)
        return lot

    def get(self, id_lot: str) -> Lot:
        lot = self._lots.get(id_lot)
        if lot is None:
            raise Probleme(404, LOT_INCONNU, f"aucun lot {id_lot}")
        return lot

    def compte_rendu(self, id_lot: str) -> bytes:
        lot = self.get(id_lot)
        if lot.statut != TRAITE:
            raise Probleme(409, LOT_NON_TRAITE, f"le lot est {lot.statut}")
        lines = (compte_rendu_line(number, result) for number, result in enumerate(lot.results, 1))
        return b"\n".join(lines) + b"\n"

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Cancel the lots still processing and wait until they have stopped."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_all(self) -> None:
        """Until every lot submitted so far is processed (for tests and the benchmark)."""
        await asyncio.gather(*self._tasks)

    def _start(self, lot: Lot) -> None:
        task = asyncio.get_running_loop().create_task(self._process(lot))
        # The loop keeps only weak references to tasks: hold it until it is done.
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("mock.lot.failed", exc_info=task.exception())

    async def _process(self, lot: Lot) -> None:
        await asyncio.sleep(self._state.lot_delay_s / 2)
        lot.statut = EN_COURS
        await asyncio.sleep(self._state.lot_delay_s / 2)
        for start in range(0, len(lot.lines), CHUNK_LINES):
            self._apply(lot, lot.lines[start : start + CHUNK_LINES])
            await asyncio.sleep(0)
        lot.lines = []
        lot.statut = TRAITE

    def _apply(self, lot: Lot, lines: list[str]) -> None:
        state = self._state
        at, today = state.clock(), state.today()
        for number, line in enumerate(lines, len(lot.results) + 1):
            try:
                result = process_line(
                    state, line, at=at, today=today, request_id=lot.request_id, id_lot=lot.id_lot
                )
            except Exception as error:  # one line must never stop its lot (issue 6)
                _log.error("mock.lot.line_failed", extra={"ligne": number, "id_lot": lot.id_lot})
                result = failed_line(line, error)
            lot.results.append(result)
            lot.counts[result.resultat] += 1
            state.stats.lignes_lot[result.resultat] += 1
