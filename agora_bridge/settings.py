"""All configuration in one pydantic-settings tree (`AGORA_BRIDGE_` prefix, nested with `__`).

Built once at the edge (CLI, server) and passed down; tests build their own.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agora_bridge.errors import OperatorError
from agora_bridge.snapshots.model import Categorie

# The annex's list of what the reprise and the flows leave out (SI annex 2.1).
DEFAULT_EXCLUDED = frozenset(
    {
        Categorie.SANITAIRE_SOCIAL,
        Categorie.PSAD,
        Categorie.DETENUS,
        Categorie.REMUNERATION_CRP,
        Categorie.AIDE_INDIVIDUELLE,
        Categorie.VAE,
    }
)


# The bundled mock's credentials (`mocks/README.md`): fine for the demo and tests only.
DEMO_AGORA_CLIENT_ID = "agora-bridge-demo"
DEMO_AGORA_CLIENT_SECRET = "demo-secret-not-for-production"  # noqa: S105 - documented demo value


class ConfigurationError(OperatorError):
    """A setting is missing or unusable; the message names the setting, never its value."""


class AgoraSettings(BaseModel):
    base_url: str = "http://127.0.0.1:8900/agora/v2"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    cert_file: str | None = None
    key_file: str | None = None
    # A private CA for AGORA's server certificate (Interops-A partners often have one).
    ca_file: str | None = None
    timeout_s: float = 10.0
    max_rps: float = 50.0
    # The client's own retries (only where a blind retry is safe); the sync engine retries
    # the rest on its own schedule. A Retry-After above `retry_cap_s` is left to the engine.
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_s: float = Field(default=0.5, gt=0)
    retry_min_s: float = Field(default=0.25, gt=0)
    retry_cap_s: float = Field(default=10.0, gt=0)
    retry_budget_s: float = Field(default=20.0, gt=0)


class BackfillSettings(BaseModel):
    since: date = date(2017, 1, 1)
    lot_size: int = Field(default=5000, ge=1, le=10000)
    # Lots on AGORA at once; a lot's status is read after `poll_s`, then half as long again
    # each time, up to `poll_max_s`. AGORA's failures are waited out with the engine's backoff
    # (`SYNC__RETRY_BASE_S`, `SYNC__RETRY_CAP_S`).
    in_flight: int = Field(default=3, ge=1, le=16)
    poll_s: float = Field(default=0.5, gt=0)
    poll_max_s: float = Field(default=5.0, gt=0)


class PerimetreSettings(BaseModel):
    categories_exclues: Annotated[frozenset[Categorie], NoDecode] = DEFAULT_EXCLUDED

    @field_validator("categories_exclues", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # Operators write `VAE,PSAD` in an environment variable, not a JSON array.
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value


class SyncSettings(BaseModel):
    interval_s: float = Field(default=5.0, gt=0)
    # Dossiers worked on at once by one engine process (never two calls for one dossier).
    # 64 rather than 16: more records wait for each group commit, so fewer statements a call
    # (`bench.sync`, 2026-11-27 evening: 914-986 against 611-778 calls/s on PostgreSQL, 406
    # against 300 on SQLite); `AGORA__MAX_RPS` still bounds the rate towards AGORA.
    concurrency: int = Field(default=64, ge=1, le=256)
    # A claim's lease: longer than the longest call with the client's own retries
    # (timeout × attempts + budget), checked at start; renewed before every call.
    lease_s: float = Field(default=120.0, gt=0)
    # The engine's retries of what the client gave up on: exponential from `retry_base_s`,
    # ±20 % jitter, at most `retry_cap_s`; AGORA's Retry-After honoured up to
    # `retry_after_max_s`.
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_cap_s: float = Field(default=300.0, gt=0)
    retry_after_max_s: float = Field(default=3600.0, gt=0)
    # The circuit breaker: open after this many transient failures in a row, for this long
    # (doubled after each failed probe, up to the maximum).
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_pause_s: float = Field(default=5.0, gt=0)
    breaker_max_pause_s: float = Field(default=60.0, gt=0)


class ApiSettings(BaseModel):
    # The ingest route takes up to 1,000 snapshots (operations.md: 16 MiB); every other
    # route 1 MiB (ouiform.md).
    ingest_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_bytes: int = Field(default=1024 * 1024, ge=1024)
    ingest_max_items: int = Field(default=1000, ge=1, le=1000)
    # How long a replica may trust a key it looked up: a revocation must bite within 5 s.
    key_cache_ttl_s: float = Field(default=2.0, ge=0, le=4)
    # Each readiness check gives up after this long (a probe must answer, not hang).
    ready_timeout_s: float = Field(default=3.0, gt=0)
    # The ops page's browser sessions (agora_bridge/ops/session.py): the cookie's signing
    # secret (drawn at start when unset: sessions then end with the process) and lifetime.
    session_secret: SecretStr | None = None
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    # /metrics reads the database's gauges at most this often per process (a scrape open to
    # anyone must not be a way to load the database); the engine's counters are always live.
    metrics_cache_s: float = Field(default=5.0, ge=0, le=60)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGORA_BRIDGE_", env_nested_delimiter="__", extra="ignore"
    )

    # `production` refuses demo or missing secrets; `demo` and `test` accept them.
    mode: Literal["production", "demo", "test"] = "production"
    database_url: str = "sqlite:///agora_bridge.db"
    code_financeur: str = "REG52"
    nir_keys: SecretStr | None = None
    nir_index_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    agora: AgoraSettings = AgoraSettings()
    backfill: BackfillSettings = BackfillSettings()
    perimetre: PerimetreSettings = PerimetreSettings()
    sync: SyncSettings = SyncSettings()
    api: ApiSettings = ApiSettings()

    def agora_access(self) -> AgoraSettings:
        """AGORA's settings for a command that calls it; production refuses missing or demo
        credentials, naming the setting (never its value)."""
        if self.mode == "production":
            _require_real(
                "AGORA_BRIDGE_AGORA__CLIENT_ID", self.agora.client_id, DEMO_AGORA_CLIENT_ID
            )
            secret = self.agora.client_secret.get_secret_value()
            _require_real("AGORA_BRIDGE_AGORA__CLIENT_SECRET", secret, DEMO_AGORA_CLIENT_SECRET)
        return self.agora


def _require_real(setting: str, value: str, demo: str) -> None:
    if not value.strip():
        raise ConfigurationError(f"{setting} is not set")
    if value == demo:
        raise ConfigurationError(
            f"{setting} is the bundled mock's demo value, refused in production"
        )
