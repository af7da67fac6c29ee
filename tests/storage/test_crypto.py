"""NIR encryption at rest and blind index: pure, no database."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from agora_bridge.settings import ConfigurationError, Settings
from agora_bridge.storage.crypto import (
    DEMO_NIR_INDEX_KEY,
    DEMO_NIR_KEYS,
    KeyRing,
    NirCrypto,
    NirDecryptionError,
    decode_key,
    new_index_key,
    new_key_line,
    row_aad,
)
from tests.storage.builders import NEW_KEY, NIR, NIR_BODY, OLD_KEY, crypto

INDEX_KEY = "C" * 42 + "Q"
Mode = Literal["production", "demo", "test"]
AAD = row_aad("PDL-1")


def settings(
    *, mode: Mode = "production", keys: str | None = None, index: str | None = None
) -> Settings:
    return Settings(
        mode=mode,
        nir_keys=SecretStr(keys) if keys is not None else None,
        nir_index_key=SecretStr(index) if index is not None else None,
    )


def test_a_nir_round_trips_under_the_newest_key() -> None:
    key_id, blob = crypto().encrypt(NIR, aad=AAD)
    assert key_id == "old"
    assert crypto().decrypt(key_id, blob, aad=AAD) == NIR


def test_each_encryption_draws_a_fresh_nonce() -> None:
    assert crypto().encrypt(NIR, aad=AAD)[1] != crypto().encrypt(NIR, aad=AAD)[1]


def test_a_ciphertext_opens_only_for_its_own_row() -> None:
    key_id, blob = crypto().encrypt(NIR, aad=row_aad("PDL-1"))
    with pytest.raises(NirDecryptionError) as error:
        crypto().decrypt(key_id, blob, aad=row_aad("PDL-2"))
    assert NIR not in str(error.value)


def test_a_tampered_ciphertext_is_refused() -> None:
    key_id, blob = crypto().encrypt(NIR, aad=AAD)
    with pytest.raises(NirDecryptionError):
        crypto().decrypt(key_id, blob[:-1] + bytes([blob[-1] ^ 1]), aad=AAD)


def test_an_unknown_key_id_is_named() -> None:
    key_id, blob = crypto(OLD_KEY).encrypt(NIR, aad=AAD)
    with pytest.raises(NirDecryptionError, match="'old'"):
        crypto(NEW_KEY).decrypt(key_id, blob, aad=AAD)


def test_older_keys_still_decrypt_after_a_new_key_is_put_first() -> None:
    key_id, blob = crypto(OLD_KEY).encrypt(NIR, aad=AAD)
    ring = crypto(f"{NEW_KEY}, {OLD_KEY}")
    assert ring.newest_key_id == "new"
    assert ring.decrypt(key_id, blob, aad=AAD) == NIR


@given(st.text(max_size=40), st.binary(max_size=40))
def test_any_text_round_trips(text: str, aad: bytes) -> None:
    key_id, blob = crypto().encrypt(text, aad=aad)
    assert crypto().decrypt(key_id, blob, aad=aad) == text


def test_the_blind_index_ignores_how_the_nir_was_typed() -> None:
    index = crypto().blind_index(NIR)
    assert re.fullmatch(r"[0-9a-f]{64}", index)
    assert crypto().blind_index("1 85 05 78-006.084 91") == index
    assert crypto().blind_index(NIR_BODY + "92") != index


def test_the_blind_index_depends_on_its_key() -> None:
    other = NirCrypto(KeyRing.parse(OLD_KEY), decode_key(INDEX_KEY, setting="test"))
    assert other.blind_index(NIR) != crypto().blind_index(NIR)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ",
        "no-separator",
        "bad id!:" + "A" * 43,
        "k1:tooshort",
        "k1:" + "A" * 44,
        "k1:" + "A" * 42 + "*",
        f"{OLD_KEY},{OLD_KEY}",
    ],
)
def test_a_malformed_key_list_names_the_setting_never_the_value(value: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        KeyRing.parse(value)
    assert "AGORA_BRIDGE_NIR_KEYS" in str(error.value)
    for part in re.split(r"[,:]", value):
        if len(part.strip()) > 8:
            assert part.strip() not in str(error.value)


def test_the_key_ring_repr_shows_no_key() -> None:
    ring = KeyRing.parse(OLD_KEY)
    assert "AAAA" not in repr(ring)
    assert "AAAA" not in repr(NirCrypto(ring, b"x" * 32))


def test_new_key_line_is_a_valid_key_list_entry() -> None:
    line = new_key_line()
    ring = KeyRing.parse(line)
    assert re.fullmatch(r"k[0-9]{8}[0-9a-f]{6}", ring.newest_id)
    assert len(ring.keys[0][1]) == 32
    assert new_key_line() != line


def test_new_index_key_is_32_bytes() -> None:
    assert len(decode_key(new_index_key(), setting="AGORA_BRIDGE_NIR_INDEX_KEY")) == 32


@pytest.mark.parametrize(
    ("keys", "index", "named"),
    [
        (None, INDEX_KEY, "AGORA_BRIDGE_NIR_KEYS"),
        ("  ", INDEX_KEY, "AGORA_BRIDGE_NIR_KEYS"),
        (OLD_KEY, None, "AGORA_BRIDGE_NIR_INDEX_KEY"),
        (DEMO_NIR_KEYS, INDEX_KEY, "AGORA_BRIDGE_NIR_KEYS"),
        (f"{OLD_KEY},{DEMO_NIR_KEYS}", INDEX_KEY, "AGORA_BRIDGE_NIR_KEYS"),
        (OLD_KEY, DEMO_NIR_INDEX_KEY, "AGORA_BRIDGE_NIR_INDEX_KEY"),
    ],
)
def test_production_refuses_missing_or_demo_secrets(
    keys: str | None, index: str | None, named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        NirCrypto.from_settings(settings(keys=keys, index=index))


def test_production_accepts_its_own_secrets() -> None:
    nir_crypto = NirCrypto.from_settings(settings(keys=f"{NEW_KEY},{OLD_KEY}", index=INDEX_KEY))
    assert nir_crypto.newest_key_id == "new"


def test_the_index_key_must_differ_from_the_encryption_keys() -> None:
    with pytest.raises(ConfigurationError, match="AGORA_BRIDGE_NIR_INDEX_KEY"):
        NirCrypto.from_settings(settings(keys=OLD_KEY, index=OLD_KEY.split(":")[1]))


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_demo_and_test_modes_fall_back_to_the_demo_keys(mode: Mode) -> None:
    nir_crypto = NirCrypto.from_settings(settings(mode=mode))
    assert nir_crypto.newest_key_id == "demo"
    key_id, blob = nir_crypto.encrypt(NIR, aad=AAD)
    assert nir_crypto.decrypt(key_id, blob, aad=AAD) == NIR


def test_the_demo_keys_say_what_they_are() -> None:
    assert KeyRing.parse(DEMO_NIR_KEYS).keys[0][1] == b"agora-bridge-demo-key-NOT-SECRET"
    assert decode_key(DEMO_NIR_INDEX_KEY, setting="x") == b"agora-bridge-demo-idx-NOT-SECRET"


def test_a_truncated_ciphertext_is_refused() -> None:
    with pytest.raises(NirDecryptionError):
        crypto().decrypt("old", b"short", aad=AAD)


def test_a_crypto_sent_to_another_process_decrypts_what_this_one_encrypted() -> None:
    import pickle

    from tests.storage.builders import NEW_KEY, OLD_KEY, crypto

    here = crypto(f"{NEW_KEY},{OLD_KEY}")
    there = pickle.loads(pickle.dumps(here))
    key_id, blob = here.encrypt("1850578006084", aad=b"dossier:PDL-1")
    assert there.decrypt(key_id, blob, aad=b"dossier:PDL-1") == "1850578006084"
    assert there.newest_key_id == "new"
    assert there.blind_index("185057800608448") == here.blind_index("185057800608448")
