"""Typed settings: environment (``PGCDC_`` prefix), ``pgcdc.toml``, then defaults.

The names are a contract: scripts and other tools set them, so they stay stable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pgcdc.schemas.errors import ConfigurationError

_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")


def is_slot_name(name: str) -> bool:
    """Postgres' rule for replication slot names: 1-63 lower-case letters, digits and
    underscores. The one copy: settings and ``pgcdc check`` both ask it."""
    return _SLOT_NAME.fullmatch(name) is not None


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, list):
        return tuple(value)
    return value


_URI_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^@\n]*@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_uri(text: str) -> str:
    """Mask passwords, keep the rest readable: of URIs (``scheme://user:***@host``) and of
    ``password=`` parts of key=value DSNs, wherever they stand in ``text`` (a bare URI, or
    a driver's error message that quotes one)."""
    return _KV_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1***@", text))


# libpq's complaints about a connection string quote the part they could not parse, which
# may be (part of) the password: such a message must be replaced, never shown.
_CONNINFO_PHRASES = (
    "connection info string",
    "connection option",
    "in URI",
    "percent-encoded",
    "unexpected spaces found",
)

MALFORMED_CONNINFO = (
    "the connection string is malformed (libpq's message is not shown: it quotes the string, "
    "which may hold the password); check its key=value pairs or the URI's percent-encoding"
)


def is_conninfo_error(text: str) -> bool:
    """Whether a driver message (without SQLSTATE) is libpq failing to parse a DSN."""
    return any(phrase in text for phrase in _CONNINFO_PHRASES)


class Settings(BaseSettings):
    """Everything pgcdc needs to know, resolved once at start."""

    model_config = SettingsConfigDict(
        env_prefix="PGCDC_",
        toml_file="pgcdc.toml",
        extra="forbid",
        frozen=True,
    )

    source_dsn: SecretStr | None = Field(
        default=None,
        description="libpq DSN or URI of the source database. Holds the password: never logged.",
    )
    source_secret_id: str | None = Field(
        default=None,
        description="Secrets Manager secret id with host, port, username, password, dbname "
        "(used when source_dsn is not set).",
    )
    raw_uri: str = Field(
        default="./pgcdc-data/raw",
        description="Raw change store: a local folder or s3://bucket/prefix.",
    )
    processed_uri: str = Field(
        default="./pgcdc-data/processed",
        description="Processed store: a local folder or s3://bucket/prefix.",
    )
    warehouse_uri: SecretStr = Field(
        default=SecretStr("./pgcdc-data/warehouse.duckdb"),
        description="A DuckDB file path or a postgresql:// URI (may hold a password).",
    )
    warehouse_secret_id: str | None = Field(
        default=None,
        description="Secrets Manager secret id for a PostgreSQL warehouse's credentials.",
    )
    slot: str = Field(default="pgcdc", description="Logical replication slot name.")
    tables: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated schema.table glob patterns to capture."
    )
    exclude_tables: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated schema.table glob patterns to leave out."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (e.g. a local emulator)."
    )
    aws_region: str | None = Field(default=None, description="AWS region for S3 and Secrets.")
    max_slot_lag_bytes: int = Field(
        default=1 << 30,
        description="`pgcdc status` fails when the slot has more WAL than this not yet captured.",
    )
    max_freshness_seconds: float | None = Field(
        default=None,
        description="`pgcdc status` fails when the newest source commit visible in the "
        "warehouse is older than this (unset: not checked).",
    )
    model_dir: Path | None = Field(
        default=None,
        description="A folder of model .sql files (one per target) used instead of the "
        "star schema shipped in pgcdc/transformer/sql/ (unset: the shipped one).",
    )
    log_format: Literal["text", "json"] | None = Field(
        default=None,
        description="How the command line writes events: text lines, or one JSON object a "
        "line on stderr (unset: text, JSON on AWS Lambda). The --log-format flag overrides.",
    )
    data_dir: Path = Field(
        default=Path("./pgcdc-data"),
        description="Local working folder: the embedded demo cluster lives under it.",
    )

    @field_validator("slot")
    @classmethod
    def _check_slot(cls, value: str) -> str:
        if not is_slot_name(value):
            raise ValueError(
                f"invalid slot name {value!r}: use 1-63 characters of lower-case letters, "
                "digits and underscores (Postgres' rule for replication slot names)"
            )
        return value

    @field_validator("tables", "exclude_tables", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @model_validator(mode="after")
    def _check_stores(self) -> Settings:
        for name in ("raw_uri", "processed_uri"):
            value: str = getattr(self, name)
            if "://" in value and not value.startswith(("s3://", "file://")):
                raise ValueError(f"{name}: only local paths and s3:// URIs are supported")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) over environment over ``pgcdc.toml``."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def redacted(self) -> dict[str, Any]:
        """The resolved settings with every secret masked, for display."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = redact_uri(value.get_secret_value())
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings: flags (``overrides``, None values ignored) > environment > toml.

    Validation errors are reported without the offending values, which may be secrets.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
