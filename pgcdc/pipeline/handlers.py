"""AWS Lambda entry points: ``capture_handler``, ``transform_handler``, ``load_handler``.

The state machine (infra/modules/pgcdc/state_machine.asl.json) invokes each with
``{"step": ..., "execution_id": <execution ARN>, "started_at": ...}``. A handler is thin: it
sends JSON log lines to stderr with the execution id and the Lambda request id on every line,
resolves settings from the environment Terraform set (secrets through Secrets Manager, by
``pgcdc.pipeline.config``), calls the same service function as the CLI, and returns a
JSON-serialisable summary, which Step Functions keeps at ``$.<step>.result``. A handler
never retries in process: the state machine retries a failed step with a fresh invocation.

A failure logs exactly one ERROR line (step, error class, message; secrets masked), which the
``<step>-errors`` metric filter counts, and is re-raised unchanged: Lambda reports the class
name as ``errorType``, and the state machine's Retry matches on it (pgcdc's terminal errors
are never retried, anything else is).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pgcdc.cdc_reader.capture import CaptureResult
from pgcdc.pipeline import config, emf, logs, service
from pgcdc.readside import status
from pgcdc.schemas.settings import Settings, redact_uri
from pgcdc.transformer.runner import TransformResult
from pgcdc.warehouse_loader.loader import LoadResult

log = logging.getLogger("pgcdc.handler")

# Capture stops at a commit boundary once its budget is spent; what is left of the Lambda's
# time after the budget covers the batch in flight, the slot status and the return. The
# margin is a fraction of the time left, never less than MIN_MARGIN_SECONDS.
MIN_MARGIN_SECONDS = 30.0
MARGIN_FRACTION = 0.15
MIN_BUDGET_SECONDS = 1.0
LAMBDA_CAPTURE_ATTEMPTS = 1
"""Tries of one capture per invocation: retries are the state machine's (see capture_handler)."""


class LambdaContext(Protocol):
    """The parts of the Lambda context object the handlers use."""

    @property
    def aws_request_id(self) -> str:
        """The invocation's request id."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""


Summary = dict[str, Any]


def capture_handler(event: Mapping[str, Any], context: LambdaContext) -> Summary:
    """Drain the slot within the function's time, then report the slot's figures as EMF.

    One attempt only: a transient failure is raised for the state machine's Retry, which
    starts a fresh invocation with a fresh timeout. Retrying in process would restart the
    drain's time budget inside the same invocation and could overrun its timeout.
    """

    def work(settings: Settings) -> Summary:
        # measured after the settings (and their secrets) are read: the drain starts now
        budget = time_budget(context.get_remaining_time_in_millis())
        options = service.capture_options(settings, time_budget=budget)
        result = service.capture_once(settings, options, attempts=LAMBDA_CAPTURE_ATTEMPTS)
        report_slot_metrics(settings, event)
        return capture_summary(result, budget)

    return _run("capture", event, context, work)


def transform_handler(event: Mapping[str, Any], context: LambdaContext) -> Summary:
    """Transform the changes captured since the last run into one processed batch."""
    return _run("transform", event, context, lambda s: transform_summary(service.transform_once(s)))


def load_handler(event: Mapping[str, Any], context: LambdaContext) -> Summary:
    """Apply the processed batches not yet in the warehouse, then report its freshness as EMF."""

    def work(settings: Settings) -> Summary:
        summary = load_summary(service.load_once(settings))
        report_freshness(settings, event)
        return summary

    return _run("load", event, context, work)


def _run(
    step: str,
    event: Mapping[str, Any],
    context: LambdaContext,
    work: Callable[[Settings], Summary],
) -> Summary:
    """Log setup, settings, the step's work and its summary; one ERROR line on failure."""
    logs.configure(
        json_lines=True,
        step=step,
        execution_id=str(event.get("execution_id") or ""),
        request_id=context.aws_request_id,
    )
    try:
        summary = work(config.load_settings())
    except Exception as exc:
        log_failure(step, exc)
        raise
    log.info("%s done", step, extra={"summary": summary})
    return summary


def log_failure(step: str, exc: BaseException) -> None:
    """The one ERROR line of a failed step: its name, the error class and message (masked)."""
    log.error(
        "%s failed: %s",
        step,
        redact_uri(str(exc)),
        extra={"error_type": type(exc).__name__, "failed_step": step},
    )


def time_budget(remaining_ms: int) -> float:
    """Seconds capture may run: the Lambda's remaining time less a safety margin.

    The margin is MARGIN_FRACTION of the remaining time, at least MIN_MARGIN_SECONDS; when
    the function has less time than twice that, capture gets half of what is left. Never
    below MIN_BUDGET_SECONDS (capture still stops at the first commit boundary after it).
    """
    remaining = max(0.0, remaining_ms / 1000)
    margin = max(MIN_MARGIN_SECONDS, remaining * MARGIN_FRACTION)
    budget = remaining - margin if remaining >= 2 * margin else remaining / 2
    return round(max(MIN_BUDGET_SECONDS, budget), 3)


def capture_summary(result: CaptureResult, budget: float | None = None) -> Summary:
    """What a drain did, as plain JSON values; ``more_to_read`` when the budget cut it short."""
    more = result.stopped_by_budget and (
        result.remaining_bytes is None or result.remaining_bytes > 0
    )
    return {
        "step": "capture",
        "slot": result.slot,
        "start": _text(result.start),
        "position": _text(result.position),
        "batches": result.batches,
        "files": result.files,
        "rows": result.rows,
        "changes": dict(sorted(result.changes.items())),
        "bytes_written": result.bytes_written,
        "seconds": round(result.seconds, 3),
        "time_budget_seconds": budget,
        "stopped_by_budget": result.stopped_by_budget,
        "more_to_read": more,
        "remaining_bytes": result.remaining_bytes,
    }


def transform_summary(result: TransformResult) -> Summary:
    """What a transform run did (``run`` is None when nothing was new)."""
    return {
        "step": "transform",
        "run": result.run,
        "changes": result.changes,
        "tables": result.tables,
        "rows": dict(sorted(result.rows.items())),
        "quarantined": result.quarantined,
        "seconds": round(result.seconds, 3),
    }


def load_summary(result: LoadResult) -> Summary:
    """What a load did; audit problems are counted here and logged by the loader."""
    return {
        "step": "load",
        "batches": result.batches,
        "rows": result.rows,
        "loaded_up_to": result.loaded_up_to,
        "audit_failures": result.audit_failures,
        "quarantined": len(result.refused),
        "seconds": round(result.seconds, 3),
    }


def report_slot_metrics(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The figures of ``pgcdc status`` as one EMF line; each problem as one ERROR line.

    A status that cannot be read is a WARNING, not a failed capture: the capture's data is
    already stored and acknowledged.
    """
    try:
        found = status.slot_status(
            config.source_dsn(settings), service.raw_store(settings), settings
        )
    except Exception as exc:
        log.warning(
            "slot status not read: %s",
            redact_uri(str(exc)),
            extra={"error_type": type(exc).__name__},
        )
        return None
    for problem in found.problems:
        log.error(problem, extra={"slot": found.slot})
    properties = {"slot": found.slot, "execution_id": str(event.get("execution_id") or "")}
    return emf.emit(slot_metrics(found), properties=properties)


def report_freshness(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The warehouse's freshness as one EMF line (``FreshnessSeconds``); past
    ``max_freshness_seconds``, one ERROR line worded as ``pgcdc status`` words it.

    Freshness comes from the warehouse alone (``pgcdc_load_state.newest_commit``): the load
    function cannot read the raw store. Nothing is printed while no loaded batch recorded a
    commit time (the alarm then sees missing data). A freshness that cannot be read is a
    WARNING, not a failed load: the batches are already committed.
    """
    try:
        freshness = status.warehouse_freshness(config.warehouse_uri(settings))
    except Exception as exc:
        log.warning(
            "warehouse freshness not read: %s",
            redact_uri(str(exc)),
            extra={"error_type": type(exc).__name__},
        )
        return None
    if freshness is None:
        log.warning("warehouse freshness not known: no loaded batch records its newest commit")
        return None
    problem = status.freshness_problem(freshness, settings.max_freshness_seconds)
    if problem:
        log.error(problem, extra={"freshness_seconds": freshness})
    properties = {"execution_id": str(event.get("execution_id") or "")}
    return emf.emit(freshness_metrics(freshness), properties=properties)


def freshness_metrics(freshness: float) -> list[emf.Metric]:
    """EMF metrics for the warehouse's freshness: the age of its newest source commit."""
    return [emf.Metric("FreshnessSeconds", max(0.0, freshness), "Seconds")]


def slot_metrics(found: status.SlotStatus, *, now: float | None = None) -> list[emf.Metric]:
    """EMF metrics for a slot status: lag, retained WAL and the last capture's age."""
    metrics = []
    if found.lag_bytes is not None:
        metrics.append(emf.Metric("SlotLagBytes", found.lag_bytes, "Bytes"))
    if found.retained_wal_bytes is not None:
        metrics.append(emf.Metric("RetainedWalBytes", found.retained_wal_bytes, "Bytes"))
    age = found.capture_age_seconds(None if now is None else dt.datetime.fromtimestamp(now, dt.UTC))
    if age is not None:
        metrics.append(emf.Metric("CaptureAgeSeconds", age, "Seconds"))
    return metrics


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)
