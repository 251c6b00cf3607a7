"""Usage errors of every command's flags: argparse's exit 2 with the flag named, before a
command starts (the parser is pgcdc's own; a subprocess case is in
tests/integration/test_cli_output.py)."""

from __future__ import annotations

import pytest

from pgcdc.pipeline.cli import build_parser

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("snapshot", "--workers", "0"), "argument --workers"),
        (("snapshot", "--chunk-pages", "-3"), "argument --chunk-pages"),
        (("capture", "--flush-every", "-5"), "argument --flush-every"),
        (("capture", "--time-budget", "0"), "argument --time-budget"),
        (("capture", "--max-batch-rows", "many"), "argument --max-batch-rows"),
        (("capture", "--max-batch-bytes", "1.5"), "argument --max-batch-bytes"),
        (("capture", "--max-batch-seconds", "inf"), "argument --max-batch-seconds"),
        (("run", "--every", "0"), "argument --every"),
        (("query", "--max-rows", "-1", "SELECT 1"), "argument --max-rows"),
        (("query", "--format", "xml", "SELECT 1"), "argument --format"),
        (("dashboard", "--port", "70000"), "argument --port"),
        (("dashboard", "--refresh", "0"), "argument --refresh"),
        (("demo", "init", "--scale", "0"), "argument --scale"),
        (("demo", "workload", "--rate", "-1"), "argument --rate"),
        (("demo", "workload", "--duration", "-1"), "argument --duration"),
        (("demo", "run", "--duration", "nan"), "argument --duration"),
        (("status", "--log-format", "yaml"), "argument --log-format"),
        (("status", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
        (("no-such-command",), "invalid choice: 'no-such-command'"),
        ((), "required: COMMAND"),
    ],
)
def test_bad_flags_are_usage_errors(
    args: tuple[str, ...], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(list(args))
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args",
    [
        ("snapshot", "--workers", "1", "--chunk-pages", "1"),
        ("capture", "--flush-every", "0.5", "--max-batch-rows", "1", "--time-budget", "1"),
        ("query", "--max-rows", "0", "SELECT 1"),
        ("dashboard", "--port", "65535", "--refresh", "0.1"),
        ("demo", "workload", "--rate", "0", "--duration", "0"),
    ],
)
def test_the_smallest_good_values_pass(args: tuple[str, ...]) -> None:
    """The bounds are where the help says (0 rows = DuckDB's own, rate 0 = as fast as
    possible), so the checks above fail for the values named, not for any value."""
    assert build_parser().parse_args(list(args)).command == args[0]
