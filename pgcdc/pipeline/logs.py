"""The one output convention of pgcdc: human text, or JSON lines when asked (or on Lambda).

- **text** (the default): what a command did goes to stdout as plain lines (:func:`say`);
  log records go to stderr as ``LEVEL message`` lines, except the INFO records of the steps
  (capture, snapshot, transform, load): those are the results the command says itself, and
  their details (``--log-level INFO`` shows them all).
- **json** (``--log-format json``, the ``log_format`` setting, or under AWS Lambda): every
  event is one JSON object a line on stderr (what CloudWatch metric filters match), and
  :func:`say` prints nothing on stdout, so no event is written twice. A line the library
  already logged with the same message is not logged again.

A command's *data* (``query`` results, ``status --json``, ``config``) is not an event: it
always goes to stdout.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import os
import sys
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Extras that only machines read (the alarms, Logs Insights): left out of the text lines.
_MACHINE_ONLY = frozenset({"error_type", "exit_code"})
FORMATS = ("text", "json")
# Set when AWS Lambda runs the code (its documented runtime environment variable).
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"

log = logging.getLogger("pgcdc")


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: time, level, logger, message, then every ``extra`` field."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["error_type"] = record.exc_info[0].__name__
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines for a person: level, message, then ``key=value`` extras."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD and k not in _MACHINE_ONLY and not k.startswith("_")
        )
        line = f"{record.levelname:<7} {record.getMessage()}"
        return f"{line}  {extras}" if extras else line


class _Seen(logging.Filter):
    """Remembers the messages of the last INFO records written (lets :func:`say` skip an
    event the library already logged). Filters nothing out."""

    def __init__(self, size: int = 256) -> None:
        super().__init__()
        self.messages: collections.deque[str] = collections.deque(maxlen=size)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            self.messages.append(record.getMessage())
        return True


# The loggers whose INFO records hold what the command line says itself (each step's
# result) or per-object details: hidden in text unless a log level is asked for.
STEP_LOGGERS = ("pgcdc.capture", "pgcdc.snapshot", "pgcdc.transformer", "pgcdc.loader")


class _HideStepDetails(logging.Filter):
    """Drops the steps' INFO (and lower) records; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in STEP_LOGGERS
        )


class _State:
    """How the process writes events (set by :func:`configure`)."""

    json_lines = False
    seen: _Seen | None = None


def use_json(flag: str | None = None, setting: str | None = None) -> bool:
    """Whether events are JSON lines: the flag, else the setting, else JSON on AWS Lambda
    and text everywhere else (a terminal, a pipe, a file)."""
    chosen = flag or setting
    if chosen is not None:
        return chosen == "json"
    return bool(os.environ.get(LAMBDA_ENV))


def configure(*, json_lines: bool | None = None, level: str | None = None, **static: Any) -> None:
    """Send pgcdc's logs to stderr, as JSON lines or text (see the module's docstring).

    ``json_lines`` None resolves as :func:`use_json` does without flag or setting; ``level``
    None is INFO (in text without the steps' INFO records). ``static`` fields go on every
    JSON line. Calling it again replaces the previous configuration.
    """
    if json_lines is None:
        json_lines = use_json()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(static) if json_lines else TextFormatter())
    if not json_lines and level is None:
        handler.addFilter(_HideStepDetails())
    seen = _Seen()
    handler.addFilter(seen)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or "INFO")
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _State.json_lines = json_lines
    _State.seen = seen


def json_lines() -> bool:
    """Whether events are written as JSON lines now."""
    return _State.json_lines


def say(message: str, *, indent: int = 0, **fields: Any) -> None:
    """One event for the person or the log reader: a plain stdout line (``indent`` spaces
    first) in text; otherwise one INFO JSON line with ``fields`` and the message stripped,
    unless it is blank or an INFO record with this very message was just logged (by the
    library doing the work)."""
    if not _State.json_lines:
        print(" " * indent + message, flush=True)
        return
    message = message.strip()  # layout is for the eye; a blank line is no event
    if not message or (_State.seen is not None and message in _State.seen.messages):
        return
    log.info(message, extra=fields)
