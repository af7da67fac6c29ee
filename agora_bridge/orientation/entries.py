"""The CDC's 3-working-day rule for the entries declared here (`ouiform.md`).

An `ENTREE` is compared with the Région dossier of the same candidate and session once one
with an entry date arrives. It is late when declared here more than 3 working days after the
entry happened (the Région dossier's date when matched, else the date declared here); it is
missing from the Région when, 3 working days after that date, no such dossier has come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from agora_bridge.orientation.working_days import working_days_after

DELAI_JOURS_OUVRES = 3


class Ecart(StrEnum):
    DECLARATION_TARDIVE = "DECLARATION_TARDIVE"
    SANS_DOSSIER_REGION = "SANS_DOSSIER_REGION"


@dataclass(frozen=True, slots=True)
class EntreeDeclaree:
    orientation_id: str
    date_entree: date  # as declared here
    declaree_le: date  # the day it was declared here (Paris)
    dossier_date_entree: date | None  # the matched Région dossier's, None before a match


def ecarts(entree: EntreeDeclaree, today: date) -> list[Ecart]:
    happened = entree.dossier_date_entree or entree.date_entree
    found = []
    if working_days_after(happened, entree.declaree_le) > DELAI_JOURS_OUVRES:
        found.append(Ecart.DECLARATION_TARDIVE)
    waited = working_days_after(entree.date_entree, today)
    if entree.dossier_date_entree is None and waited > DELAI_JOURS_OUVRES:
        found.append(Ecart.SANS_DOSSIER_REGION)
    return found
