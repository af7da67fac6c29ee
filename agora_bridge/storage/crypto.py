"""Encryption at rest of a stagiaire's identity (AES-256-GCM, several keys for rotation), the
NIR's HMAC blind index and other keyed digests of personal data.

Nothing here puts a NIR or a key into a message: errors name the setting or the key id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from agora_bridge.errors import OperatorError
from agora_bridge.settings import ConfigurationError, Settings
from agora_bridge.snapshots.nir import normalise_nir

NIR_KEYS_SETTING = "AGORA_BRIDGE_NIR_KEYS"
NIR_INDEX_KEY_SETTING = "AGORA_BRIDGE_NIR_INDEX_KEY"

# DEMO AND TESTS ONLY. Public, so worthless as secrets: `NirCrypto.from_settings` refuses
# them in production. They decode to readable ASCII so that nobody mistakes them for real keys.
DEMO_NIR_KEYS = "demo:YWdvcmEtYnJpZGdlLWRlbW8ta2V5LU5PVC1TRUNSRVQ="
DEMO_NIR_INDEX_KEY = "YWdvcmEtYnJpZGdlLWRlbW8taWR4LU5PVC1TRUNSRVQ="

_KEY_BYTES = 32
_NONCE_BYTES = 12  # the size GCM is designed for; random per encryption
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL_32_BYTES = re.compile(r"[A-Za-z0-9_-]{43}=?")


class NirDecryptionError(OperatorError):
    """A stored identity (NIR, names, birth date) cannot be decrypted: unknown key id, or
    ciphertext not bound to this row."""


def row_aad(id_dossier: str) -> bytes:
    """Associated data binding a ciphertext to its row: copied to another row, it won't open."""
    return b"dossier:" + id_dossier.encode()


def decode_key(text: str, *, setting: str) -> bytes:
    if _BASE64URL_32_BYTES.fullmatch(text) is None:
        raise ConfigurationError(f"{setting}: a key is not 32 bytes in base64url")
    # 43 base64url characters always decode to exactly 32 bytes.
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by id, newest first: new ciphertexts use the first one."""

    # repr=False: a key ring printed in a traceback must not show the keys.
    keys: tuple[tuple[str, bytes], ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """`KEY_ID:BASE64URL_32_BYTES`, comma-separated, newest first."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        if not entries:
            raise ConfigurationError(f"{NIR_KEYS_SETTING} holds no key")
        keys = tuple(_parse_entry(number, entry) for number, entry in enumerate(entries, 1))
        if len({key_id for key_id, _ in keys}) != len(keys):
            raise ConfigurationError(f"{NIR_KEYS_SETTING}: two keys share a key id")
        return cls(keys)

    @property
    def newest_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes:
        for candidate_id, key in self.keys:
            if candidate_id == key_id:
                return key
        raise NirDecryptionError(f"no key {key_id!r} in {NIR_KEYS_SETTING}")


def _parse_entry(number: int, entry: str) -> tuple[str, bytes]:
    key_id, separator, encoded = entry.partition(":")
    if not separator or _KEY_ID.fullmatch(key_id) is None:
        raise ConfigurationError(
            f"{NIR_KEYS_SETTING}: entry {number} is not KEY_ID:BASE64URL_32_BYTES"
        )
    return key_id, decode_key(encoded, setting=NIR_KEYS_SETTING)


class NirCrypto:
    """Encrypts NIRs for storage and computes their blind index; built once from Settings."""

    def __init__(self, key_ring: KeyRing, index_key: bytes) -> None:
        self._key_ring = key_ring
        self._index_key = index_key
        self._ciphers = {key_id: AESGCM(key) for key_id, key in key_ring.keys}

    def __repr__(self) -> str:
        return f"NirCrypto(newest_key_id={self.newest_key_id!r})"

    def __reduce__(self) -> tuple[type[NirCrypto], tuple[KeyRing, bytes]]:
        # For a worker process (the backfill's pool): its ciphers do not pickle, the keys do
        # and rebuild them. Only ever sent through a pipe to our own processes.
        return NirCrypto, (self._key_ring, self._index_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> NirCrypto:
        production = settings.mode == "production"
        keys_text = _secret(settings.nir_keys, NIR_KEYS_SETTING, DEMO_NIR_KEYS, production)
        index_text = _secret(
            settings.nir_index_key, NIR_INDEX_KEY_SETTING, DEMO_NIR_INDEX_KEY, production
        )
        key_ring = KeyRing.parse(keys_text)
        index_key = decode_key(index_text, setting=NIR_INDEX_KEY_SETTING)
        if any(key == index_key for _, key in key_ring.keys):
            # One key, two uses: a leak of either would expose both protections.
            raise ConfigurationError(
                f"{NIR_INDEX_KEY_SETTING} must differ from every key of {NIR_KEYS_SETTING}"
            )
        if production:
            _refuse_demo_keys(key_ring, index_key)
        return cls(key_ring, index_key)

    @property
    def newest_key_id(self) -> str:
        return self._key_ring.newest_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every configured key id, newest first: the ciphertexts this ring can open."""
        return tuple(key_id for key_id, _ in self._key_ring.keys)

    def encrypt(self, plaintext: str, *, aad: bytes) -> tuple[str, bytes]:
        """(key id, nonce + ciphertext + tag) under the newest key."""
        key_id = self.newest_key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return key_id, nonce + self._ciphers[key_id].encrypt(nonce, plaintext.encode(), aad)

    def decrypt(self, key_id: str, blob: bytes, *, aad: bytes) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise NirDecryptionError(f"no key {key_id!r} in {NIR_KEYS_SETTING}")
        try:
            plaintext = cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):  # ValueError: a blob too short to hold a nonce
            raise NirDecryptionError(
                f"a ciphertext under key {key_id!r} does not authenticate for its row"
            ) from None
        return plaintext.decode()

    def blind_index(self, nir: str) -> str:
        """Equal for equal NIRs however they were typed; useless without NIR_INDEX_KEY."""
        digest = hmac.new(self._index_key, normalise_nir(nir).encode(), hashlib.sha256)
        return digest.hexdigest()

    def keyed_digest(self, purpose: str, *parts: str) -> str:
        """HMAC-SHA256 (index key) of `parts`, hex. A JSON array is an unambiguous encoding,
        and one that starts with `[` and the purpose never equals a `blind_index` input (a
        NIR) nor a digest made for another purpose."""
        message = json.dumps([purpose, *parts], ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._index_key, message.encode(), hashlib.sha256).hexdigest()


def _secret(value: SecretStr | None, setting: str, demo: str, production: bool) -> str:
    text = value.get_secret_value().strip() if value is not None else ""
    if text:
        return text
    if production:
        raise ConfigurationError(
            f"{setting} is not set; production needs its own key (see `agora-bridge nir-keys new`)"
        )
    return demo


def _refuse_demo_keys(key_ring: KeyRing, index_key: bytes) -> None:
    demo_key = KeyRing.parse(DEMO_NIR_KEYS).keys[0][1]
    if any(key == demo_key for _, key in key_ring.keys):
        raise ConfigurationError(f"{NIR_KEYS_SETTING} holds the demo key, refused in production")
    if index_key == decode_key(DEMO_NIR_INDEX_KEY, setting=NIR_INDEX_KEY_SETTING):
        raise ConfigurationError(f"{NIR_INDEX_KEY_SETTING} is the demo key, refused in production")


def new_key_line(now: datetime | None = None) -> str:
    """A fresh `KEY_ID:BASE64URL` entry to put first in AGORA_BRIDGE_NIR_KEYS."""
    day = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"k{day}{secrets.token_hex(3)}:{encode_key(secrets.token_bytes(_KEY_BYTES))}"


def new_index_key() -> str:
    """A fresh BASE64URL_32_BYTES value for AGORA_BRIDGE_NIR_INDEX_KEY."""
    return encode_key(secrets.token_bytes(_KEY_BYTES))
