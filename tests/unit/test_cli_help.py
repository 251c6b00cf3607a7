"""The help of ``pgcdc capture`` and ``pgcdc run`` quotes the defaults the commands use."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from pgcdc.cdc_reader.capture import CaptureOptions
from pgcdc.pipeline.cli import build_parser

pytestmark = pytest.mark.unit


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices[name]
    return parser


def help_of(command: str, flag: str) -> str:
    """The help text of one flag as ``pgcdc <command> --help`` prints it (one line)."""
    text = subcommand(command).format_help()
    match = re.search(rf"^\s+{re.escape(flag)} \S+\s+(.*?)(?=^\s+-|\Z)", text, re.M | re.S)
    assert match is not None, text
    return " ".join(match.group(1).split())


def number(text: str) -> float:
    """The number after ``default`` in a help text (``200,000`` or ``64 MiB`` or ``60``)."""
    match = re.search(r"default ([\d,.]+)( MiB)?", text)
    assert match is not None, f"no default in {text!r}"
    value = float(match.group(1).replace(",", ""))
    return value * 2**20 if match.group(2) else value


DEFAULTS = {f.name: f.default for f in dataclasses.fields(CaptureOptions)}


@pytest.mark.parametrize(
    ("flag", "option"),
    [
        ("--max-batch-rows", "max_batch_rows"),
        ("--max-batch-bytes", "max_batch_bytes"),
        ("--max-batch-seconds", "max_batch_seconds"),
    ],
)
def test_capture_help_quotes_the_batch_defaults(flag: str, option: str) -> None:
    """These flags have no argparse default (unset, CaptureOptions' own applies), so the
    help must quote CaptureOptions: a stale number there misleads."""
    assert number(help_of("capture", flag)) == DEFAULTS[option]
    args = build_parser().parse_args(["capture"])
    assert getattr(args, option) is None  # unset: the CaptureOptions default is the one used


@pytest.mark.parametrize(("command", "flag"), [("capture", "--flush-every"), ("run", "--every")])
def test_interval_help_quotes_the_argparse_default(command: str, flag: str) -> None:
    default = subcommand(command).get_default(flag.lstrip("-").replace("-", "_"))
    text = help_of(command, flag)
    assert re.search(r"\d", text), text
    assert float(re.findall(r"[\d.]+", text)[-1]) == default
