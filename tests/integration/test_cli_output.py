"""What a person sees from the command line: one line per event, in one format at a time
(text on a terminal or a pipe, JSON lines when asked or on Lambda), and usage errors as one
line with exit code 2, never a traceback.

Every command runs in a process of its own: through pipes, and through a pseudo-terminal
(Python's ``pty``) where the terminal matters.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgcdc.storage import open_store
from tests.integration.capture_support import settings_env

pytestmark = pytest.mark.integration

# What a capture's summary line ends with (cdc_reader.capture.CaptureResult.describe); the
# terminal's progress bar never says it.
SUMMARY = re.compile(r"captured \d+ changes? \(.*\) in \d+ batch(es)?.*; slot \w+ at [0-9A-F]+/")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without any log-format choice, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGCDC_LOG_FORMAT", "COLUMNS")}
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    return {**env, **extra}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgcdc.pipeline.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _run_on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on one pseudo-terminal; (exit code, what it showed,
    without the terminal's escape sequences)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgcdc.pipeline.cli", *args],
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the last holder of the terminal closed it
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = proc.wait(timeout=300)
    text = b"".join(chunks).decode(errors="replace").replace("\r", "")
    return code, ANSI.sub("", text)


@pytest.fixture
def capture_env(pg_dsn: str, slot_name: str, tmp_path: Path) -> dict[str, str]:
    """A source with a table and a slot (the first capture made it); each test's capture
    then has changes to store."""
    raw = open_store(str(tmp_path / "raw"))
    env = _env(**settings_env(pg_dsn, raw, slot_name))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE said (id int PRIMARY KEY, v text)")
        assert _run("capture", env=env).returncode == 0
        conn.execute("INSERT INTO said SELECT g, 'v' FROM generate_series(1, 50) g")
    return env


def test_a_pipe_gets_each_event_once_as_text(capture_env: dict[str, str]) -> None:
    """Not on a terminal and not asked for JSON: the summary once on stdout, no JSON."""
    run = _run("capture", env=capture_env)
    assert run.returncode == 0, run.stderr
    assert len(SUMMARY.findall(run.stdout)) == 1, run.stdout
    assert not SUMMARY.search(run.stderr), run.stderr
    assert not [line for line in run.stderr.splitlines() if line.startswith("{")], run.stderr


def test_a_terminal_gets_each_event_once_as_text(capture_env: dict[str, str]) -> None:
    code, shown = _run_on_terminal("capture", env=capture_env)
    assert code == 0, shown
    assert len(SUMMARY.findall(shown)) == 1, shown
    assert '{"ts"' not in shown and "wrote changes" not in shown, shown


@pytest.mark.parametrize(
    ("how", "flags", "extra"),
    [
        ("flag", ("--log-format", "json"), {}),
        ("setting", (), {"PGCDC_LOG_FORMAT": "json"}),
        ("lambda", (), {"AWS_LAMBDA_FUNCTION_NAME": "pgcdc-capture"}),
    ],
)
def test_json_lines_when_asked_or_on_lambda(
    capture_env: dict[str, str], how: str, flags: tuple[str, ...], extra: dict[str, str]
) -> None:
    """JSON asked for (flag, setting) or implied (Lambda): every line of output is one JSON
    object, and the capture's summary is one of them, once."""
    run = _run("capture", *flags, env={**capture_env, **extra})
    assert run.returncode == 0, run.stderr
    lines = (run.stdout + run.stderr).splitlines()
    docs = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    summaries = [d for d in docs if SUMMARY.search(str(d.get("message")))]
    assert len(summaries) == 1, f"{how}: {lines}"
    assert summaries[0]["level"] == "INFO" and summaries[0]["rows"] == 50


def test_a_terminal_with_json_asked_gets_json_only(capture_env: dict[str, str]) -> None:
    """A terminal does not override the choice, and no progress bar breaks the lines."""
    code, shown = _run_on_terminal("capture", "--log-format", "json", env=capture_env)
    assert code == 0, shown
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines and all(json.loads(line) for line in lines), shown
    assert sum(1 for line in lines if SUMMARY.search(line)) == 1, shown


# --- usage errors -----------------------------------------------------------------------


def _one_error_line(run: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr holding ``phrases``; returns it."""
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def test_query_of_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sql"
    run = _run("query", "-f", str(missing), "--raw-uri", str(tmp_path / "raw"), env=_env())
    _one_error_line(run, str(missing), "cannot read")


@pytest.mark.parametrize("store", ["missing", "empty"])
def test_query_on_an_empty_raw_store_says_so_and_what_fills_it(tmp_path: Path, store: str) -> None:
    raw = tmp_path / "raw"
    if store == "empty":
        raw.mkdir()
    flags = ("--raw-uri", str(raw), "--processed-uri", str(tmp_path / "processed"))
    run = _run("query", "SELECT count(*) FROM sales_order", *flags, env=_env())
    line = _one_error_line(run, str(raw), "holds no captured table yet", "pgcdc snapshot")
    assert "sqlite_master" not in line
    if store == "empty":  # a query that needs no captured table still runs
        fine = _run("query", "SELECT 41 + 1 AS answer", *flags, "--format", "csv", env=_env())
        assert fine.returncode == 0 and fine.stdout == "answer\n42\n", fine.stderr


def test_a_bad_flag_exits_2_before_doing_anything(tmp_path: Path) -> None:
    """argparse's usage error through a real process (tests/unit/test_cli_usage.py has the
    flags one by one): exit 2, the flag named, nothing created."""
    env = _env(PGCDC_DATA_DIR=str(tmp_path / "data"), PGCDC_RAW_URI=str(tmp_path / "raw"))
    run = _run("snapshot", "--workers", "0", env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "argument --workers: 0 is out of range" in run.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "data").exists() and not (tmp_path / "raw").exists()


NO_SOURCE = "host=127.0.0.1 port=1 dbname=none connect_timeout=2"


@pytest.mark.parametrize(
    ("args", "settings", "phrase"),
    [
        (("query", "--format", "table", "-o", "x.csv", "SELECT 1"), {}, "--format table"),
        (("query", "SELEC 1"), {}, "syntax error"),
        (("snapshot", "--table", "a.b.c"), {"PGCDC_SOURCE_DSN": NO_SOURCE}, "a.b.c"),
        (("capture",), {"PGCDC_RAW_URI": "http://example.com/raw"}, "raw_uri"),
        (("status",), {}, "no source database"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], settings: dict[str, str], phrase: str
) -> None:
    """Usage errors the commands find (settings, SQL, names): one line, exit 2."""
    env = _env(PGCDC_DATA_DIR=str(tmp_path / "data"), PGCDC_RAW_URI=str(tmp_path / "raw"))
    env = {k: v for k, v in env.items() if k not in ("PGCDC_SOURCE_DSN", "PGCDC_SLOT")}
    _one_error_line(_run(*args, env={**env, **settings}), phrase)
