"""The source DSN can come from a Secrets Manager secret (through the moto server over HTTP)."""

from __future__ import annotations

import json
import uuid

import boto3
import psycopg
import pytest

from pgcdc.pipeline import config
from pgcdc.schemas.errors import ConfigurationError
from tests.harness import S3Server

pytestmark = pytest.mark.integration


def test_source_dsn_from_secret_reaches_the_database(pg_dsn: str, s3_server: S3Server) -> None:
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    secret_id = f"pgcdc/test/{uuid.uuid4().hex[:8]}"
    doc = {
        "host": info["host"],
        "port": int(str(info["port"])),
        "username": info["user"],
        "password": info["password"],
        "dbname": info["dbname"],
    }
    client = boto3.client("secretsmanager", endpoint_url=s3_server.endpoint_url)
    client.create_secret(Name=secret_id, SecretString=json.dumps(doc))
    settings = config.load_settings(source_secret_id=secret_id)
    with psycopg.connect(config.source_dsn(settings)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (info["dbname"],)


def test_missing_secret_is_a_clear_configuration_error(s3_server: S3Server) -> None:
    settings = config.load_settings(source_secret_id="pgcdc/does-not-exist")
    with pytest.raises(ConfigurationError, match="cannot read secret 'pgcdc/does-not-exist'"):
        config.source_dsn(settings)
