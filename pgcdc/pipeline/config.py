"""Loading settings and resolving credentials (environment, pgcdc.toml, Secrets Manager)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from pgcdc.schemas.errors import ConfigurationError
from pgcdc.schemas.settings import Settings

# re-exported (``X as X``: mypy's explicit form): the read side loads settings from schemas
from pgcdc.schemas.settings import load_settings as load_settings  # noqa: PLC0414
from pgcdc.schemas.tables import TableFilter

EMBEDDED_CLUSTER_DIR = "pg"


def table_filter(settings: Settings) -> TableFilter:
    """The include/exclude patterns as a filter."""
    return TableFilter(include=settings.tables, exclude=settings.exclude_tables)


def embedded_cluster_dir(settings: Settings) -> Path:
    """Where ``pgcdc demo up`` keeps the local demo cluster."""
    return settings.data_dir / EMBEDDED_CLUSTER_DIR


def source_dsn(settings: Settings) -> str:
    """The source connection string (holds the password: never log it).

    In order: ``source_dsn``; the Secrets Manager secret ``source_secret_id``; the embedded
    demo cluster started by ``pgcdc demo up``.
    """
    if settings.source_dsn is not None:
        return settings.source_dsn.get_secret_value()
    if settings.source_secret_id:
        return dsn_from_secret(settings.source_secret_id, settings.aws_region)
    dsn_file = embedded_cluster_dir(settings) / "dsn"
    if dsn_file.exists():
        return dsn_file.read_text().strip().rsplit("/", 1)[0] + "/totesys"
    raise ConfigurationError(
        "no source database: set PGCDC_SOURCE_DSN or PGCDC_SOURCE_SECRET_ID, "
        "or run `pgcdc demo up` for the local demo database"
    )


def warehouse_uri(settings: Settings) -> str:
    """The warehouse location (holds a password for PostgreSQL: never log it)."""
    if settings.warehouse_secret_id:
        return dsn_from_secret(settings.warehouse_secret_id, settings.aws_region)
    return settings.warehouse_uri.get_secret_value()


def dsn_from_secret(secret_id: str, region: str | None) -> str:
    """Build a libpq URI from a Secrets Manager secret (host, port, username, password, dbname).

    The endpoint follows the standard AWS environment (``AWS_ENDPOINT_URL`` for emulators).
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager", region_name=region)
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(f"cannot read secret {secret_id!r}: {exc}") from None
    return dsn_from_secret_document(raw, secret_id)


def dsn_from_secret_document(raw: str, secret_id: str) -> str:
    """The URI for a secret's JSON document; names missing keys, never values."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigurationError(f"secret {secret_id!r} is not a JSON document") from None
    if not isinstance(doc, dict):
        raise ConfigurationError(f"secret {secret_id!r} is not a JSON object")
    missing = [k for k in ("host", "username", "password", "dbname") if not doc.get(k)]
    if missing:
        raise ConfigurationError(f"secret {secret_id!r} lacks {', '.join(missing)}")
    user = quote(str(doc["username"]), safe="")
    password = quote(str(doc["password"]), safe="")
    port = int(doc.get("port") or 5432)
    dbname = quote(str(doc["dbname"]), safe="")
    return f"postgresql://{user}:{password}@{doc['host']}:{port}/{dbname}"
