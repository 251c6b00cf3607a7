"""The fenced code blocks of a Markdown document, what each one is, and how its shown output
compares with a real run (used by tests/e2e/test_readme.py).

Pure text handling, no services: every block of the document is found (its first line
number, its info string, its text), classified by its info string, and split into what the
doc test runs. A block or a command line nobody knows how to run is an :class:`UnclassifiedError`
error, so a new kind of example cannot slip in untested.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# Info string → kind. An unlabelled fence is not in here on purpose: its author says nothing
# about what it is, so the doc test refuses it.
KINDS = {
    "bash": "shell",
    "sh": "shell",
    "shell": "shell",
    "console": "console",
    "sql": "sql",
    "python": "python",
    "json": "json",
    "text": "text",
}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
PROMPT = "$ "


class UnclassifiedError(ValueError):
    """A block or a line the doc test does not know how to run."""


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts (the fence's line, 1-based) and its text."""

    document: str
    line: int
    info: str
    text: str

    @property
    def kind(self) -> str:
        """What the block is (:data:`KINDS`); :class:`UnclassifiedError` for anything else."""
        language = self.info.split()[0].lower() if self.info.split() else ""
        if language not in KINDS:
            raise UnclassifiedError(
                f"{self.where}: a code block labelled {self.info or 'nothing'!r}: label it "
                f"one of {', '.join(sorted(KINDS))} (tests/e2e/test_readme.py runs it)"
            )
        return KINDS[language]

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def fenced_blocks(path: Path, name: str | None = None) -> list[Block]:
    """Every fenced code block of the Markdown file ``path``, in document order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body, end = _body(lines, index + 1, indent, fence)
        blocks.append(Block(name or path.name, index + 1, opening["info"].strip(), body))
        index = end + 1
    return blocks


def _body(lines: list[str], start: int, indent: int, fence: str) -> tuple[str, int]:
    """The block's text (its fence's indentation removed) and the closing fence's index."""
    for end in range(start, len(lines)):
        closing = FENCE.match(lines[end])
        if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
            text = [line[indent:] if line[:indent].isspace() else line for line in lines[start:end]]
            return "\n".join(text) + "\n", end
    raise UnclassifiedError(f"line {start}: a code block that is never closed")


def shell_lines(block: Block) -> list[tuple[int, str]]:
    """The commands of a shell block, one a line (blank and comment lines left out), each
    with its line number in the document."""
    return [
        (block.line + 1 + index, line.strip())
        for index, line in enumerate(block.text.splitlines())
        if line.strip() and not line.strip().startswith("#")
    ]


@dataclass(frozen=True)
class Exchange:
    """One ``$ command`` of a console block and the output shown under it."""

    command: str
    shown: str
    line: int


def console_exchanges(block: Block) -> list[Exchange]:
    """A console block's commands (a command continues on the next lines until its quotes
    close) and the output shown under each."""
    exchanges: list[Exchange] = []
    lines = block.text.splitlines()
    index = 0
    if lines and not lines[0].startswith(PROMPT):
        raise UnclassifiedError(f"{block.where}: a console block must start with '{PROMPT}'")
    while index < len(lines):
        line = block.line + 1 + index
        command = lines[index][len(PROMPT) :]
        index += 1
        while not _complete(command):
            if index == len(lines):
                raise UnclassifiedError(f"{block.where}: unbalanced quotes in {command!r}")
            command += "\n" + lines[index]
            index += 1
        shown = []
        while index < len(lines) and not lines[index].startswith(PROMPT):
            shown.append(lines[index])
            index += 1
        exchanges.append(Exchange(command, "\n".join(shown), line))
    return exchanges


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:
        return False
    return not command.endswith("\\")


def first_word(command: str) -> str:
    """The program a command line runs (``pgcdc``, ``make``, …)."""
    words = shlex.split(command, comments=True)
    return words[0] if words else ""


# ---- comparing a shown output with a real one -------------------------------------------

MORE = "…"  # a shown output's last line: more rows follow
NUMBER = re.compile(r"-?\b\d+(?:\.\d+)?\b")
# Values that are data as a whole: a timestamp (or date) and an LSN ("0/264BA30").
TIMESTAMP = re.compile(r"\b\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d:\d\d(?:\.\d+)?)?(?:[+-]\d\d(?::\d\d)?)?")
LSN = re.compile(r"\b[0-9A-F]{1,8}/[0-9A-F]{1,8}\b")
BOX = "┌┐└┘├┤┬┴┼─│"


def output_differences(shown: str, actual: str) -> list[str]:
    """How ``actual`` differs from the output a document shows, up to the data's figures.

    Headers, column types and labels must match; numbers are figures of the author's data,
    so any number stands for any number, except that a figure shown as non-zero must not be
    zero (and a zero must stay zero). JSON string values are data too. Without a closing
    ``…`` the rows must be the same set, with it the shown rows must be among the actual."""
    shown_lines = [line for line in shown.splitlines() if line.strip()]
    more = bool(shown_lines) and shown_lines[-1].strip() == MORE
    if more:
        shown_lines = shown_lines[:-1]
    want, got = _shape(shown_lines), _shape(actual.splitlines())
    problems = []
    if want[0] != got[0]:
        problems.append(f"header {got[0]} instead of {want[0]}")
    missing = [r for r in want[1] if r not in got[1]]
    if missing:
        problems.append(f"rows shaped {missing} missing from the output")
    extra = [r for r in got[1] if r not in want[1]]
    if extra and not more:
        problems.append(f"rows shaped {extra} not shown (end the shown output with …)")
    if shown_lines and not got[1]:
        problems.append("no rows")
    return problems


def _shape(lines: list[str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header cells, data rows with their figures masked) of a DuckDB box table, JSON
    lines, or CSV."""
    lines = [line for line in lines if line.strip()]
    if any(line.startswith("┌") for line in lines):
        return _box_shape(lines)
    if lines and lines[0].startswith("{"):
        return (), _unique([_json_shape(line) for line in lines])
    rows = [tuple(cell.strip() for cell in line.split(",")) for line in lines]
    if not rows:
        return (), []
    return rows[0], _unique([tuple(_mask(cell) for cell in row) for row in rows[1:]])


def _box_shape(lines: list[str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    cells = [tuple(c.strip() for c in line.strip("│").split("│")) for line in lines]
    kinds = [line[0] for line in lines]
    split = kinds.index("├") if "├" in kinds else len(lines)
    head = [row for row, k in zip(cells[:split], kinds[:split], strict=True) if k == "│"]
    body = [row for row, k in zip(cells[split:], kinds[split:], strict=True) if k == "│"]
    header = tuple(" ".join(column) for column in zip(*head, strict=True)) if head else ()
    return header, _unique([tuple(_mask(c) for c in row) for row in body])


def _json_shape(line: str) -> tuple[str, ...]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return ("not JSON", line)
    if not isinstance(value, dict):
        return ("not an object", line)
    return tuple(f"{k}={_mask_json(v)}" for k, v in value.items())


def _mask_json(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return "0" if value == 0 else "#"
    return type(value).__name__


def _mask(cell: str) -> str:
    cell = LSN.sub("<lsn>", TIMESTAMP.sub("<time>", cell))
    return NUMBER.sub(lambda m: "0" if float(m[0]) == 0 else "#", cell)


def _unique(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(rows))


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The data rows (figures masked) of a command's output: a DuckDB box table, JSON lines
    or CSV; empty when it shows none."""
    return _shape(text.splitlines())[1]
