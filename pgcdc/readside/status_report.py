"""The text report of ``pgcdc status``: the slot, the tables, the steps and the freshness as
readable tables, with LSNs as ``X/Y``, sizes in units and each threshold beside its figure.

``pgcdc status --json`` prints :meth:`pgcdc.readside.status.PipelineStatus.as_dict` instead.
"""

from __future__ import annotations

import datetime as dt
import sys

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from pgcdc.readside.status import PipelineStatus, StepPosition
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.settings import Settings

# Width used when stdout is not a terminal (a pipe or a file): wide enough for a table row.
PIPE_WIDTH = 120
_UNITS = ("kB", "MB", "GB", "TB")


def byte_size(value: int | float | None) -> str:
    """``512 bytes``, ``12.3 kB``, ``4.0 MB``…, in units of 1024 as PostgreSQL's
    ``pg_size_pretty`` counts; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if abs(value) < 1024:
        return f"{int(value):,} bytes"
    size = float(value)
    for unit in _UNITS:
        size /= 1024
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:,.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 4 s``, ``2 h 5 min``, ``3 d 4 h``; ``n/a`` for None."""
    if seconds is None:
        return "n/a"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    for size, name, small, small_name in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "min"),
        (60, "min", 1, "s"),
    ):
        if whole >= size:
            return f"{whole // size} {name} {(whole % size) // small} {small_name}"
    raise AssertionError("unreachable")  # pragma: no cover


def moment(iso: str | None) -> str:
    """An ISO timestamp as ``2026-12-03 14:00:01 UTC``; ``never`` for None."""
    if not iso:
        return "never"
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_report(found: PipelineStatus, settings: Settings) -> None:
    """Print the report to stdout (plain text off a terminal, no trailing blanks)."""
    console = Console(
        width=None if sys.stdout.isatty() else PIPE_WIDTH,
        highlight=False,
        emoji=False,
    )
    with console.capture() as captured:
        console.print(render(found, settings))
    lines = [line.rstrip() for line in captured.get().splitlines()]
    sys.stdout.write("\n".join(lines) + "\n")


def render(found: PipelineStatus, settings: Settings) -> RenderableType:
    """The whole report: slot, tables, steps, freshness, problems."""
    parts: list[RenderableType] = [
        _heading(f"slot {found.slot.slot}"),
        _slot_table(found, settings),
    ]
    if found.tables:
        parts += [_heading("\ncaptured tables"), _tables_table(found)]
    parts += [_heading("\ntransform, load, freshness"), _steps_table(found, settings)]
    parts.append(_heading("\nproblems" if found.problems else "\nproblems: none"))
    parts += [Text(f"  - {problem}") for problem in found.problems]
    return Group(*parts)


def _heading(text: str) -> Text:
    return Text(text, style="bold")


def _pairs() -> Table:
    table = Table(box=None, show_header=False, pad_edge=True)
    table.add_column(no_wrap=True)
    table.add_column()
    return table


def _slot_table(found: PipelineStatus, settings: Settings) -> Table:
    slot = found.slot
    table = _pairs()
    if not slot.exists:
        table.add_row("exists", "no: `pgcdc snapshot` (or `pgcdc capture`) creates it")
        return table
    limit = f"limit {byte_size(settings.max_slot_lag_bytes)} (PGCDC_MAX_SLOT_LAG_BYTES)"
    safe = "unlimited" if slot.safe_wal_size is None else byte_size(slot.safe_wal_size)
    table.add_row("active", "yes" if slot.active else "no")
    table.add_row("confirmed LSN", _lsn(slot.confirmed_lsn, "none"))
    table.add_row("lag", f"{byte_size(slot.lag_bytes)} of WAL not captured; {limit}")
    table.add_row("retained WAL", byte_size(slot.retained_wal_bytes))
    table.add_row("wal_status", slot.wal_status or "n/a")
    table.add_row("safe_wal_size", f"{safe} (max_slot_wal_keep_size)")
    age = slot.capture_age_seconds()
    last = (
        f"up to {slot.last_capture_lsn}, {moment(slot.last_capture_at)} ({duration(age)} ago)"
        if slot.last_capture_lsn is not None
        else "never"
    )
    table.add_row("last capture", last)
    return table


def _tables_table(found: PipelineStatus) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("table", no_wrap=True)
    for name in ("objects", "changes"):
        table.add_column(name, justify="right")
    table.add_column("newest LSN", no_wrap=True)
    table.add_column("transformed up to", no_wrap=True)
    table.add_column("not transformed", justify="right")
    for row in found.tables:
        table.add_row(
            row.table,
            f"{row.objects:,}",
            f"{row.changes:,}",
            _lsn(row.newest_lsn, "none"),
            _lsn(row.transformed_lsn, "not yet"),
            f"{row.pending_changes:,}",
        )
    return table


def _steps_table(found: PipelineStatus, settings: Settings) -> Table:
    table = _pairs()
    for name, step, lag in (
        ("transform", found.transform, found.transform_lag_bytes),
        ("load", found.load, found.load_lag_bytes),
    ):
        table.add_row(name, _step_text(step, lag))
    limit = settings.max_freshness_seconds
    checked = (
        f"limit {duration(limit)} (PGCDC_MAX_FRESHNESS_SECONDS)"
        if limit is not None
        else "not checked (PGCDC_MAX_FRESHNESS_SECONDS unset)"
    )
    if found.freshness_seconds is None:
        table.add_row("freshness", f"unknown: nothing loaded yet; {checked}")
        return table
    table.add_row("freshness", f"{duration(found.freshness_seconds)}; {checked}")
    table.add_row(
        "newest commit", f"{moment(found.newest_loaded_commit_at)} (shown in the warehouse)"
    )
    return table


def _step_text(step: StepPosition | None, lag: int | None) -> str:
    if step is None:
        return "never run"
    behind = f"; {byte_size(lag)} of captured WAL behind" if lag is not None else ""
    return f"run {step.run} up to {step.bound}, {moment(step.at)}{behind}"


def _lsn(found: Lsn | None, missing: str) -> str:
    return missing if found is None else str(found)
