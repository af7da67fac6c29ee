"""Typed builders for the storage tests: each test states the values it cares about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import nir_key
from agora_bridge.storage.crypto import DEMO_NIR_INDEX_KEY, KeyRing, NirCrypto, decode_key

NIR_BODY = "1850578006084"  # a man born in May 1985
NIR = NIR_BODY + "91"
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

# Two test keys, "old" then "new", neither of them the demo key.
OLD_KEY = "old:" + "A" * 42 + "Q"
NEW_KEY = "new:" + "B" * 42 + "Q"


def nir(order: int) -> str:
    """A valid NIR of the same man per order number (1..999), for dossiers that differ."""
    body = f"1850578006{order:03d}"
    return body + nir_key(body)


def crypto(keys: str = OLD_KEY) -> NirCrypto:
    return NirCrypto(KeyRing.parse(keys), decode_key(DEMO_NIR_INDEX_KEY, setting="test"))


def snapshot(
    *, id_dossier: str = "PDL-TEST-1", version: int = 1, nir: str | None = NIR, **changes: Any
) -> Snapshot:
    data: dict[str, Any] = {
        "id_dossier": id_dossier,
        "version": version,
        "date_maj": "2026-11-20T10:00:00+01:00",
        "stagiaire": {
            "nir": nir,
            "nom_naissance": "Martin",
            "prenom": "Paul",
            "date_naissance": "1985-05-12",
            "sexe": "M",
            "niveau_entree": "4",
        },
        "programme": {
            "code": "PRG-1",
            "dispositif": "VISA_METIERS",
            "categorie": "QUALIFIANT",
            "interface_agora": True,
        },
        "organisme": {"siret": "73282932000074", "raison_sociale": "Organisme"},
        "action": {"numero": "20_1262663", "intitule": "Soudeur"},
        "session": {
            "numero": "S-1",
            "date_debut": "2026-09-01",
            "date_fin": "2027-03-31",
            "duree_heures": "840",
            "departement": "44",
        },
        "taux_horaire_cents": 1250,
        "statut": "VALIDE",
        "date_validation": "2026-08-20",
    }
    return Snapshot.model_validate(data | changes)
