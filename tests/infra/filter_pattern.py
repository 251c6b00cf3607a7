"""Evaluate CloudWatch Logs JSON filter patterns (``{ $.level = "ERROR" }``) against a line.

moto stores metric filters but does not apply them to log events, so the tests evaluate the
pattern Terraform deployed themselves. Supported: the JSON form ``{ ... }`` with selectors
``$.a.b`` / ``$.a[0]``; ``=`` and ``!=`` against a quoted or bare string (``*`` matches any
run of characters) or a number; ``<``, ``<=``, ``>``, ``>=`` against a number; ``IS TRUE``,
``IS FALSE``, ``IS NULL``, ``NOT EXISTS``; ``&&``, ``||`` and parentheses (``&&`` binds
tighter). A line that is not a JSON object matches no JSON pattern, as in CloudWatch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>&&|\|\||<=|>=|!=|=|<|>|\(|\))
      | (?P<selector>\$(?:\.[A-Za-z0-9_\-@]+|\[\d+\])+)
      | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)
_MISSING = object()


class PatternError(ValueError):
    """A pattern outside the supported subset, or malformed."""


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    at: int = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("pattern ends too early")
        self.at += 1
        return token


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise PatternError(f"cannot read the pattern at {text[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def matches(pattern: str, line: str) -> bool:
    """Whether the log line matches the JSON filter pattern."""
    body = pattern.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise PatternError(f"only JSON patterns ({{ ... }}) are supported: {pattern!r}")
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return False
    if not isinstance(event, dict):
        return False
    parser = _Parser(_tokenize(body[1:-1]))
    result = _or(parser, event)
    if parser.peek() is not None:
        raise PatternError(f"unexpected {parser.peek()!r} in {pattern!r}")
    return result


def _or(parser: _Parser, event: dict[str, Any]) -> bool:
    result = _and(parser, event)
    while parser.peek() == ("op", "||"):
        parser.take()
        right = _and(parser, event)
        result = result or right
    return result


def _and(parser: _Parser, event: dict[str, Any]) -> bool:
    result = _term(parser, event)
    while parser.peek() == ("op", "&&"):
        parser.take()
        right = _term(parser, event)
        result = result and right
    return result


def _term(parser: _Parser, event: dict[str, Any]) -> bool:
    kind, text = parser.take()
    if (kind, text) == ("op", "("):
        result = _or(parser, event)
        if parser.take() != ("op", ")"):
            raise PatternError("a parenthesis is not closed")
        return result
    if kind != "selector":
        raise PatternError(f"expected a $.selector, got {text!r}")
    value = _select(event, text)
    kind, op = parser.take()
    if kind == "word" and op.upper() in ("IS", "NOT"):
        return _keyword(parser, op.upper(), value)
    if kind != "op":
        raise PatternError(f"expected an operator after {text}, got {op!r}")
    return _compare(value, op, parser.take())


def _keyword(parser: _Parser, first: str, value: Any) -> bool:
    word = parser.take()[1].upper()
    if first == "NOT" and word == "EXISTS":
        return value is _MISSING
    if first == "IS" and word == "NULL":
        return value is None
    if first == "IS" and word in ("TRUE", "FALSE"):
        return value is (word == "TRUE")
    raise PatternError(f"unsupported {first} {word}")


def _compare(value: Any, op: str, operand: tuple[str, str]) -> bool:
    kind, text = operand
    if value is _MISSING:
        return False
    if kind == "word" and _is_number(text) and not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return op == "!="
        return _numeric(float(value), op, float(text))
    if op not in ("=", "!="):
        raise PatternError(f"{op} needs a number, got {text!r}")
    wanted = json.loads(text) if kind == "string" else text
    equal = isinstance(value, str) and _wildcard(wanted).fullmatch(value) is not None
    return equal if op == "=" else not equal


def _numeric(value: float, op: str, number: float) -> bool:
    return {
        "=": value == number,
        "!=": value != number,
        "<": value < number,
        "<=": value <= number,
        ">": value > number,
        ">=": value >= number,
    }[op]


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _select(event: Any, selector: str) -> Any:
    current = event
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector):
        if name and isinstance(current, dict) and name in current:
            current = current[name]
        elif index and isinstance(current, list) and int(index) < len(current):
            current = current[int(index)]
        else:
            return _MISSING
    return current
