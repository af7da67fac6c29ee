from __future__ import annotations

from datetime import date

import pytest
from pydantic import SecretStr

from agora_bridge.settings import (
    DEMO_AGORA_CLIENT_ID,
    DEMO_AGORA_CLIENT_SECRET,
    AgoraSettings,
    ConfigurationError,
    Settings,
)
from agora_bridge.snapshots.model import Categorie
from mocks.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def test_nested_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_PERIMETRE__CATEGORIES_EXCLUES", "VAE, PSAD")
    monkeypatch.setenv("AGORA_BRIDGE_BACKFILL__SINCE", "2018-01-01")
    monkeypatch.setenv("AGORA_BRIDGE_AGORA__TIMEOUT_S", "3.5")
    settings = Settings()
    assert settings.perimetre.categories_exclues == {Categorie.VAE, Categorie.PSAD}
    assert settings.backfill.since == date(2018, 1, 1)
    assert settings.agora.timeout_s == 3.5


def test_an_unknown_category_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_BRIDGE_PERIMETRE__CATEGORIES_EXCLUES", "VAE,NOPE")
    with pytest.raises(ValueError, match="categories_exclues"):
        Settings()


def agora(client_id: str, secret: str) -> AgoraSettings:
    return AgoraSettings(client_id=client_id, client_secret=SecretStr(secret))


@pytest.mark.parametrize(
    ("client_id", "secret", "setting"),
    [
        ("", "s3cret", "AGORA_BRIDGE_AGORA__CLIENT_ID"),
        ("region52", "", "AGORA_BRIDGE_AGORA__CLIENT_SECRET"),
        (DEMO_AGORA_CLIENT_ID, "s3cret", "AGORA_BRIDGE_AGORA__CLIENT_ID"),
        ("region52", DEMO_AGORA_CLIENT_SECRET, "AGORA_BRIDGE_AGORA__CLIENT_SECRET"),
    ],
)
def test_production_refuses_missing_or_demo_agora_credentials(
    client_id: str, secret: str, setting: str
) -> None:
    settings = Settings(mode="production", agora=agora(client_id, secret))
    with pytest.raises(ConfigurationError, match=setting) as refused:
        settings.agora_access()
    assert not secret or secret not in str(refused.value)


def test_demo_and_test_modes_accept_the_mocks_credentials() -> None:
    for mode in ("demo", "test"):
        settings = Settings(mode=mode, agora=agora(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
        assert settings.agora_access().client_id == DEMO_CLIENT_ID


def test_production_accepts_real_credentials() -> None:
    settings = Settings(mode="production", agora=agora("region52", "s3cret"))
    assert settings.agora_access().client_secret.get_secret_value() == "s3cret"
