"""A throwaway or local PostgreSQL cluster run from the installed server binaries.

Used by ``make demo`` (a cluster under ``./pgcdc-data/pg``) and by the test harness when no
``PGCDC_TEST_DSN`` and no Docker engine are available. Postgres refuses to run as root, so
when we are root every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pgcdc.schemas.errors import ConfigurationError

log = logging.getLogger(__name__)

SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "40",
    "max_wal_senders": "40",
    "max_connections": "200",
    "listen_addresses": "'127.0.0.1'",
    "fsync": "on",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "log_min_messages": "warning",
}


def bindir() -> Path:
    """The PostgreSQL server binaries' folder (``pg_config --bindir``)."""
    env = os.environ.get("PGCDC_PG_BINDIR")
    if env:
        return Path(env)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    for guess in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (guess / "initdb").exists():
            return guess
    raise ConfigurationError(
        "PostgreSQL server binaries not found: install them (apt-get install postgresql-15) "
        "or set PGCDC_PG_BINDIR"
    )


@functools.cache
def server_settings_known() -> frozenset[str]:
    """Names of the settings this server build knows (``postgres --describe-config``)."""
    out = subprocess.run(
        _as_server_user([str(bindir() / "postgres"), "--describe-config"]),
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(line.split("\t", 1)[0] for line in out.stdout.splitlines() if line)


def plugin_settings() -> dict[str, str]:
    """Settings that let wal2json be used as an output plugin on this server build.

    Newer security releases of some builds only accept the plugins listed in
    ``output_plugin_libraries`` (default ``pgoutput, test_decoding``).
    """
    if "output_plugin_libraries" in server_settings_known():
        return {"output_plugin_libraries": "'pgoutput, test_decoding, wal2json'"}
    return {}


def wal2json_installed(bin_dir: Path | None = None) -> bool:
    """Whether the wal2json plugin is in the server's library folder."""
    bin_dir = bin_dir or bindir()
    pg_config = bin_dir / "pg_config"
    exe = str(pg_config) if pg_config.exists() else (shutil.which("pg_config") or "pg_config")
    out = subprocess.run([exe, "--pkglibdir"], capture_output=True, text=True, check=True)
    return (Path(out.stdout.strip()) / "wal2json.so").exists()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class LocalCluster:
    """A PostgreSQL cluster in ``directory``, listening on ``127.0.0.1:port``.

    ``settings`` override :data:`SERVER_SETTINGS` (values as written in postgresql.conf).
    ``ensure_running`` is idempotent: it creates the cluster once and starts it if stopped.
    The superuser's password is generated at creation and kept in ``directory/.pgpass-dsn``
    (mode 0600); it is never printed.
    """

    directory: Path
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def _dsn_file(self) -> Path:
        return self.directory / "dsn"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URI for ``dbname`` (holds the password)."""
        base = self._dsn_file.read_text().strip()
        return base.rsplit("/", 1)[0] + "/" + dbname

    def ensure_running(self) -> LocalCluster:
        """Create the cluster if needed and start it if it is not running."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._create()
        if not self.is_running():
            self._ensure_plugin_settings()
            self._start()
        self.port = self._configured_port()
        return self

    def _configured_port(self) -> int:
        """The port the cluster was created with (kept in its DSN file)."""
        return int(self._dsn_file.read_text().rsplit(":", 1)[1].split("/")[0])

    def _ensure_plugin_settings(self) -> None:
        """Add the wal2json plugin settings a server upgrade may have started to require."""
        conf = self.data_dir / "postgresql.auto.conf"
        text = conf.read_text()
        wanted = {**plugin_settings(), **self.settings}
        missing = {k: v for k, v in plugin_settings().items() if f"\n{k} = " not in "\n" + text}
        if missing:
            with open(conf, "a") as out:
                out.write("".join(f"{k} = {wanted[k]}\n" for k in missing))

    def is_running(self) -> bool:
        """Whether the server is up."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            _as_server_user([str(bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _create(self) -> None:
        if not wal2json_installed():
            raise ConfigurationError(
                "the wal2json output plugin is not installed: "
                "apt-get install postgresql-15-wal2json (or your server's version)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        password = secrets.token_urlsafe(18)
        pwfile = self.directory / ".pw"
        pwfile.write_text(password)
        if os.geteuid() == 0:
            _check_reachable_by_postgres(self.directory)
            shutil.chown(self.directory, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            subprocess.run(
                _as_server_user(
                    [
                        str(bindir() / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        "postgres",
                        "--pwfile",
                        str(pwfile),
                        "--auth-host=scram-sha-256",
                        "--auth-local=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                capture_output=True,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise ConfigurationError(
                f"initdb failed in {self.data_dir}: {exc.stderr.decode(errors='replace')}"
            ) from exc
        finally:
            pwfile.unlink()
        port = self.port or free_port()
        self.port = port
        settings = {**SERVER_SETTINGS, **plugin_settings(), **self.settings}
        conf = "\n".join(f"{k} = {v}" for k, v in settings.items())
        conf += f"\nport = {port}\nunix_socket_directories = '{self.directory}'\n"
        with open(self.data_dir / "postgresql.auto.conf", "a") as out:
            out.write(conf)
        self._dsn_file.write_text(f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres")
        self._dsn_file.chmod(0o600)

    def _start(self) -> None:
        logfile = self.directory / "server.log"
        if os.geteuid() == 0 and not logfile.exists():
            logfile.touch()
            shutil.chown(logfile, "postgres", "postgres")
        result = subprocess.run(
            _as_server_user(
                [
                    str(bindir() / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(logfile),
                ]
            ),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
            raise ConfigurationError(f"cannot start PostgreSQL in {self.data_dir}:\n{tail}")
        self.port = self._configured_port()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                subprocess.run(
                    [str(bindir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise ConfigurationError(f"PostgreSQL in {self.data_dir} did not become ready")

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it runs."""
        if self.is_running():
            subprocess.run(
                _as_server_user(
                    [str(bindir() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.data_dir)]
                ),
                capture_output=True,
                check=True,
            )

    def destroy(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.directory)


def _check_reachable_by_postgres(directory: Path) -> None:
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(directory.parent)],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise ConfigurationError(
            f"the postgres user cannot reach {directory.parent}; PostgreSQL refuses to run as "
            "root, so its folder must be reachable by the postgres user (chmod o+x on the "
            "parent folders, or set PGCDC_DATA_DIR to a folder under /tmp)"
        )
