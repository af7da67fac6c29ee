"""The end report of `agora-bridge backfill` (`operations.md`): what was read, what went in
lots, what AGORA said; built from the database, so a resumed run reports the whole reprise."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.backfill.outcomes import A_REPRENDRE, ACCEPTE, DOUBLON, REJETE
from agora_bridge.backfill.packing import PRET, REFUSE
from agora_bridge.backfill.reprise import Counts, Progress
from agora_bridge.storage.models import LotReprise


@dataclass
class Report:
    counts: Counts
    lots: int = 0
    lots_refuses: int = 0
    lots_en_cours: int = 0
    envoyes: int = 0
    acceptes: int = 0
    doublons: int = 0
    a_reprendre: int = 0
    rejetes: Counter[str] = field(default_factory=Counter)
    termine: bool = False
    dry_run: bool = False

    @property
    def retenus(self) -> Counter[str]:
        """Held by the classification, or by the planner when the lot was packed."""
        return self.counts.retenus + self.counts.retenus_au_lot

    @property
    def failed(self) -> bool:
        """Exit status 1: lines invalid in the file, or rejected by AGORA."""
        return bool(self.counts.invalides or sum(self.rejetes.values()))

    @property
    def envoyables(self) -> int:
        """Sendable dossiers (each once): set aside for the lots, or left to the engine."""
        return self.counts.mis_de_cote + self.counts.au_moteur

    @property
    def versions_anciennes(self) -> int:
        """Lines of a dossier that is counted under another (its newest) line, as `validate`
        counts its `doublons`."""
        c = self.counts
        classified = sum(c.exclus.values()) + sum(c.retenus.values()) + self.envoyables
        return c.lignes - c.invalides - classified

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "termine": self.termine,
            "dry_run": self.dry_run,
            "lignes": c.lignes,
            "invalides": c.invalides,
            "versions_anciennes": self.versions_anciennes,
            "exclus": dict(sorted(c.exclus.items())),
            "retenus": dict(sorted(self.retenus.items())),
            "envoyables": self.envoyables,
            "au_moteur": c.au_moteur + c.plus_envoyables,
            "lots": self.lots,
            "lots_en_cours": self.lots_en_cours,
            "lots_refuses": self.lots_refuses,
            "envoyes": self.envoyes,
            "acceptes": self.acceptes,
            "rejetes": dict(sorted(self.rejetes.items())),
            "doublons": self.doublons,
            "a_reprendre": self.a_reprendre,
        }


async def load(session: AsyncSession, progress: Progress) -> Report:
    report = Report(progress.counts, termine=progress.termine)
    rows = await session.execute(
        select(LotReprise.statut, LotReprise.nb_lignes, LotReprise.resultats).where(
            LotReprise.reprise_id == progress.id
        )
    )
    for statut, nb_lignes, resultats in rows:
        report.lots += 1
        if statut != PRET:  # a recorded lot AGORA may not have received yet
            report.envoyes += nb_lignes
        if statut == REFUSE:
            report.lots_refuses += 1
        if resultats is None:
            report.lots_en_cours += 1
            continue
        report.acceptes += resultats.get(ACCEPTE, 0)
        report.doublons += resultats.get(DOUBLON, 0)
        report.a_reprendre += resultats.get(A_REPRENDRE, 0)
        report.rejetes.update(resultats.get(REJETE, {}))
    return report
