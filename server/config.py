"""One settings object, read from the environment (``PILOTMON_*``) and an optional ``.env``."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.errors import ConfigError

# Used only in development; any other environment refuses to start with it.
DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "pilotmon"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PILOTMON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    secret_key: str = DEVELOPMENT_SECRET
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    access_token_minutes: int = Field(default=8 * 60, ge=1, le=60 * 24 * 30)
    enrolment_code_hours: int = Field(default=24, ge=1, le=24 * 7)
    max_push_mutations: int = Field(default=2000, ge=1)
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Offline bundles (``pilotmon import-bundle``): the most a bundle's list of mutations and
    # photos may hold once inflated, and the most all its entries may hold together. A bundle
    # over them is refused before anything is inflated (docs/cli.md).
    max_bundle_manifest_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    max_bundle_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=1024 * 1024)
    # An uploaded XLSForm (POST /api/v1/forms/import, pilotmon forms import): the file's size,
    # and what its sheets may hold once unzipped (docs/results.md#forms).
    max_xlsform_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    # A request body silent this long, or slower than this in all, is cut with 408; at most
    # this many bodies are read at once per worker (503 beyond). The total is sized for a
    # 1 MiB photo chunk over a poor 2G link (docs/deployment.md).
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    body_total_timeout_seconds: float = Field(default=600.0, gt=0, le=24 * 3600)
    max_concurrent_bodies: int = Field(default=64, ge=1, le=10_000)
    # A photo chunk whose body stays silent this long ends; the bytes that arrived are kept.
    upload_idle_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Exports and jobs (issue 5): a DHIS2 mapping file replacing the bundled example, the
    # IATI reporting organisation, and the thresholds of the stale-tablet and cleanup jobs.
    dhis2_mapping: Path | None = None
    iati_reporting_org_ref: str = "XM-DAC-41140"  # WFP's IATI organisation identifier
    iati_reporting_org_name: str = "World Food Programme"
    stale_tablet_days: int = Field(default=14, ge=1)
    # A tablet that has held data not yet on the server for longer than this needs a call
    # (the pending-tablets job flags it; docs/protocol.md#tablet-status).
    pending_tablet_days: int = Field(default=7, ge=1, le=3650)
    abandoned_upload_days: int = Field(default=7, ge=1)
    # Requests per minute per client address (logins, enrolment) and per device (sync); 0: off.
    rate_limit_auth_per_minute: int = Field(default=30, ge=0)
    rate_limit_sync_per_minute: int = Field(default=600, ge=0)
    # The interactive API docs (/api/v1/docs) and the OpenAPI schema behind them; a production
    # server that should not describe itself to strangers sets PILOTMON_API_DOCS=false.
    api_docs: bool = True
    # The private key that signs custody receipts: base64 of its 32 raw Ed25519 bytes. Unset,
    # the key lives in the data directory (``receipt_key``, made on first use or by
    # ``pilotmon init-db``) and ``pilotmon receipts rotate-key`` replaces it (docs/cli.md).
    receipt_key: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "PILOTMON_SECRET_KEY must be set to a long random value in production "
                "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("PILOTMON_SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'pilotmon.sqlite3'}"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def ensure_data_dir(self) -> None:
        """Create the data directory (and the attachments folder) or say why it cannot be."""
        try:
            # A new data directory is its owner's only: it holds the SQLite database (people,
            # password hashes, attendance), the photos and the receipt key.
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.attachments_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"data directory {self.data_dir} is not writable ({exc.strerror}); "
                "set PILOTMON_DATA_DIR to a folder you can write"
            ) from exc


# Settings whose value an error message must not repeat.
_SECRET_SETTINGS = frozenset({"secret_key", "receipt_key", "database_url"})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(settings_problem(exc)) from exc
    except ValueError as exc:
        raise ConfigError(f"configuration: {exc}") from exc


def settings_problem(exc: ValidationError) -> str:
    """One line for settings pydantic refused: the first bad one by its environment variable
    (``PILOTMON_LOG_LEVEL``), the value given and what it may be; then the others' names."""
    problems = exc.errors()
    names = [str(p["loc"][0]) for p in problems if p.get("loc")]
    first = problems[0]
    message = str(first.get("msg", exc)).removeprefix("Value error, ")
    if not first.get("loc"):  # a check of several settings together: its message names them
        return f"configuration: {message}"
    name = str(first["loc"][0])
    line = f"configuration: {_variable(name)}"
    given = first.get("input")
    if name not in _SECRET_SETTINGS and isinstance(given, str | int | float):
        shown = str(given)
        line += f" is {shown[:60] + '…' if len(shown) > 60 else shown!r}"
    allowed = _allowed(name)
    line += f": use {allowed}" if allowed else f": {message[:1].lower()}{message[1:]}"
    others = sorted({_variable(n) for n in names[1:] if n != name})
    if others:
        line += f" (also wrong: {', '.join(others)})"
    return line


def _variable(name: str) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def _allowed(name: str) -> str | None:
    """What a setting may be, in words: "one of DEBUG, INFO, …", "a whole number from 1 to 168"."""
    field = Settings.model_fields.get(name)
    if field is None:
        return None
    kind = field.annotation
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(kind))
    if kind is bool:
        return "true or false"
    if kind not in (int, float):
        return None
    bounds: dict[str, Any] = {}
    for rule in field.metadata:  # annotated_types' Ge(ge=1), Le(le=168), …
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(rule, bound, None) is not None:
                bounds[bound] = getattr(rule, bound)
    words = "a whole number" if kind is int else "a number"
    if "ge" in bounds and "le" in bounds:
        return f"{words} from {_number(bounds['ge'])} to {_number(bounds['le'])}"
    limits = [
        f"{label} {_number(bounds[bound])}"
        for bound, label in (
            ("ge", "at least"),
            ("gt", "above"),
            ("le", "at most"),
            ("lt", "below"),
        )
        if bound in bounds
    ]
    return f"{words} {' and '.join(limits)}" if limits else words


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
