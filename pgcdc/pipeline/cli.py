"""The ``pgcdc`` command line: parses flags, calls one service function, maps errors to exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pgcdc.cdc_reader import batchbounds as bounds
from pgcdc.pipeline import config, logs
from pgcdc.schemas.errors import ConfigurationError, PgcdcError, TerminalError, TransientError
from pgcdc.schemas.settings import Settings

if TYPE_CHECKING:
    from pgcdc.cdc_reader.preflight import CheckResult

log = logging.getLogger("pgcdc")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: a scheduler may simply run us again
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
LOG_FORMAT_ENV = "PGCDC_LOG_FORMAT"

Command = Callable[[argparse.Namespace, Settings], int]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-dsn", help="source DSN (else PGCDC_SOURCE_DSN / secret / demo)")
    parser.add_argument("--raw-uri", help="raw store: folder or s3://bucket/prefix")
    parser.add_argument("--processed-uri", help="processed store: folder or s3://bucket/prefix")
    parser.add_argument("--warehouse-uri", help="DuckDB file or postgresql:// URI")
    parser.add_argument("--slot", help="replication slot name")
    parser.add_argument("--tables", help="comma-separated schema.table patterns to capture")
    parser.add_argument("--exclude-tables", help="comma-separated patterns to leave out")
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        help="text (default) or json lines (also PGCDC_LOG_FORMAT; json on AWS Lambda)",
    )
    parser.add_argument(
        "--log-level", help="default INFO (in text without the steps' details, which INFO adds)"
    )


def _number(text: str, kind: type[int] | type[float], *, low: float, strict: bool) -> Any:
    """``text`` as ``kind``, at least (``strict``: above) ``low``; else argparse's usage
    error (exit 2)."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
    if not math.isfinite(value) or value < low or (strict and value == low):
        bound = "above" if strict else "at least"
        raise argparse.ArgumentTypeError(f"{text} is out of range: it must be {bound} {low:g}")
    return value


def _count(text: str) -> int:
    return int(_number(text, int, low=1, strict=False))


def _whole(text: str) -> int:
    return int(_number(text, int, low=0, strict=False))


def _positive(text: str) -> float:
    return float(_number(text, float, low=0, strict=True))


def _at_least_zero(text: str) -> float:
    return float(_number(text, float, low=0, strict=False))


def _port(text: str) -> int:
    port = int(_number(text, int, low=1, strict=False))
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return port


def _mib(size: int) -> str:
    """A byte count as ``N MiB`` (or bytes, when not whole mebibytes)."""
    return f"{size // 2**20:,} MiB" if size % 2**20 == 0 else f"{size:,} bytes"


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="pgcdc", description="Change data capture from PostgreSQL into a lake and warehouse."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("config", help="show the resolved settings, secrets masked")
    _add_common(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("check", help="preflight: is the source ready for safe capture?")
    _add_common(p)
    p.set_defaults(func=cmd_check)

    _add_source_commands(sub)
    _add_pipeline_commands(sub)
    _add_query_command(sub)
    _add_dashboard_command(sub)

    demo = sub.add_parser("demo", help="the local totesys demo database").add_subparsers(
        dest="demo_command", required=True, metavar="DEMO_COMMAND"
    )
    p = demo.add_parser("up", help="start the embedded PostgreSQL (under data_dir/pg)")
    _add_common(p)
    p.set_defaults(func=cmd_demo_up)
    p = demo.add_parser("down", help="stop the embedded PostgreSQL")
    _add_common(p)
    p.set_defaults(func=cmd_demo_down)
    p = demo.add_parser("init", help="create and seed the demo tables")
    _add_common(p)
    p.add_argument("--scale", type=_positive, default=1.0, help="growing tables × scale (2.5 y)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--reset", action="store_true", help="drop and recreate the demo tables")
    p.set_defaults(func=cmd_demo_init)
    p = demo.add_parser("workload", help="run the live demo workload")
    _add_common(p)
    p.add_argument(
        "--rate", type=_at_least_zero, default=20.0, help="transactions/second (0 = max)"
    )
    p.add_argument("--duration", type=_at_least_zero, default=30.0, help="seconds")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo_workload)
    p = demo.add_parser("run", help="what `make demo` runs: up, init, check, workload, pipeline")
    _add_common(p)
    p.add_argument("--scale", type=_positive, default=1.0)
    p.add_argument("--duration", type=_at_least_zero, default=10.0, help="workload seconds")
    p.add_argument("--rate", type=_at_least_zero, default=50.0, help="workload transactions/second")
    p.set_defaults(func=cmd_demo_run)
    return parser


def _add_source_commands(sub: Any) -> None:
    """``snapshot``, ``status`` and ``capture``: the commands that read the source."""
    p = sub.add_parser("snapshot", help="bootstrap: create the slot and copy every table as of it")
    _add_common(p)
    p.add_argument(
        "--table",
        action="append",
        default=[],
        help="re-snapshot this schema.table while capture runs (repeatable)",
    )
    p.add_argument("--workers", type=_count, default=2, help="parallel copy connections")
    p.add_argument("--chunk-pages", type=_count, default=2048, help="8 kB heap pages per chunk")
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("status", help="slot safety and capture lag (non-zero exit past limits)")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("capture", help="drain the slot's pending changes into the raw store")
    _add_common(p)
    p.add_argument("--follow", action="store_true", help="keep capturing, every --flush-every")
    p.add_argument(
        "--flush-every", type=_positive, default=900.0, help="seconds (default %(default)g)"
    )
    p.add_argument("--time-budget", type=_positive, help="stop cleanly after this many seconds")
    # no argparse default: an unset flag leaves CaptureOptions' own, which the help quotes
    p.add_argument(
        "--max-batch-rows",
        type=_count,
        help=f"rows per batch (default {bounds.MAX_BATCH_ROWS:,})",
    )
    p.add_argument(
        "--max-batch-bytes",
        type=_count,
        help=f"wal2json bytes per batch (default {_mib(bounds.MAX_BATCH_BYTES)})",
    )
    p.add_argument(
        "--max-batch-seconds",
        type=_positive,
        help=f"seconds a batch stays open (default {bounds.MAX_BATCH_SECONDS:g})",
    )
    p.add_argument("--no-create-slot", action="store_true", help="fail if the slot is missing")
    p.set_defaults(func=cmd_capture)


def _add_pipeline_commands(sub: Any) -> Any:
    """Add ``transform``, ``load`` and ``run`` to the subcommands; returns them."""
    p = sub.add_parser("transform", help="fold new raw changes into processed warehouse rows")
    _add_common(p)
    p.set_defaults(func=cmd_transform)

    p = sub.add_parser("load", help="apply processed batches to the warehouse")
    _add_common(p)
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("run", help="capture, transform and load once (or --follow)")
    _add_common(p)
    p.add_argument("--follow", action="store_true", help="keep running, every --every seconds")
    p.add_argument(
        "--every", type=_positive, default=900.0, help="seconds between runs (%(default)g)"
    )
    p.set_defaults(func=cmd_run)
    return sub


def _add_query_command(sub: Any) -> None:
    """``query``: SQL over the raw store, the processed store and the warehouse."""
    p = sub.add_parser("query", help="SQL over the lake: history, current state, as-of, warehouse")
    _add_common(p)
    p.add_argument("sql", nargs="?", help="SQL to run (none and no -f: an interactive prompt)")
    p.add_argument("-f", "--file", help="read the SQL from this file")
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], help="default: table")
    p.add_argument("--output", "-o", help="write the result to this file (format from suffix)")
    p.add_argument("--max-rows", type=_whole, default=40, help="rows a table shows (0: DuckDB's)")
    p.set_defaults(func=cmd_query)


def _settings_from(args: argparse.Namespace) -> Settings:
    return config.load_settings(
        source_dsn=getattr(args, "source_dsn", None),
        raw_uri=getattr(args, "raw_uri", None),
        processed_uri=getattr(args, "processed_uri", None),
        warehouse_uri=getattr(args, "warehouse_uri", None),
        slot=getattr(args, "slot", None),
        tables=getattr(args, "tables", None),
        exclude_tables=getattr(args, "exclude_tables", None),
    )


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the resolved settings as JSON, with passwords masked."""
    print(json.dumps(settings.redacted(), indent=2))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Run the preflight checks; non-zero exit when capture would be unsafe."""
    from pgcdc.cdc_reader.preflight import capture_is_safe, check_store, run_checks
    from pgcdc.pipeline import service

    results = run_checks(
        config.source_dsn(settings), slot=settings.slot, table_filter=config.table_filter(settings)
    )
    results.append(check_store(service.raw_store(settings)))
    for result in results:
        _say_check(result)
    safe = capture_is_safe(results)
    logs.say(
        "capture is safe" if safe else "capture would be UNSAFE: fix the FAIL lines above",
        safe=safe,
    )
    return EXIT_OK if safe else EXIT_FAILED


def _say_check(result: CheckResult) -> None:
    """One check as ``[FAIL] name: message`` (and its fix below it), or one JSON event."""
    status = result.status.value
    fix = result.fix if status != "ok" else None
    if logs.json_lines():
        logs.say(f"{result.name}: {result.message}", check=result.name, status=status, fix=fix)
        return
    logs.say(f"[{status.upper():4}] {result.name}: {result.message}")
    if fix:
        logs.say(f"fix: {fix}", indent=7)


def cmd_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the tables as of the slot's consistent point into the raw store."""
    from pgcdc.pipeline import service

    with _snapshot_progress() as progress:
        result = service.take_snapshot(
            settings,
            tables=tuple(args.table),
            workers=args.workers,
            chunk_pages=args.chunk_pages,
            progress=progress,
        )
    logs.say(result.describe())
    return EXIT_OK


@contextlib.contextmanager
def _snapshot_progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """One rich progress line per table (rows, MB) on a terminal; nothing otherwise."""
    if not sys.stderr.isatty() or logs.json_lines():  # a bar would break the JSON lines
        yield None
        return
    from rich.progress import Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    with Progress(
        TextColumn("{task.description}"), TransferSpeedColumn(), TimeElapsedColumn()
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(table: str, rows: int, size: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=None)
            bar.update(tasks[table], advance=size, description=f"{table}: {rows:,} rows")

        yield update


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the slot, table, transform, load and freshness figures; exit 1 when a threshold
    is crossed."""
    from pgcdc.pipeline import service
    from pgcdc.readside import status

    found = status.pipeline_status(
        config.source_dsn(settings),
        service.raw_store(settings),
        service.processed_store(settings),
        config.warehouse_uri(settings),
        settings,
    )
    status.report(found)
    if args.json:
        print(json.dumps(found.as_dict(), indent=2))
    else:
        from pgcdc.readside.status_report import print_report

        print_report(found, settings)
    return EXIT_FAILED if found.problems else EXIT_OK


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run SQL (argument or -f file) in a session with the lake's views, or a prompt."""
    from pgcdc.pipeline import service
    from pgcdc.readside import query

    sql = args.sql
    if args.file:
        sql = query.read_sql_file(args.file)
    fmt = query.output_format(args.format, args.output)
    session = query.open_session(
        service.raw_store(settings),
        service.processed_store(settings),
        config.warehouse_uri(settings),
        hold_warehouse=sql is not None,  # a prompt attaches it per statement (loads go on)
    )
    try:
        if sql is None:
            query.interactive(session, fmt=fmt, max_rows=args.max_rows)
            return EXIT_OK
        relation = query.run_sql(session.con, sql, empty_raw_store=session.empty_raw_store)
        if relation is not None:
            text = query.write_result(relation, fmt, args.output, max_rows=args.max_rows)
            if text is not None:
                sys.stdout.write(text)
    finally:
        session.close()
    return EXIT_OK


def cmd_capture(args: argparse.Namespace, settings: Settings) -> int:
    """Capture once (default) or continuously (--follow)."""
    from pgcdc.pipeline import service

    options = service.capture_options(
        settings,
        time_budget=args.time_budget,
        max_batch_rows=args.max_batch_rows,
        max_batch_bytes=args.max_batch_bytes,
        max_batch_seconds=args.max_batch_seconds,
        create_slot=False if args.no_create_slot else None,
    )
    if args.follow:
        service.capture_follow(
            settings,
            options,
            flush_every=args.flush_every,
            on_result=lambda r: logs.say(r.describe()),
        )
        return EXIT_OK
    with _capture_progress() as progress:
        result = service.capture_once(settings, options, progress=progress)
    logs.say(result.describe())
    return EXIT_OK


@contextlib.contextmanager
def _capture_progress() -> Iterator[Callable[[Any], None] | None]:
    """A rich progress line (rows, files, rate) on a terminal; nothing otherwise."""
    if not sys.stderr.isatty() or logs.json_lines():  # a bar would break the JSON lines
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("capturing")

        def update(result: Any) -> None:
            bar.update(
                task,
                description=f"captured {result.rows:,} changes in {result.files} files "
                f"({result.bytes_written / 1e6:.1f} MB)",
            )

        yield update


def cmd_transform(args: argparse.Namespace, settings: Settings) -> int:
    """Transform the changes captured since the last run."""
    from pgcdc.pipeline import service

    logs.say(service.transform_once(settings).describe())
    return EXIT_OK


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    """Load the processed batches not yet in the warehouse."""
    from pgcdc.pipeline import service

    logs.say(service.load_once(settings).describe())
    return EXIT_OK


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Capture → transform → load, once or repeatedly (--follow)."""
    from pgcdc.pipeline import service

    options = service.capture_options(settings)
    if args.follow:
        service.run_follow(settings, options, every=args.every, on_result=_say_lines)
        return EXIT_OK
    _say_lines(service.run_once(settings, options))
    return EXIT_OK


def _say_lines(lines: list[str]) -> None:
    for line in lines:
        logs.say(line)


def _add_dashboard_command(sub: Any) -> None:
    """``dashboard``: the web page over the warehouse."""
    p = sub.add_parser("dashboard", help="web dashboard over the warehouse (read-only, live)")
    _add_common(p)
    p.add_argument("--port", type=_port, default=8501, help="local port (8501)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument("--refresh", type=_positive, default=5.0, help="seconds between refreshes (5)")
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the dashboard until interrupted."""
    from pgcdc.readside.dashboard import server

    return server.serve(
        settings,
        warehouse_uri=config.warehouse_uri(settings),
        source_dsn=_dashboard_source(settings),
        port=args.port,
        refresh=args.refresh,
        address=args.address,
    )


def _dashboard_source(settings: Settings) -> str | None:
    """The source DSN for the page's slot figures; None (a WARNING says why) when there is
    none: the page still shows the warehouse."""
    try:
        return config.source_dsn(settings)
    except PgcdcError as exc:  # messages name the secret or the setting, never a password
        log.warning("the dashboard shows no slot figures: %s", exc)
        return None


def cmd_demo_up(args: argparse.Namespace, settings: Settings) -> int:
    """Start (creating if needed) the embedded cluster and its ``totesys`` database."""
    from pgcdc.devtools import demo_cluster

    cluster = demo_cluster.up(config.embedded_cluster_dir(settings))
    logs.say(
        f"PostgreSQL running in {cluster.directory} on 127.0.0.1:{cluster.port}",
        port=cluster.port,
    )
    return EXIT_OK


def cmd_demo_down(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the embedded cluster."""
    from pgcdc.devtools import demo_cluster

    demo_cluster.down(config.embedded_cluster_dir(settings))
    logs.say("PostgreSQL stopped")
    return EXIT_OK


def cmd_demo_init(args: argparse.Namespace, settings: Settings) -> int:
    """Create and seed the demo schema."""
    from pgcdc.devtools.demo import init_demo

    summary = init_demo(
        config.source_dsn(settings),
        scale=args.scale,
        seed=args.seed,
        reset=args.reset,
        progress=logs.say,
    )
    logs.say(summary.describe())
    return EXIT_OK


def cmd_demo_workload(args: argparse.Namespace, settings: Settings) -> int:
    """Run the live workload against the source."""
    from pgcdc.devtools.demo import run_workload

    summary = run_workload(
        config.source_dsn(settings),
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        progress=logs.say,
    )
    logs.say(summary.describe())
    return EXIT_OK


def cmd_demo_run(args: argparse.Namespace, settings: Settings) -> int:
    """The whole local demo, step by step, saying what it does."""
    from pgcdc.pipeline import demo_run

    return demo_run.run_demo(settings, scale=args.scale, duration=args.duration, rate=args.rate)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pgcdc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    flag = getattr(args, "log_format", None)
    # Before the settings load (their errors follow the environment's choice), then again
    # with them (pgcdc.toml may choose).
    logs.configure(
        json_lines=logs.use_json(flag, os.environ.get(LOG_FORMAT_ENV)), level=args.log_level
    )
    func: Command = args.func
    try:
        settings = _settings_from(args)
        logs.configure(json_lines=logs.use_json(flag, settings.log_format), level=args.log_level)
        return func(args, settings)
    except ConfigurationError as exc:
        return _fail(EXIT_CONFIG, exc)
    except TransientError as exc:
        return _fail(EXIT_TRANSIENT, exc)
    except (TerminalError, PgcdcError) as exc:
        return _fail(EXIT_FAILED, exc)
    except KeyboardInterrupt:
        print("pgcdc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(code: int, exc: BaseException, **extra: Any) -> int:
    """One ERROR line (JSON off a terminal: what the alarms watch), then the exit code."""
    log.error(str(exc), extra={"error_type": type(exc).__name__, "exit_code": code, **extra})
    return code


if __name__ == "__main__":
    sys.exit(main())
