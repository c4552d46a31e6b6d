"""Service settings: one place that reads ``TENANTFLOW_*`` from the environment (and ``.env``).

``tenantflow serve`` and the operator commands (``tenant``, ``user``, ``key``) read the same settings, so
they act on the database the server uses. The embedded default needs nothing configured: SQLite under
``./data/``, a keyring file created there on first use, in-process execution, memory rate limits.
With ``broker_url`` executions run on ``tenantflow worker`` processes instead (the queue mode).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # the store (SQLAlchemy, cryptography) loads only when a command needs it
    from tenantflow.store.secrets import Keyring

log = logging.getLogger("tenantflow")

KEYRING_FILE = "keyring"
RATE_LIMIT_PRESETS: dict[str, str] = {
    "login": "5/minute",
    "register": "3/minute",
    "list": "100/minute",
    "mutation": "50/minute",
    "public": "1000/hour",
    "bootstrap": "1/hour",
}


class ConfigurationError(Exception):
    """The settings cannot work together (for example PostgreSQL without a configured keyring)."""


class Settings(BaseSettings):
    """Every knob of the service, each documented in README's "Settings" table with its default."""

    model_config = SettingsConfigDict(env_prefix="TENANTFLOW_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLite or PostgreSQL URL; default sqlite under data_dir."
    )
    redis_url: str | None = Field(
        default=None, description="Redis for the warm cache, invalidation and exact rate limits."
    )
    secret_keys: SecretStr | None = Field(
        default=None, description="Keyring `id:base64key,…`, newest last; required with PostgreSQL."
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HMAC key for login tokens; default derived from the keyring."
    )
    jwt_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 86400)
    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded SQLite file and keyring live."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "info"
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    rate_limits: dict[str, str] = Field(default_factory=lambda: dict(RATE_LIMIT_PRESETS))
    rate_limits_enabled: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    bootstrap: bool = Field(
        default=True, description="Create a demo tenant, admin and key on an empty database."
    )
    execution_wait_seconds: float = Field(
        default=300.0, gt=0, description="How long `execute?wait=true` waits before answering 202."
    )
    allow_host_commands: bool = Field(
        default=False, description="Let n8n's Execute Command node run shell commands on this machine."
    )
    schedules_enabled: bool = Field(
        default=True, description="Run this process's schedule trigger host (any number of processes may)."
    )
    schedule_poll_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How soon enabling, disabling or editing a schedule counts."
    )
    broker_url: str | None = Field(
        default=None,
        description="amqp://… (RabbitMQ) or redis://… runs executions on `tenantflow worker` processes;"
        " none: inline.",
    )
    broker_queue: str = Field(
        default="tenantflow.executions",
        min_length=1,
        description="The queue (RabbitMQ) or list (Redis) executions go through.",
    )
    worker_concurrency: int = Field(
        default=16, ge=1, le=10_000, description="Executions one `tenantflow worker` runs at once."
    )
    tenant_concurrency: int | None = Field(
        default=None, ge=1, description="Executions one tenant runs at once on workers; none: no limit."
    )
    lease_seconds: float = Field(
        default=30.0, ge=3, le=3600, description="A worker's hold on an execution; renewed every third of it."
    )
    requeue_after_seconds: float = Field(
        default=15.0,
        gt=0,
        le=86_400,
        description="A queued execution nobody took is enqueued again after this.",
    )
    allow_private_network: bool = Field(
        default=False, description="Let HTTP nodes reach private, loopback and link-local addresses."
    )
    files_dir: Path | None = Field(
        default=None, description="The one directory file nodes may read and write; none: no disk access."
    )
    code_sandboxes_per_process: int | None = Field(
        default=None, ge=1, description="Code node sandboxes running at once in a process; default 2 per CPU."
    )
    code_sandboxes_per_execution: int = Field(
        default=4, ge=1, description="Code node sandboxes one execution runs at once; others wait their turn."
    )
    code_reply_max_mb: int = Field(
        default=16,
        ge=1,
        description="Largest Code node reply (result and logs, serialised) a sandbox may send.",
    )

    @field_validator("broker_url", mode="after")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        """``TENANTFLOW_BROKER_URL=`` (empty) means the inline mode, as unset does."""
        return value or None

    @field_validator("rate_limits", mode="after")
    @classmethod
    def _known_presets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(RATE_LIMIT_PRESETS)
        if unknown:
            raise ValueError(
                f"unknown rate-limit presets {sorted(unknown)}; known: {sorted(RATE_LIMIT_PRESETS)}"
            )
        return RATE_LIMIT_PRESETS | value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'tenantflow.db'}"

    @property
    def is_embedded(self) -> bool:
        """True on SQLite: the single-machine default that may create its own files."""
        return self.resolved_database_url.split(":", 1)[0].startswith("sqlite")

    def keyring(self) -> Keyring:
        """The secret keyring: configured, or on SQLite a 0600 file under ``data_dir`` made on first use.

        With PostgreSQL a missing keyring is an error rather than a silent default: several processes share
        that database and must share its keys, which a file on one machine cannot promise.
        """
        from tenantflow.store.secrets import Keyring

        if self.secret_keys is not None:
            try:
                return Keyring.from_spec(self.secret_keys.get_secret_value())
            except ValueError as error:
                raise ConfigurationError(f"TENANTFLOW_SECRET_KEYS: {error}") from None
        if not self.is_embedded:
            raise ConfigurationError(
                "TENANTFLOW_SECRET_KEYS is required with a server database: every API process and worker "
                "must decrypt the same secrets (generate one with `tenantflow keyring generate`)"
            )
        path = self.data_dir / KEYRING_FILE
        if path.exists():
            try:
                return Keyring.from_spec(path.read_text(encoding="utf-8").strip())
            except ValueError as error:
                raise ConfigurationError(f"{path}: {error}") from None
        keyring = Keyring.generate()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(keyring.spec() + "\n")
        log.warning("created a new secret keyring at %s (mode 0600); back it up with the database", path)
        return keyring

    def jwt_key(self, keyring: Keyring) -> bytes:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value().encode()
        return keyring.derive(b"tenantflow/jwt")
