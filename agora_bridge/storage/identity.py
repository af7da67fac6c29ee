"""A stagiaire's identity at rest: NIR, birth name, first name and birth date, encrypted
together in one blob per dossier row; the rest of the snapshot stays readable JSON.

The blob is AES-256-GCM under the key ring's newest key with the row's `id_dossier` as
associated data (`crypto.row_aad`), like every ciphertext of the bridge. Two blind indexes
find a person without decrypting: `nir_index` (the NIR) and `identite_index` (names and birth
date as AGORA receives them), both HMACs under NIR_INDEX_KEY.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agora_bridge.snapshots.model import Snapshot
from agora_bridge.snapshots.nir import normalise_nir
from agora_bridge.snapshots.normalise import agora_name
from agora_bridge.storage.crypto import NirCrypto, row_aad

# The stagiaire's fields that leave the payload for the encrypted blob.
PERSONAL_FIELDS = ("nir", "nom_naissance", "prenom", "date_naissance")


def split(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the payload without the personal fields, those fields): `payload` is left unchanged."""
    stagiaire = dict(payload["stagiaire"])
    identity = {name: stagiaire.pop(name, None) for name in PERSONAL_FIELDS}
    return {**payload, "stagiaire": stagiaire}, identity


def merged(payload: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    """The whole snapshot again: `split`'s inverse."""
    return {**payload, "stagiaire": {**payload["stagiaire"], **identity}}


@dataclass(frozen=True, slots=True)
class Sealed:
    """A person at rest: the encrypted blob, its key id and the two blind indexes."""

    key_id: str
    blob: bytes
    nir_index: str | None
    identite_index: str


def seal(person: dict[str, Any], *, nom: str, aad: bytes, crypto: NirCrypto) -> Sealed:
    """`person` (with `nir`, `prenom`, `date_naissance` and its birth name under `nom`)
    encrypted as one blob. The NIR is stored normalised (an invalid one too: a dossier is
    held, and may need it)."""
    raw = person["nir"]
    nir = normalise_nir(raw) if raw else None
    text = json.dumps({**person, "nir": nir or None}, ensure_ascii=False, separators=(",", ":"))
    key_id, blob = crypto.encrypt(text, aad=aad)
    return Sealed(
        key_id,
        blob,
        crypto.blind_index(nir) if nir else None,
        identite_index(crypto, person[nom], person["prenom"], person["date_naissance"]),
    )


def columns(id_dossier: str, identity: dict[str, Any], crypto: NirCrypto) -> dict[str, Any]:
    """The dossier row's identity columns."""
    sealed = seal(identity, nom="nom_naissance", aad=row_aad(id_dossier), crypto=crypto)
    return {
        "identite_ciphertext": sealed.blob,
        "identite_key_id": sealed.key_id,
        "nir_index": sealed.nir_index,
        "identite_index": sealed.identite_index,
    }


def snapshot_columns(snapshot: Snapshot, crypto: NirCrypto) -> dict[str, Any]:
    """The snapshot's `payload` without personal data, as JSON text (`split`'s first half,
    encoded), and its identity columns. Pydantic encodes it: a dict here would be dumped,
    then encoded again by the column's type, in the process that stores it (for the
    backfill's pool, the main one)."""
    payload = snapshot.model_dump_json(exclude=_EXCLUDED)
    # The whole stagiaire, then picked: `include` costs more than the few fields it skips.
    person = snapshot.stagiaire.model_dump(mode="json")
    identity = {name: person.get(name) for name in PERSONAL_FIELDS}
    return {"payload": payload, **columns(snapshot.id_dossier, identity, crypto)}


_EXCLUDED = {"stagiaire": set(PERSONAL_FIELDS)}


def decrypt(id_dossier: str, key_id: str, blob: bytes, crypto: NirCrypto) -> dict[str, Any]:
    """The identity in clear, for the AGORA request that needs it; NirDecryptionError if the
    key is gone or the blob is not this row's."""
    identity: dict[str, Any] = json.loads(crypto.decrypt(key_id, blob, aad=row_aad(id_dossier)))
    return identity


def identite_index(crypto: NirCrypto, nom_naissance: str, prenom: str, date_naissance: str) -> str:
    """Equal for one person however the names were typed (case, accents, spacing as AGORA's
    normalisation removes them): the orientation API's match when a candidate has no NIR."""
    return crypto.keyed_digest(
        "identite", agora_name(nom_naissance), agora_name(prenom), date_naissance
    )


def titulaire_index(
    crypto: NirCrypto,
    *,
    nir_index: str,
    nom_naissance: str,
    prenom: str,
    date_naissance: str,
    sexe: str,
) -> str:
    """A digest of the titulaire AGORA holds (values as AGORA holds them). Over the NIR's
    blind index rather than the NIR, so that it can be computed from a row that kept only
    the index (the migration of `etat_agora`)."""
    return crypto.keyed_digest("titulaire", nir_index, nom_naissance, prenom, date_naissance, sexe)
