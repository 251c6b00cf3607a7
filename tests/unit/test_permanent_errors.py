"""Which failures are permanent (raised at once) and which are worth a brief retry.

Local store paths are classified by errno (on real files where the machine allows it), source
connection failures by libpq's text (on real connection attempts to a closed port and an
unknown host), and the state machine's list of never-retried error names is compared with
the error classes themselves.
"""

from __future__ import annotations

import errno
import importlib
import pkgutil
import re
import socket
from pathlib import Path

import psycopg
import pytest

from pgcdc.cdc_reader.source import translate
from pgcdc.schemas.errors import (
    SourceError,
    SourceUnreachableError,
    StorageDeniedError,
    StorageError,
    TerminalError,
    TransientError,
)
from pgcdc.storage import open_store
from pgcdc.storage.retries import is_permanent_local, storage_error

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-not-logged"

PERMANENT = [
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
    errno.ENAMETOOLONG,
]


@pytest.mark.parametrize("code", PERMANENT, ids=errno.errorcode.get)
@pytest.mark.parametrize("doing", ["write", "read", "list"])
def test_local_path_refusals_are_terminal(code: int, doing: str) -> None:
    exc = OSError(code, f"{errno.errorcode[code]} here", "/srv/raw/x")
    error = storage_error(exc, doing, "/srv/raw/x", local=True, store="raw store")
    assert isinstance(error, StorageDeniedError) and isinstance(error, TerminalError)
    assert not isinstance(error, TransientError)
    assert str(error).startswith(f"cannot {doing} /srv/raw/x (raw store): ")


def test_a_missing_path_is_terminal_only_when_writing() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/nope")
    assert is_permanent_local(missing, "write")
    assert not is_permanent_local(missing, "read")
    assert type(storage_error(missing, "read", "/proc/nope/x", local=True)) is StorageError


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EAGAIN, None])
def test_other_local_failures_stay_transient(code: int | None) -> None:
    exc = OSError(code, "disk trouble") if code is not None else OSError("no errno")
    assert type(storage_error(exc, "write", "/srv/raw/x", local=True)) is StorageError


def test_s3_errors_are_not_classified_by_errno() -> None:
    """An S3 failure carrying an errno (a socket's) is judged by its text, as before."""
    exc = OSError(errno.EACCES, "AWS Error NETWORK_CONNECTION during PutObject operation")
    assert type(storage_error(exc, "write", "s3://b/raw/x")) is StorageError


def test_writing_under_a_file_is_terminal_and_names_the_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = open_store(str(tmp_path / "file" / "raw"), name="raw store")
    with pytest.raises(StorageDeniedError) as raised:
        store.write_bytes("public.t/x.parquet", b"data")
    message = str(raised.value)
    assert f"cannot write {tmp_path}/file/raw/public.t/x.parquet (raw store): " in message
    assert "Not a directory" in message or "File exists" in message
    assert "\n" not in message


def test_writing_under_proc_is_terminal() -> None:
    store = open_store("/proc/pgcdc-nope", name="raw store")
    with pytest.raises(StorageDeniedError, match=r"cannot write /proc/pgcdc-nope/k \(raw store\)"):
        store.write_bytes("k", b"data")


def test_reading_a_missing_object_is_still_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(str(tmp_path / "raw")).read_bytes("nothing/here")


# --- source connections --------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect_error(dsn: str) -> psycopg.OperationalError:
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(dsn, connect_timeout=5)
    return raised.value


def test_connection_refused_is_unreachable_and_names_host_and_port() -> None:
    port = closed_port()
    exc = connect_error(f"host=127.0.0.1 port={port} user=u password={SECRET} dbname=d")
    error = translate(exc, "connecting to the source")
    assert isinstance(error, SourceUnreachableError) and isinstance(error, TransientError)
    assert str(error).startswith(f"connecting to the source: 127.0.0.1:{port}: ")
    assert "refused" in str(error).lower()
    assert SECRET not in str(error)


def test_unknown_host_name_is_terminal() -> None:
    exc = connect_error(f"host=pgcdc-no-such-host.invalid user=u password={SECRET} dbname=d")
    error = translate(exc, "connecting to the source")
    assert isinstance(error, SourceError) and not isinstance(error, TransientError)
    assert "pgcdc-no-such-host.invalid" in str(error) and "host name" in str(error)
    assert SECRET not in str(error)


@pytest.mark.parametrize(
    "text",
    [
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        'password authentication failed for user "cdc"',
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        'no pg_hba.conf entry for host "10.0.0.9", user "cdc", database "db", no encryption',
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        'role "cdc" does not exist',
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        'database "nope" does not exist',
        'could not translate host name "db.example" to address: Name or service not known',
        "failed to resolve host 'db.example': [Errno -3] Temporary failure in name resolution",
    ],
)
def test_refused_logins_and_unknown_hosts_are_terminal(text: str) -> None:
    error = translate(psycopg.OperationalError(text), "connecting to the source")
    assert isinstance(error, SourceError)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            'connection failed: connection to server at "db.example" (10.0.0.5), port 6543 '
            "failed: timeout expired",
            "db.example:6543",
        ),
        (
            "connection is bad: connection to server on socket "
            '"/run/postgresql/.s.PGSQL.1" failed: No such file or directory\n'
            "\tIs the server running locally?",
            "/run/postgresql/.s.PGSQL.1",
        ),
    ],
)
def test_timeouts_and_missing_sockets_are_unreachable(text: str, where: str) -> None:
    error = translate(psycopg.OperationalError(text), "connecting to the source")
    assert isinstance(error, SourceUnreachableError)
    assert f"connecting to the source: {where}: " in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "server closed the connection unexpectedly",
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
        "the database system is starting up",
    ],
)
def test_other_connection_failures_stay_transient(text: str) -> None:
    error = translate(psycopg.OperationalError(text), "reading changes")
    assert type(error) is TransientError


# --- the state machine's terminal error names ------------------------------------------------


def terminal_errors_default() -> set[str]:
    """The default of ``terminal_errors`` in the Terraform module."""
    text = (ROOT / "infra/modules/pgcdc/variables.tf").read_text()
    block = re.search(r'variable "terminal_errors" \{(.*?)\n\}', text, re.DOTALL)
    assert block is not None
    default = re.search(r"default\s*=\s*\[(.*?)\]", block.group(1), re.DOTALL)
    assert default is not None
    return set(re.findall(r'"(\w+)"', default.group(1)))


def terminal_classes() -> set[str]:
    """The names of ``TerminalError`` and every subclass the project's packages define."""
    for package in ("schemas", "storage", "cdc_reader", "transformer", "warehouse_loader"):
        module = importlib.import_module(f"pgcdc.{package}")
        for found in pkgutil.walk_packages(module.__path__, f"pgcdc.{package}."):
            importlib.import_module(found.name)
    importlib.import_module("pgcdc.pipeline.handlers")
    importlib.import_module("pgcdc.readside.query")
    names, todo = set(), [TerminalError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def transient_classes() -> set[str]:
    names, todo = set(), [TransientError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def test_the_state_machine_never_retries_exactly_the_terminal_errors() -> None:
    """Lambda reports an error by its class name; the state machine matches names exactly,
    so every terminal class must be listed (a subclass is not matched by its parent's name),
    and no transient one."""
    listed = terminal_errors_default()
    assert listed == terminal_classes()
    assert not listed & transient_classes()
    readme = (ROOT / "infra/README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `terminal_errors`"))
    assert set(re.findall(r"`(\w+Error)`", row)) == listed


def test_a_snapshot_worker_names_a_storage_failure_as_such() -> None:
    """The WARNING before a worker tries its chunk again says what failed."""
    from pgcdc.cdc_reader.snapshot import _what_failed

    storage = _what_failed(StorageError("cannot write s3://b/raw/x: AWS Error SLOW_DOWN"))
    assert "raw store" in storage and "connection" not in storage
    assert _what_failed(TransientError("server closed the connection")) == "lost its connection"
