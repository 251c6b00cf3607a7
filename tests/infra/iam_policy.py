"""IAM policy evaluation: does a set of policies allow one request?

A small evaluator of the documented IAM semantics the pgcdc module relies on, tested in
tests/infra/test_iam_policy.py:

- Decision: an explicit ``Deny`` in any statement wins; otherwise an ``Allow`` allows;
  otherwise the request is implicitly denied.
- ``Action`` / ``NotAction``: service prefix and action name compare case-insensitively;
  ``*`` matches any run of characters, ``?`` one character.
- ``Resource`` / ``NotResource``: case-sensitive; wildcards do not cross the colons between
  partition, service, region and account, but do within the resource part (which holds
  colons and slashes of its own: ``log-group:NAME:*`` matches ``log-group:NAME:log-stream:S``,
  ``arn:aws:s3:::bucket/*`` matches ``bucket/a/b``).
- ``Principal`` (trust and resource policies): ``"*"``, ``{"AWS": ...}``, ``{"Service": ...}``.
- ``Condition``: operators are ANDed, keys within an operator are ANDed, the values listed
  for one key are ORed. A key missing from the request makes a condition false, except for
  negated operators (true), ``...IfExists`` (true) and ``Null``. Supported operators: the
  String, Arn and Bool families and Null; any other operator raises, so an unknown operator
  can never be mistaken for a satisfied one.

What it does not model (the module uses none of it): permission boundaries, SCPs, session
policies, policy variables, ``ForAllValues``/``ForAnyValue``, numeric/date/IP operators.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

Policy = Mapping[str, Any]
Statement = Mapping[str, Any]

ARN_FIXED_PARTS = 5  # arn, partition, service, region, account; the resource follows


class Decision(Enum):
    """The outcome of evaluating a request against policies."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One authorisation question: may ``principal`` do ``action`` on ``resource``?

    ``principal`` is only read by statements with a ``Principal`` element (trust and
    resource policies), as ``(kind, value)``: ``("Service", "lambda.amazonaws.com")`` or
    ``("AWS", "arn:aws:iam::123456789012:role/x")``. ``context`` holds condition keys.
    """

    action: str
    resource: str
    principal: tuple[str, str] | None = None
    context: Mapping[str, str] = field(default_factory=dict)


def evaluate(policies: Sequence[Policy], request: Request) -> Decision:
    """The decision of all ``policies`` together on ``request``."""
    allowed = False
    for policy in policies:
        for statement in statements(policy):
            if not statement_applies(statement, request):
                continue
            if statement["Effect"] == "Deny":
                return Decision.EXPLICIT_DENY
            if statement["Effect"] == "Allow":
                allowed = True
            else:
                raise ValueError(f"statement has Effect {statement['Effect']!r}")
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def statements(policy: Policy) -> list[Statement]:
    """A policy's statements (``Statement`` may be one object or a list)."""
    found = policy["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def statement_applies(statement: Statement, request: Request) -> bool:
    """Whether the statement's action, resource, principal and conditions all match."""
    return (
        _element_matches(statement, "Action", request.action, action_matches)
        and _resource_matches(statement, request.resource)
        and _principal_matches(statement, request.principal)
        and conditions_hold(statement.get("Condition", {}), request.context)
    )


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _element_matches(statement: Statement, name: str, value: str, match: Any) -> bool:
    """``name`` (or ``Not<name>``): does the statement cover ``value``?"""
    if name in statement:
        return any(match(pattern, value) for pattern in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(match(pattern, value) for pattern in _as_list(statement[f"Not{name}"]))
    raise ValueError(f"statement has neither {name} nor Not{name}: {statement}")


def _resource_matches(statement: Statement, resource: str) -> bool:
    """Trust policies have no Resource element: their resource is the role itself."""
    if "Resource" not in statement and "NotResource" not in statement:
        return "Principal" in statement
    return _element_matches(statement, "Resource", resource, arn_matches)


@lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character, everything else literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the wildcard ``pattern`` as a whole."""
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """``s3:Get*`` covers ``s3:GetObject``; ``*`` covers every action; case-insensitive."""
    return like(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether the ARN pattern covers ``arn`` (wildcards stay within the fixed parts)."""
    if pattern == "*":
        return True
    want = pattern.split(":", ARN_FIXED_PARTS)
    have = arn.split(":", ARN_FIXED_PARTS)
    if len(want) != len(have) or len(have) <= ARN_FIXED_PARTS:
        return False
    return all(like(p, v) for p, v in zip(want, have, strict=True))


def _principal_matches(statement: Statement, principal: tuple[str, str] | None) -> bool:
    """Identity policies have no Principal; in trust/resource policies it must match."""
    if "Principal" not in statement:
        return True
    if principal is None:
        return False
    given = statement["Principal"]
    if given == "*":
        return True
    kind, value = principal
    return any(p in ("*", value) for p in _as_list(given.get(kind, [])))


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_equals_ignore_case(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


def _bool_equals(pattern: str, value: str) -> bool:
    return str(pattern).lower() == value.lower()


# Each base operator and its test of one policy value against the request's value; the
# ``Not`` forms negate it. ArnEquals and ArnLike both take wildcards (documented so).
_OPERATORS: dict[str, Any] = {
    "StringEquals": _string_equals,
    "StringEqualsIgnoreCase": _string_equals_ignore_case,
    "StringLike": like,
    "ArnEquals": arn_matches,
    "ArnLike": arn_matches,
    "Bool": _bool_equals,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Whether every operator's every key holds for the request ``context``."""
    return all(
        condition_holds(operator, key, _as_list(values) if values is not None else [], context)
        for operator, keys in block.items()
        for key, values in keys.items()
    )


def condition_holds(
    operator: str, key: str, values: Sequence[Any], context: Mapping[str, str]
) -> bool:
    """One operator on one key: any listed value matching satisfies it (negated: none)."""
    # Condition keys are case-insensitive; the request context is looked up accordingly.
    present = {k.lower(): v for k, v in context.items()}
    actual = present.get(key.lower())
    if operator == "Null":
        wanted_absent = [str(v).lower() == "true" for v in values]
        return all(want == (actual is None) for want in wanted_absent)
    base, if_exists = operator.removesuffix("IfExists"), operator.endswith("IfExists")
    if base not in _OPERATORS and base not in _NEGATED:
        raise ValueError(f"condition operator {operator!r} is not supported by this evaluator")
    if actual is None:
        return if_exists or base in _NEGATED
    if base in _NEGATED:
        test = _OPERATORS[_NEGATED[base]]
        return not any(test(str(v), actual) for v in values)
    return any(_OPERATORS[base](str(v), actual) for v in values)
