"""Configuration: every variable of design.md §2, read once with pydantic-settings.

`load_settings()` is the only constructor used by the program; it turns any
validation failure into a `ConfigError` whose message is one line per problem,
each naming the environment variable, so the CLI can stop before serving.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.trusted_documents import ManifestError, TrustedDocuments

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
    # During a rotation: the old secret, still accepted for verification
    # (never used to sign) until it is removed.
    auth_jwt_previous_secret: SecretStr | None = None
    auth_jwks_url: str | None = None
    auth_jwt_issuer: str | None = None
    auth_jwt_audience: str | None = None
    metrics_token: SecretStr | None = None
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
    # The safety net under pushes (app/watching.py): each process re-checks
    # the versions of the intents its screens watch this often.
    watch_refresh_seconds: float = Field(default=10, gt=0, le=3600)
    qpay_max_checks_per_second: float = Field(default=5, gt=0)
    qpay_ledger_sweep_seconds: float = Field(default=300, gt=0)
    qpay_ebarimt_api: Literal["v2", "v3"] = "v2"
    qpay_connect_timeout_seconds: float = Field(default=5, gt=0)
    qpay_read_timeout_seconds: float = Field(default=10, gt=0)

    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_connections: int = Field(default=12_000, gt=0)
    max_websockets_per_address: int = Field(default=200, gt=0)
    websocket_idle_seconds: float = Field(default=30, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    # How often the intent gauges (qpay_intents, the oldest NEEDS_REVIEW and
    # overdue PENDING) are read from the database: one statement per process.
    metrics_refresh_seconds: float = Field(default=15, gt=0)

    # Tracing (app/tracing.py), OpenTelemetry's own variable names: on when
    # an OTLP endpoint is set or OTEL_ENABLED=true; OTEL_ENABLED=false or
    # OTEL_SDK_DISABLED=true turn it off. Needs the `otel` extra.
    otel_enabled: bool | None = None
    otel_sdk_disabled: bool = False
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_service_name: str = Field(default="qpay-graph", min_length=1)
    # The clinic's calendar: where the day's close starts and ends.
    clinic_time_zone: str = "Asia/Ulaanbaatar"
    # Only the documents of this allow-list run (the typed client's
    # persisted-documents.json); unset: any document (app/trusted_documents.py).
    graphql_trusted_documents: Path | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("environment", "qpay_env", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("allowed_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("clinic_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "must be an IANA time zone such as Asia/Ulaanbaatar"
            ) from None
        return value

    @field_validator("graphql_trusted_documents")
    @classmethod
    def _readable_allow_list(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                TrustedDocuments.load(value)
            except ManifestError as error:
                raise ValueError(str(error)) from None
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
        if value.startswith("redis://") and importlib.util.find_spec("redis") is None:
            raise ValueError(
                "redis://... needs the redis extra: pip install 'qpay-graph[redis]'"
            )
        if value == "postgres" or value.startswith(("redis://", "memory://")):
            return value
        raise ValueError("must be postgres, redis://host:port/db or memory://")

    @field_validator(
        "public_base_url",
        "qpay_base_url",
        "auth_jwks_url",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
    )
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
        previous = self.auth_jwt_previous_secret
        if previous is not None and len(previous.get_secret_value()) < 32:
            problems.append("AUTH_JWT_PREVIOUS_SECRET: must be at least 32 characters")
        if previous is not None and secret is None:
            problems.append(
                "AUTH_JWT_PREVIOUS_SECRET: only with AUTH_JWT_SECRET (the new one)"
            )
        metrics = self.metrics_token
        if metrics is not None and len(metrics.get_secret_value()) < 32:
            problems.append("METRICS_TOKEN: must be at least 32 characters")
        if self.qpay_env in ("sandbox", "live") and not self.has_qpay_credentials:
            problems.append(
                "QPAY_CLIENT_ID: QPAY_ENV="
                f"{self.qpay_env} needs QPAY_CLIENT_ID, QPAY_CLIENT_SECRET "
                "and QPAY_INVOICE_CODE"
            )
        problems += self._identity_provider_problems()
        if self.tracing_enabled and not otel_installed():
            problems.append(
                "OTEL_ENABLED: tracing is on (an OTLP endpoint or OTEL_ENABLED=true) "
                "but the otel extra is not installed: pip install 'qpay-graph[otel]', "
                "or set OTEL_ENABLED=false"
            )
        if self.is_production:
            problems += self._production_problems()
        elif self.qpay_env == "live":
            # Live money with a generated secret, CORS * and GraphiQL.
            problems.append("QPAY_ENV: live is refused outside ENVIRONMENT=production")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _identity_provider_problems(self) -> list[str]:
        problems: list[str] = []
        if self.auth_jwks_url is None:
            # iss/aud are checked on identity-provider tokens only; alone they
            # would look like protection and check nothing.
            problems += [
                f"{name}: needs AUTH_JWKS_URL (it is checked on identity-provider "
                "tokens only)"
                for name, value in (
                    ("AUTH_JWT_ISSUER", self.auth_jwt_issuer),
                    ("AUTH_JWT_AUDIENCE", self.auth_jwt_audience),
                )
                if value is not None
            ]
        elif self.is_production:
            if not self.auth_jwks_url.startswith("https://"):
                problems.append(
                    "AUTH_JWKS_URL: must be an https:// URL when "
                    "ENVIRONMENT=production (keys fetched in the clear can be "
                    "swapped)"
                )
            problems += [
                f"{name}: required with AUTH_JWKS_URL when ENVIRONMENT=production"
                for name, value in (
                    ("AUTH_JWT_ISSUER", self.auth_jwt_issuer),
                    ("AUTH_JWT_AUDIENCE", self.auth_jwt_audience),
                )
                if value is None
            ]
        return problems

    def _production_problems(self) -> list[str]:
        problems: list[str] = []
        if self.database_url is None:
            problems.append("DATABASE_URL: required when ENVIRONMENT=production")
        if self.auth_jwt_secret is None:
            problems.append("AUTH_JWT_SECRET: required when ENVIRONMENT=production")
        if self.qpay_env is None:
            # Unset would silently mean sandbox with credentials: say which.
            problems.append(
                "QPAY_ENV: required when ENVIRONMENT=production "
                "(sandbox or live, never implied)"
            )
        elif self.qpay_env == "mock":
            problems.append(
                "QPAY_ENV: mock (the QPay simulator) is refused when "
                "ENVIRONMENT=production"
            )
        if self.qpay_env in (None, "mock") and not self.has_qpay_credentials:
            problems.append(
                "QPAY_CLIENT_ID: production needs real QPay credentials "
                "(QPAY_CLIENT_ID, QPAY_CLIENT_SECRET, QPAY_INVOICE_CODE), "
                "not the simulator"
            )
        url = self.public_base_url
        if not url.startswith("https://"):
            problems.append(
                "PUBLIC_BASE_URL: must be an https:// URL when "
                "ENVIRONMENT=production (QPay calls it back; patients open it)"
            )
        host = _hostname(url)
        if host is None or is_local_host(host):
            problems.append(
                f"PUBLIC_BASE_URL: {host or 'no host'} is a loopback or "
                "unspecified address; QPay and patients cannot reach it"
            )
        return problems

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
    def tracing_enabled(self) -> bool:
        if self.otel_sdk_disabled or self.otel_enabled is False:
            return False
        return bool(
            self.otel_enabled
            or self.otel_exporter_otlp_endpoint
            or self.otel_exporter_otlp_traces_endpoint
        )

    @property
    def otel_traces_endpoint(self) -> str | None:
        """Where spans go: the traces endpoint as is, or the OTLP endpoint's
        /v1/traces; None for the SDK's default (localhost:4318)."""
        if self.otel_exporter_otlp_traces_endpoint is not None:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint is not None:
            return f"{self.otel_exporter_otlp_endpoint}/v1/traces"
        return None

    @property
    def resolved_allowed_origins(self) -> list[str]:
        if self.allowed_origins:
            return list(self.allowed_origins)
        return [] if self.is_production else ["*"]


def otel_installed() -> bool:
    """Whether the `otel` extra is importable (imports nothing of it but the
    parent packages find_spec needs; called only with tracing on)."""
    modules = (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    )
    try:
        return all(importlib.util.find_spec(name) is not None for name in modules)
    except ImportError:  # a parent package is missing
        return False


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname or None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def is_local_host(host: str) -> bool:
    """localhost, 127.0.0.0/8, ::1, 0.0.0.0 or :: (also IPv4-mapped)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


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
