"""AGORA's dossiers in memory, indexed so that no call scans them.

A dossier keeps its creation body as compact JSON bytes rather than as a pydantic object:
a backfill benchmark loads a million dossiers, and the objects would take several times the
memory. The few values the rules and the indexes need are kept beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from mocks.models import Creation, Titulaire
from mocks.problems import dumps
from mocks.rules import Cadre

VALIDE, ENTRE, SORTI, SOLDE, ANNULE = "VALIDE", "ENTRE", "SORTI", "SOLDE", "ANNULE"
STEPS = ("entree", "sortie", "solde", "annulation")
_CREATION_FIELDS = set(Creation.model_fields)


@dataclass(slots=True)
class Evenement:
    """One applied operation, as `historique` shows it."""

    operation: str
    horodatage: datetime
    request_id: str | None
    id_lot: str | None = None
    champs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "operation": self.operation,
            "horodatage": self.horodatage.isoformat(),
            "request_id": self.request_id,
        }
        if self.id_lot is not None:
            event["id_lot"] = self.id_lot
        if self.champs:
            event["champs"] = list(self.champs)
        return event


@dataclass(slots=True, eq=False)
class Dossier:
    id_agora: str
    code_financeur: str
    reference_financeur: str
    nir: str
    numero_session: str
    cadre: Cadre
    creation: bytes  # the creation body as AGORA holds it, compact JSON
    statut: str = VALIDE
    steps: dict[str, bytes] = field(default_factory=dict)  # "entree" → its body, compact JSON
    date_entree: date | None = None
    date_sortie: date | None = None
    historique: list[Evenement] = field(default_factory=list)

    def to_json_bytes(self) -> bytes:
        """The dossier as GET answers it; assembled from the stored JSON, never re-parsed."""
        head = f'{{"id_agora":"{self.id_agora}","statut":"{self.statut}",'.encode()
        steps = b"".join(b',"%s":%s' % (name.encode(), body) for name, body in self.steps.items())
        events = json.dumps([event.to_json() for event in self.historique], separators=(",", ":"))
        return head + self.creation[1:-1] + steps + b',"historique":' + events.encode() + b"}"

    def to_json(self) -> dict[str, Any]:
        content: dict[str, Any] = json.loads(self.to_json_bytes())
        return content

    def resultat(self) -> dict[str, str]:
        """The dossier as a search lists it."""
        return {
            "id_agora": self.id_agora,
            "code_financeur": self.code_financeur,
            "reference_financeur": self.reference_financeur,
            "statut": self.statut,
        }


def compact(body: BaseModel, fields: set[str] | None = None) -> bytes:
    """A body as stored: its JSON without nulls (an absent value and a null mean the same)."""
    return body.model_dump_json(exclude_none=True, include=fields).encode()


class Store:
    def __init__(self) -> None:
        self._dossiers: dict[str, Dossier] = {}
        self._by_key: dict[tuple[str, str], Dossier] = {}
        self._by_reference: dict[str, list[Dossier]] = {}
        self._by_nir_session: dict[tuple[str, str], list[Dossier]] = {}
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._dossiers)

    def __iter__(self) -> Iterator[Dossier]:
        # A copy: the caller may await between items while requests add dossiers.
        return iter(list(self._dossiers.values()))

    def get(self, id_agora: str) -> Dossier | None:
        return self._dossiers.get(id_agora)

    def existing(self, code_financeur: str, reference_financeur: str) -> Dossier | None:
        return self._by_key.get((code_financeur, reference_financeur))

    def by_reference(self, reference_financeur: str) -> list[Dossier]:
        return list(self._by_reference.get(reference_financeur, ()))

    def by_nir_session(self, nir: str, numero_session: str) -> list[Dossier]:
        return list(self._by_nir_session.get((nir, numero_session), ()))

    def add(self, creation: Creation) -> Dossier:
        """A new VALIDE dossier; the caller has checked that its key is free."""
        self._sequence += 1
        dossier = Dossier(
            id_agora=f"AG{self._sequence:012d}",
            code_financeur=creation.code_financeur,
            reference_financeur=creation.reference_financeur,
            nir=creation.titulaire.nir,
            numero_session=creation.session.numero,
            cadre=Cadre.of(creation),
            # A lot line is a Creation with steps: the creation body leaves them out.
            creation=compact(creation, _CREATION_FIELDS),
        )
        self._dossiers[dossier.id_agora] = dossier
        self._by_key[(dossier.code_financeur, dossier.reference_financeur)] = dossier
        self._by_reference.setdefault(dossier.reference_financeur, []).append(dossier)
        self._index_nir(dossier)
        return dossier

    def replace_titulaire(self, dossier: Dossier, titulaire: Titulaire) -> None:
        self._by_nir_session[(dossier.nir, dossier.numero_session)].remove(dossier)
        creation = json.loads(dossier.creation)
        creation["titulaire"] = titulaire.model_dump(mode="json")
        dossier.creation = dumps(creation)
        dossier.nir = titulaire.nir
        self._index_nir(dossier)

    def _index_nir(self, dossier: Dossier) -> None:
        self._by_nir_session.setdefault((dossier.nir, dossier.numero_session), []).append(dossier)
