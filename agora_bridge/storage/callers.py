"""Callers of the HTTP API (organisations with a role) and their API keys.

A key is `agb_<id>_<secret>`: the id is public (it names the key in logs and in `keys
revoke`), the secret is 256 random bits of which only the SHA-256 is stored. A slow password
hash (bcrypt, argon2) protects guessable secrets; a random 256-bit secret cannot be guessed,
so one SHA-256 is as safe and keeps the check far below the orientation API's 50 ms p99.

Functions here only flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora_bridge.errors import OperatorError
from agora_bridge.snapshots.siret import is_valid_siret
from agora_bridge.storage.models import CleApi, Organisation

KEY_PREFIX = "agb"
_KEY_ID_HEX = 12
_SECRET_BYTES = 32
# Compared when the key id is unknown, so that an unknown id costs the same as a bad secret.
_NO_HASH = "0" * 64


class Role(StrEnum):
    REGION_SI = "REGION_SI"
    OPS = "OPS"
    ORGANISME = "ORGANISME"
    PRESCRIPTEUR = "PRESCRIPTEUR"


class StructureType(StrEnum):
    FRANCE_TRAVAIL = "FRANCE_TRAVAIL"
    MISSION_LOCALE = "MISSION_LOCALE"
    CAP_EMPLOI = "CAP_EMPLOI"
    CONSEIL_DEPARTEMENTAL = "CONSEIL_DEPARTEMENTAL"
    AUTRE = "AUTRE"


class CallerError(OperatorError):
    """An organisation or key the operator asked for is invalid or unknown."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the organisation behind a valid key, as a route handler sees it."""

    organisation_id: str
    name: str
    role: Role
    key_id: str
    siret: str | None = None
    structure_code: str | None = None
    structure_type: StructureType | None = None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as read from the database: its hash, whether it is revoked, its owner."""

    secret_hash: str
    revoked: bool
    caller: Caller


@dataclass(frozen=True, slots=True)
class NewOrganisation:
    name: str
    role: Role
    siret: str | None = None
    structure_code: str | None = None
    structure_type: StructureType | None = None

    def check(self) -> None:
        """Each role carries exactly its identifiers (the database checks it again)."""
        if not self.name.strip():
            raise CallerError("the organisation needs a name (--nom)")
        if (self.role is Role.ORGANISME) != (self.siret is not None):
            raise CallerError("a SIRET (--siret) is given for, and only for, role ORGANISME")
        if self.siret is not None and not is_valid_siret(self.siret):
            raise CallerError("--siret is not a valid SIRET (14 digits, Luhn checksum)")
        prescripteur = self.role is Role.PRESCRIPTEUR
        if prescripteur != (self.structure_code is not None and self.structure_type is not None):
            raise CallerError(
                "a structure code and type (--code, --type) are given for, and only for, "
                "role PRESCRIPTEUR"
            )


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    well_formed = prefix == KEY_PREFIX and len(key_id) == _KEY_ID_HEX and secret
    return (key_id, secret) if well_formed else None


def matches(stored_hash: str | None, secret: str) -> bool:
    """Constant-time comparison of the secret's hash with the stored one."""
    return hmac.compare_digest(stored_hash or _NO_HASH, secret_hash(secret))


async def add_organisation(session: AsyncSession, new: NewOrganisation, *, now: datetime) -> str:
    new.check()
    organisation = Organisation(
        id=str(uuid.uuid4()),
        name=new.name.strip(),
        role=new.role.value,
        siret=new.siret,
        structure_code=new.structure_code,
        structure_type=new.structure_type.value if new.structure_type else None,
        created_at=now,
    )
    session.add(organisation)
    await session.flush()
    return organisation.id


async def list_organisations(session: AsyncSession) -> list[Organisation]:
    result = await session.scalars(select(Organisation).order_by(Organisation.created_at))
    return list(result)


async def create_key(session: AsyncSession, organisation_id: str, *, now: datetime) -> str:
    """A new key for the organisation; the whole key is returned once and never stored."""
    if await session.get(Organisation, organisation_id) is None:
        raise CallerError(f"no organisation with id {organisation_id}")
    key_id = secrets.token_hex(_KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    row = CleApi(
        id=key_id,
        organisation_id=organisation_id,
        secret_hash=secret_hash(secret),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return f"{KEY_PREFIX}_{key_id}_{secret}"


async def revoke_key(session: AsyncSession, key_or_id: str, *, now: datetime) -> str:
    """Revoke by the whole key or its id; returns the key id. Revoking twice is harmless."""
    parts = split_key(key_or_id)
    key_id = parts[0] if parts else key_or_id
    row = await session.get(CleApi, key_id)
    if row is None or (parts is not None and not matches(row.secret_hash, parts[1])):
        raise CallerError("no such API key")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    return key_id


async def load_key(session: AsyncSession, key_id: str) -> StoredKey | None:
    """The key with this id and its organisation, revoked or not."""
    statement = (
        select(CleApi, Organisation)
        .join(Organisation, Organisation.id == CleApi.organisation_id)
        .where(CleApi.id == key_id)
    )
    found = (await session.execute(statement)).one_or_none()
    if found is None:
        return None
    key, organisation = found
    return StoredKey(key.secret_hash, key.revoked_at is not None, _caller(organisation, key.id))


def _caller(organisation: Organisation, key_id: str) -> Caller:
    structure_type = organisation.structure_type
    return Caller(
        organisation_id=organisation.id,
        name=organisation.name,
        role=Role(organisation.role),
        key_id=key_id,
        siret=organisation.siret,
        structure_code=organisation.structure_code,
        structure_type=StructureType(structure_type) if structure_type else None,
    )
