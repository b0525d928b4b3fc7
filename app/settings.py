"""Configuration: every variable of design.md §2, read once with pydantic-settings.

`load_settings()` is the only constructor used by the program; it turns any
validation failure into a `ConfigError` whose message is one line per problem,
each naming the environment variable, so the CLI can stop before serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

QPAY_BASE_URLS = {
    "sandbox": "https://merchant-sandbox.qpay.mn/v2",
    "live": "https://merchant.qpay.mn/v2",
}


class ConfigError(Exception):
    """Bad configuration; the message names each offending variable."""


class Settings(BaseSettings):
    """The service's settings; build with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    data_dir: Path = Path(".data")
    events_url: str = "postgres"
    auth_jwt_secret: SecretStr | None = None
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_base_url: str = "http://127.0.0.1:8000"

    qpay_env: Literal["mock", "sandbox", "live"] | None = None
    qpay_base_url: str | None = None
    qpay_client_id: str | None = None
    qpay_client_secret: SecretStr | None = None
    qpay_invoice_code: str | None = None
    qpay_invoice_receiver_code: str = "terminal"
    qpay_invoice_ttl_seconds: int = Field(default=900, gt=0)
    qpay_poll_interval_seconds: float = Field(default=3, gt=0)
    qpay_poll_max_interval_seconds: float = Field(default=60, gt=0)
    qpay_max_checks_per_second: float = Field(default=5, gt=0)
    qpay_ledger_sweep_seconds: float = Field(default=300, gt=0)
    qpay_ebarimt_api: Literal["v2", "v3"] = "v2"
    qpay_connect_timeout_seconds: float = Field(default=5, gt=0)
    qpay_read_timeout_seconds: float = Field(default=10, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("environment", "qpay_env", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg://")
        return value

    @field_validator("events_url")
    @classmethod
    def _events_scheme(cls, value: str) -> str:
        if value == "postgres" or value.startswith(("redis://", "memory://")):
            return value
        raise ValueError("must be postgres, redis://host:port/db or memory://")

    @field_validator("public_base_url", "qpay_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems: list[str] = []
        if self.qpay_poll_max_interval_seconds < self.qpay_poll_interval_seconds:
            problems.append(
                "QPAY_POLL_MAX_INTERVAL_SECONDS: must not be below "
                "QPAY_POLL_INTERVAL_SECONDS"
            )
        secret = self.auth_jwt_secret
        if secret is not None and len(secret.get_secret_value()) < 32:
            problems.append("AUTH_JWT_SECRET: must be at least 32 characters")
        if self.qpay_env in ("sandbox", "live") and not self.has_qpay_credentials:
            problems.append(
                "QPAY_CLIENT_ID: QPAY_ENV="
                f"{self.qpay_env} needs QPAY_CLIENT_ID, QPAY_CLIENT_SECRET "
                "and QPAY_INVOICE_CODE"
            )
        if self.is_production:
            if self.database_url is None:
                problems.append("DATABASE_URL: required when ENVIRONMENT=production")
            if secret is None:
                problems.append("AUTH_JWT_SECRET: required when ENVIRONMENT=production")
            if self.resolved_qpay_env == "mock":
                problems.append(
                    "QPAY_ENV: production needs real QPay credentials "
                    "(QPAY_CLIENT_ID, QPAY_CLIENT_SECRET, QPAY_INVOICE_CODE), "
                    "not the simulator"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def has_qpay_credentials(self) -> bool:
        return bool(
            self.qpay_client_id and self.qpay_client_secret and self.qpay_invoice_code
        )

    @property
    def resolved_qpay_env(self) -> Literal["mock", "sandbox", "live"]:
        """QPAY_ENV, or `mock` when it is unset and no credentials are given."""
        if self.qpay_env is not None:
            return self.qpay_env
        return "sandbox" if self.has_qpay_credentials else "mock"

    @property
    def resolved_qpay_base_url(self) -> str:
        if self.qpay_base_url is not None:
            return self.qpay_base_url
        env = self.resolved_qpay_env
        return QPAY_BASE_URLS.get(env, "http://qpay-simulator/v2")

    @property
    def resolved_allowed_origins(self) -> list[str]:
        if self.allowed_origins:
            return list(self.allowed_origins)
        return [] if self.is_production else ["*"]


def _describe(error: ValidationError) -> str:
    lines: list[str] = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        message = str(item.get("msg", "invalid"))
        if not location:
            # Model-level checks already name their variable on each line.
            lines.extend(
                line.removeprefix("Value error, ") for line in message.splitlines()
            )
            continue
        variable = location[0].upper()
        lines.append(f"{variable}: {message.removeprefix('Value error, ')}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and `.env`); raise ConfigError naming what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # keyword overrides
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
