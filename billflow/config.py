"""One settings object for every billflow process, read from `BILLFLOW_*` environment variables."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_DIR = Path(".billflow")

# The Fernet key the demo uses when none is configured. It only protects local demo data; the
# validator below refuses it for anything that is not the local development environment.
DEV_ENCRYPTION_KEY = "YmlsbGZsb3ctZGV2LW9ubHktZW5jcnlwdGlvbi1rZXk="
DEV_STRIPE_KEY = "sk_test_billflow_demo"
# The demo merchant's fixed API key (all scopes); the demo merchant is never created in production.
DEV_DEMO_API_KEY = "bf_0000000000de_billflow-local-demo-key-not-secret"


class Settings(BaseSettings):
    """Everything a billflow process can be told; every field has a local-stack default."""

    model_config = SettingsConfigDict(env_prefix="BILLFLOW_", env_file=".env", extra="ignore")

    environment: Annotated[str, Field(pattern="^(development|test|production)$")] = "development"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "billflow"
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    temporal_ui_port: Annotated[int, Field(ge=1, le=65535)] = 8233

    database_url: str = f"sqlite:///{STATE_DIR / 'ledger.db'}"

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str | None = None

    stripe_api_base: str | None = None
    stripe_secret_key: SecretStr = SecretStr(DEV_STRIPE_KEY)
    emulator_port: Annotated[int, Field(ge=1, le=65535)] = 12111
    # Requests/s each merchant may send to Stripe, shared by all workers (0 = no limit).
    # Stripe allows about 25/s in test mode and 100/s live; stay a little under.
    stripe_rate_limit_per_second: Annotated[float, Field(ge=0)] = 0

    encryption_key: SecretStr = SecretStr(DEV_ENCRYPTION_KEY)
    payload_key: SecretStr | None = None

    admin_token: SecretStr | None = None
    demo_api_key: SecretStr = SecretStr(DEV_DEMO_API_KEY)

    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464

    # Merchant notifications retry with exponential back-off for 3 days, from a first interval of 10 s
    # up to one an hour. A test stack (the chaos run) may shorten both; unset keeps production's.
    notify_retry_initial_seconds: Annotated[float, Field(gt=0)] | None = None
    notify_retry_max_seconds: Annotated[float, Field(gt=0)] | None = None

    three_ds_timeout_seconds: Annotated[int, Field(gt=0)] = 3600
    approval_timeout_seconds: Annotated[int, Field(gt=0)] = 3 * 24 * 3600

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("stripe_api_base", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.encryption_key.get_secret_value() == DEV_ENCRYPTION_KEY:
                raise ValueError("BILLFLOW_ENCRYPTION_KEY must be set to a real Fernet key in production")
            if self.stripe_api_base is not None:
                raise ValueError("BILLFLOW_STRIPE_API_BASE (the emulator) is not for production")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        if self.database_url.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")
        return self.database_url


def load_settings() -> Settings:
    """Read settings, turning a validation error into one readable line and exit code 2."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"BILLFLOW_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        sys.stderr.write(f"billflow: invalid settings: {problems}\n")
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
