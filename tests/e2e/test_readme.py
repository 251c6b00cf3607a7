"""Every code block of README.md and docs/operating.md runs, as written, against the demo.

The blocks are read from the documents when the tests are collected (tests/e2e/doc_blocks.py),
so a new or edited example is covered without touching this file; a block whose kind is not
known, or a command line that is neither run here nor in :data:`NOT_RUN_HERE`, fails.

The demo is what `make demo` leaves behind, built the same way but smaller and in-process: the
seeded totesys database on the test server, a snapshot (the slot starts there), a workload of
a fixed number of transactions, one capture, transform and load, under ``./pgcdc-data`` of a
folder of its own. Commands run in that folder through bash with the venv's ``pgcdc`` first
on PATH and only ``PGCDC_SOURCE_DSN`` and ``PGCDC_SLOT`` set, so the stores are the defaults a
user gets (``./pgcdc-data/raw``, ``./pgcdc-data/processed``, ``./pgcdc-data/warehouse.duckdb``).

- shell blocks: each line runs and exits 0 without an ERROR line; a `pgcdc query` prints at
  least one row; `--follow` commands and `pgcdc dashboard` run until their first cycle (or
  health answer) and must stop cleanly on SIGTERM; :data:`CHEAPER` shortens the few lines
  that would take a minute;
- console blocks: each ``$`` command runs, and its output matches the shown one up to the
  data's figures (:func:`tests.e2e.doc_blocks.output_differences`);
- SQL blocks: through `pgcdc query -f` and through DuckDB itself on the warehouse file (as
  `duckdb pgcdc-data/warehouse.duckdb` would), the same rows, at least one; a path into the
  raw store must reach exactly the objects a reader should use (snapshot parts included);
- Python blocks run; JSON blocks are log samples, each line an object with the documented
  fields; text blocks are either the layout (each path has a real counterpart) or a figure
  named in :data:`FIGURES`.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pgcdc.devtools.demo import init_demo, run_workload
from pgcdc.pipeline import config, service
from pgcdc.schemas import layout
from pgcdc.storage import open_store
from tests.e2e.artefacts import png_size, recording_problems
from tests.e2e.doc_blocks import (
    Block,
    UnclassifiedError,
    console_exchanges,
    fenced_blocks,
    first_word,
    output_differences,
    shell_lines,
    table_rows,
)
from tests.harness import PgServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "operating.md")

# Command lines not run here, and where they are run instead. Exactly these: every other
# command line of a document is run, and an entry no document uses any more fails too.
NOT_RUN_HERE = {
    "make demo": "installs, then runs `pgcdc demo run`: tests/e2e/test_demo_command.py",
    "make test": "the test suite itself",
    "pgcdc demo run": "tests/e2e/test_demo_command.py (its own cluster, ~1 min)",
    "pgcdc demo up": "tests/e2e/test_demo_command.py (a second cluster here would cost ~10 s)",
    "pgcdc demo down": "tests/e2e/test_demo_command.py (its fixture stops its cluster)",
}
# Text blocks that are figures (nothing to run), by the start of their first line.
FIGURES = frozenset({"source PostgreSQL ──wal2json──▶ cdc_reader ──Parquet──▶ raw store"})
# Command lines that start something: run where it starts (a running demo refuses them).
FROM_SCRATCH = {
    "pgcdc demo init --scale 1": "an empty database",
    "pgcdc snapshot --workers 2": "the demo database with a new slot and an empty raw store",
}
# What a line that would run for minutes (or take a fixed port) runs here instead.
CHEAPER = {
    "--duration 60": "--duration 2",
    "--scale 1": "--scale 0.02",
    "--port 8501": "--port {port}",
}
# The fields every JSON log line holds (docs/operating.md, "Log formats").
LOG_FIELDS = frozenset({"ts", "level", "logger", "message"})
WORKLOAD = 200  # transactions: inserts, updates and deletes of sales orders, staff moves
DEFAULT_SLOT = "pgcdc"  # the slot the documents' paths name


@dataclass(frozen=True)
class Example:
    """One thing a document shows: a command line, a console exchange, or a whole block."""

    block: Block
    kind: str
    text: str
    shown: str = ""
    line: int = 0
    """The example's own line in the document (its block's first line for a whole block)."""

    @property
    def where(self) -> str:
        return f"{self.block.document}:{self.line or self.block.line}"

    @property
    def id(self) -> str:
        head = self.text.split("#", 1)[0] if self.kind == "command" else self.text
        words = " ".join(head.split())
        return f"{self.where} {self.kind}: {words[:50]}"


def examples() -> list[Example]:
    """Every example of the documents, in order (an unknown block becomes an example that
    fails)."""
    found: list[Example] = []
    for path in DOCUMENTS:
        for block in fenced_blocks(path, str(path.relative_to(ROOT))):
            try:
                found += _split(block)
            except UnclassifiedError as exc:
                found.append(Example(block, "unclassified", str(exc)))
    return found


def _split(block: Block) -> list[Example]:
    kind = block.kind
    if kind == "shell":
        return [Example(block, "command", text, line=n) for n, text in shell_lines(block)]
    if kind == "console":
        return [
            Example(block, "console", e.command, e.shown, line=e.line)
            for e in console_exchanges(block)
        ]
    return [Example(block, kind, block.text)]


EXAMPLES = examples()


@dataclass(frozen=True)
class Demo:
    """The demo's folder (the commands' working folder), environment and source."""

    folder: Path
    env: dict[str, str]
    dsn: str
    slot: str
    server: PgServer
    databases: list[str]
    """Every database made for it, dropped (with their slots) at the end."""

    def scratch_env(self, command: str) -> dict[str, str]:
        """The environment where a :data:`FROM_SCRATCH` command starts."""
        if command.startswith("pgcdc demo init"):
            name = self.server.create_database("readme_init")
            self.databases.append(name)
            return {**self.env, "PGCDC_SOURCE_DSN": self.server.dsn(name)}
        fresh = f"t_{uuid.uuid4().hex[:12]}"
        return {**self.env, "PGCDC_SLOT": fresh, "PGCDC_RAW_URI": f"./scratch-{fresh}/raw"}

    @property
    def raw(self) -> Path:
        return self.folder / "pgcdc-data" / "raw"


@pytest.fixture(scope="module")
def demo(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`make demo`'s result, small: seeded, snapshot, workload, captured, transformed,
    loaded, under ./pgcdc-data of its folder."""
    name = pg_server.create_database("readme")
    dsn, slot = pg_server.dsn(name), f"t_{uuid.uuid4().hex[:12]}"
    folder = tmp_path_factory.mktemp("readme")
    data = folder / "pgcdc-data"
    settings = config.load_settings(
        source_dsn=dsn,
        raw_uri=str(data / "raw"),
        processed_uri=str(data / "processed"),
        warehouse_uri=str(data / "warehouse.duckdb"),
        data_dir=str(data),
        slot=slot,
    )
    init_demo(dsn, scale=0.02)
    service.take_snapshot(settings)
    run_workload(dsn, rate=0, duration=120, max_transactions=WORKLOAD)
    service.capture_once(settings, service.capture_options(settings))
    service.transform_once(settings)
    service.load_once(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGCDC_")}
    env.update(
        PGCDC_SOURCE_DSN=dsn,
        PGCDC_SLOT=slot,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",  # a long-running command's first line arrives at once
        HOME=str(folder / "home"),  # Streamlit keeps a machine id there
    )
    databases = [name]
    try:
        yield Demo(folder, env, dsn, slot, pg_server, databases)
    finally:
        for database in databases:
            pg_server.drop_database(database)


def test_documents_have_examples() -> None:
    """The extraction finds the documents' blocks (an empty list would test nothing)."""
    kinds = {e.kind for e in EXAMPLES}
    assert {"command", "console", "sql", "text"} <= kinds, kinds


def test_not_run_here_is_exactly_the_allow_list() -> None:
    """The command lines skipped here are exactly :data:`NOT_RUN_HERE`, each still in a
    document; each shortening of :data:`CHEAPER` is still used."""
    commands = [e.text for e in EXAMPLES if e.kind in ("command", "console")]
    for listed in (NOT_RUN_HERE, FROM_SCRATCH):
        used = {_words(c) for c in commands if _words(c) in listed}
        assert used == set(listed), f"no document has {set(listed) - used}"
    for long in CHEAPER:
        assert any(long in c for c in commands), f"no command uses {long!r} any more"


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_links_resolve_and_linked_artefacts_are_right() -> None:
    """Every relative link of the documents names a file; the committed artefacts are a PNG
    screenshot and a recording of `make demo` with its steps and closing block."""
    artefacts = []
    for path in DOCUMENTS:
        for link in LINK.findall(path.read_text(encoding="utf-8")):
            if "://" in link or link.startswith("mailto:"):
                continue
            target = (path.parent / link).resolve()
            assert target.exists(), f"{path.relative_to(ROOT)} links to {link}: no such file"
            if target.is_relative_to(ROOT / "test-artifacts"):
                artefacts.append(target)
    assert {p.suffix for p in artefacts} == {".png", ".txt"}, artefacts
    for artefact in artefacts:
        if artefact.suffix == ".png":
            width, _ = png_size(artefact.read_bytes())
            assert width >= 1000, f"{artefact}: {width} px wide"
        else:
            assert recording_problems(artefact.read_text()) == [], artefact


def _words(command: str) -> str:
    return " ".join(shlex.split(command, comments=True))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_example_runs(example: Example, demo: Demo) -> None:
    runner = RUNNERS.get(example.kind)
    if runner is None:
        pytest.fail(f"{example.where}: cannot run a {example.kind} example: {example.text}")
    runner(example, demo)


# ---- shell lines -------------------------------------------------------------------------


def run_command(example: Example, demo: Demo) -> None:
    command = example.text
    if _words(command) in NOT_RUN_HERE:
        return  # run elsewhere; test_not_run_here_is_exactly_the_allow_list keeps it honest
    if first_word(command) != "pgcdc":
        pytest.fail(f"{example.where}: {command!r} is neither pgcdc nor allow-listed")
    env = demo.scratch_env(_words(command)) if _words(command) in FROM_SCRATCH else demo.env
    port = _free_port()
    for long, short in CHEAPER.items():
        command = re.sub(re.escape(long) + r"(?!\S)", short.format(port=port), command)
    words = shlex.split(command, comments=True)
    if "--follow" in words or words[1] == "dashboard":
        _run_until_ready(command, demo, port if words[1] == "dashboard" else None)
        return
    done = _bash(command, demo, env)
    _succeeded(example, done)
    if words[1] == "query":
        assert table_rows(done.stdout), f"{example.where}: {command} gives no row"


def _bash(
    command: str, demo: Demo, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=demo.folder,
        env=env or demo.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _succeeded(example: Example, done: subprocess.CompletedProcess[str]) -> None:
    where = f"{example.where}: {example.text}"
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    for line in done.stderr.splitlines():
        assert not line.startswith(("ERROR", "Traceback")), f"{where}:\n{done.stderr}"


def _run_until_ready(command: str, demo: Demo, port: int | None) -> None:
    """Start a long-running command; once it has done one cycle (printed a line) or its
    page answers, SIGTERM must stop it cleanly (exit 0)."""
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=demo.folder,
        env=demo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if port is None:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # blocks until the first cycle's line
            assert first.strip(), f"{command}: ended without a line"
        else:
            _wait_healthy(port, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"{command} exited {proc.returncode} on SIGTERM:\n{out}{err}"
    assert "Traceback" not in err and "\nERROR" not in f"\n{err}", f"{command}:\n{err}"


def _wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the dashboard exited {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the dashboard never answered its health check")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---- console exchanges -------------------------------------------------------------------


def run_console(example: Example, demo: Demo) -> None:
    if _words(example.text) in NOT_RUN_HERE:
        return
    if first_word(example.text) != "pgcdc":
        pytest.fail(f"{example.where}: {example.text!r} is neither pgcdc nor allow-listed")
    done = _bash(example.text, demo)
    _succeeded(example, done)
    problems = output_differences(example.shown, done.stdout)
    assert not problems, (
        f"{example.where}: {example.text}\nshown:\n{example.shown}\n"
        f"got:\n{done.stdout}\n" + "\n".join(problems)
    )


# ---- SQL ---------------------------------------------------------------------------------


def run_sql(example: Example, demo: Demo) -> None:
    """Through `pgcdc query -f` and through DuckDB on the warehouse file: the same rows."""
    where = example.where
    path = demo.folder / f"block-{example.block.line}.sql"
    path.write_text(example.text)
    done = _bash(f"pgcdc query -f {shlex.quote(path.name)} --format csv", demo)
    _succeeded(example, done)
    through_pgcdc = sorted(csv.reader(io.StringIO(done.stdout)))
    assert len(through_pgcdc) > 1, f"{where}: no row through pgcdc query"
    direct = _duckdb_csv(example.text, demo)
    assert direct == through_pgcdc, f"{where}: DuckDB on the warehouse file gives {direct}"
    _reaches_every_raw_object(example, demo)


def _duckdb_csv(sql: str, demo: Demo) -> list[list[str]]:
    """The SQL in DuckDB with the warehouse file open (read-only), in the demo folder."""
    here = Path.cwd()
    os.chdir(demo.folder)  # the documents' paths are relative to it
    try:
        with duckdb.connect("pgcdc-data/warehouse.duckdb", read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            out = demo.folder / "direct.csv"
            con.sql(sql).write_csv(str(out), header=True)
    finally:
        os.chdir(here)
    return sorted(csv.reader(io.StringIO(out.read_text())))


RAW_PATH = re.compile(r"'(pgcdc-data/raw/[^']+)'")


def _reaches_every_raw_object(example: Example, demo: Demo) -> None:
    """Each table the SQL reads by path: the paths reach exactly its readable objects."""
    raw = open_store(str(demo.raw))
    reached: dict[str, set[str]] = {}
    for pattern in RAW_PATH.findall(example.text):
        for path in glob.glob(str(demo.folder / pattern)):
            key = Path(path).relative_to(demo.raw).as_posix()
            reached.setdefault(key.split("/", 1)[0], set()).add(key)
    for pattern in RAW_PATH.findall(example.text):
        table = pattern.removeprefix("pgcdc-data/raw/").split("/", 1)[0]
        want = set(layout.readable_objects(raw.list_keys(table + "/")))
        got = reached.get(table, set())
        assert got == want, (
            f"{example.where}: {pattern} misses {sorted(want - got)[:3]} and reaches "
            f"{sorted(got - want)[:3]}"
        )


# ---- Python, JSON, text ------------------------------------------------------------------


def run_python(example: Example, demo: Demo) -> None:
    done = subprocess.run(
        [sys.executable, "-c", example.text],
        cwd=demo.folder,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    _succeeded(example, done)


def check_json(example: Example, demo: Demo) -> None:
    """A log sample: one JSON object a line, with the fields every log line holds."""
    for line in example.text.splitlines():
        record = json.loads(line)
        assert set(record) >= LOG_FIELDS, f"{example.where}: {line} lacks {LOG_FIELDS}"


def check_text(example: Example, demo: Demo) -> None:
    """A figure named in FIGURES, or store paths each shaped like a real object's."""
    lines = [line.strip() for line in example.text.splitlines() if line.strip()]
    if lines[0].startswith(tuple(FIGURES)):
        return
    if not all(line.startswith("pgcdc-data/") for line in lines):
        pytest.fail(f"{example.where}: a text block neither a known figure nor paths")
    real = [
        p.relative_to(demo.folder).as_posix()
        for p in (demo.folder / "pgcdc-data").rglob("*")
        if p.is_file()
    ]
    for line in lines:
        shape = _path_shape(line.replace(f"/{DEFAULT_SLOT}/", f"/{demo.slot}/"))
        assert any(shape.fullmatch(p) for p in real), (
            f"{example.where}: no object of the demo is shaped like {line}"
        )


def _path_shape(example: str) -> re.Pattern[str]:
    """The example path with each digit or upper-case hex digit standing for any."""
    return re.compile(
        "".join("[0-9A-F]" if c in "0123456789ABCDEF" else re.escape(c) for c in example)
    )


RUNNERS = {
    "command": run_command,
    "console": run_console,
    "sql": run_sql,
    "python": run_python,
    "json": check_json,
    "text": check_text,
}
