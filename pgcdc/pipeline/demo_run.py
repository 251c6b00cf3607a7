"""``make demo`` (``pgcdc demo run``): the embedded demo cluster, seeded, then the whole
pipeline over it, step by step, saying what it does."""

from __future__ import annotations

import time

import psycopg

from pgcdc.devtools.demo_cluster import (
    DEMO_DATABASE,
    closing_lines,
    demo_tables_exist,
    up,
    warehouse_figures,
)
from pgcdc.pipeline import config
from pgcdc.pipeline.logs import say
from pgcdc.schemas.settings import Settings


def _slot_exists(dsn: str, slot: str) -> bool:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
        ).fetchone()
        return found is not None


def run_demo(settings: Settings, *, scale: float, duration: float, rate: float) -> int:
    """``make demo``: start, seed (once), preflight, capture, workload, capture, report, then
    say what to run next and how to stop the server it leaves running."""
    from pgcdc.devtools.demo import run_workload
    from pgcdc.pipeline import service

    started = time.monotonic()
    cluster = up(config.embedded_cluster_dir(settings))
    say(f"1/8 PostgreSQL with wal2json running in {cluster.directory} (127.0.0.1:{cluster.port})")
    dsn = config.source_dsn(settings)
    _seed(dsn, scale)
    if not _preflight(settings, dsn):
        return 1
    options = service.capture_options(settings)
    if _slot_exists(dsn, settings.slot):
        say(f"4/8 slot {settings.slot!r} exists: catching up on changes since the last run")
        say(service.capture_once(settings, options).describe(), indent=4)
    else:
        say(f"4/8 snapshot into {settings.raw_uri}: slot {settings.slot!r} starts here")
        say(service.take_snapshot(settings).describe(), indent=4)
    say(f"5/8 live workload: {rate:g} transactions/s for {duration:g} s")
    workload = run_workload(dsn, rate=rate, duration=duration, progress=_detail)
    say(workload.describe(), indent=4)
    say("6/8 capture the workload's changes")
    say(service.capture_once(settings, options).describe(), indent=4)
    say("7/8 transform into the processed store")
    say(service.transform_once(settings).describe(), indent=4)
    say(f"8/8 load into the warehouse ({settings.warehouse_uri.get_secret_value()})")
    say(service.load_once(settings).describe(), indent=4)
    for line in warehouse_figures(config.warehouse_uri(settings)):
        say(line, indent=4)
    say(f"demo done in {time.monotonic() - started:.1f} s; data under {settings.data_dir}/")
    for line in closing_lines(cluster):
        say(line)
    return 0


def _detail(message: str) -> None:
    say(message, indent=4)


def _seed(dsn: str, scale: float) -> None:
    """Step 2: create and seed the demo tables unless they exist."""
    from pgcdc.devtools.demo import init_demo

    if demo_tables_exist(dsn):
        say(f"2/8 demo database {DEMO_DATABASE!r} already seeded: keeping it")
        return
    say(f"2/8 creating and seeding {DEMO_DATABASE!r} at scale {scale}")
    say(init_demo(dsn, scale=scale, progress=_detail).describe(), indent=4)


def _preflight(settings: Settings, dsn: str) -> bool:
    """Step 3: ``pgcdc check`` (the source and the raw store); False when unsafe."""
    from pgcdc.cdc_reader.preflight import Status, capture_is_safe, check_store, run_checks
    from pgcdc.pipeline import service

    results = run_checks(dsn, slot=settings.slot, table_filter=config.table_filter(settings))
    results.append(check_store(service.raw_store(settings)))
    say("3/8 preflight: " + ", ".join(f"{r.name}={r.status.value}" for r in results))
    for r in results:
        if r.status is Status.FAIL:
            say(f"FAIL {r.name}: {r.message}", indent=4)
    return capture_is_safe(results)
