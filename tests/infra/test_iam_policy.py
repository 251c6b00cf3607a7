"""The IAM evaluator of tests/infra/iam_policy.py against documented IAM semantics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam_policy import Decision, Request, arn_matches, condition_holds, evaluate

pytestmark = pytest.mark.unit

BUCKET = "arn:aws:s3:::pgcdc-raw"
GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/pgcdc-capture"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def decide(p: dict[str, Any], action: str, resource: str, **kw: Any) -> Decision:
    return evaluate([p], Request(action, resource, **kw))


def test_nothing_allowed_is_an_implicit_deny() -> None:
    assert decide(policy(), "s3:GetObject", f"{BUCKET}/k") is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow_in_any_policy() -> None:
    grant = policy(allow("s3:*", "*"))
    deny = policy({"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"{BUCKET}/*"})
    request = Request("s3:PutObject", f"{BUCKET}/raw/x.parquet")
    assert evaluate([grant], request) is Decision.ALLOW
    assert evaluate([grant, deny], request) is Decision.EXPLICIT_DENY
    assert evaluate([deny, grant], request) is Decision.EXPLICIT_DENY


def test_actions_compare_case_insensitively_with_wildcards() -> None:
    p = policy(allow(["S3:get*", "lambda:InvokeFunctio?"], "*"))
    assert decide(p, "s3:GetObject", "x") is Decision.ALLOW
    assert decide(p, "lambda:InvokeFunction", "x") is Decision.ALLOW
    assert decide(p, "s3:PutObject", "x") is Decision.IMPLICIT_DENY
    # "?" is exactly one character; a prefix is not a match.
    assert decide(p, "lambda:InvokeFunctionUrl", "x") is Decision.IMPLICIT_DENY
    assert decide(policy(allow("s3:Get", "*")), "s3:GetObject", "x") is Decision.IMPLICIT_DENY


def test_not_action_covers_every_action_but_those_listed() -> None:
    p = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(p, "s3:GetObject", "x") is Decision.ALLOW
    assert decide(p, "iam:PassRole", "x") is Decision.IMPLICIT_DENY


def test_object_arns_match_below_the_prefix_and_not_the_bucket_itself() -> None:
    p = policy(allow("s3:GetObject", f"{BUCKET}/raw/*"), allow("s3:ListBucket", BUCKET))
    assert decide(p, "s3:GetObject", f"{BUCKET}/raw/public.orders/a/b.parquet") is Decision.ALLOW
    assert decide(p, "s3:GetObject", f"{BUCKET}/processed/x") is Decision.IMPLICIT_DENY
    assert decide(p, "s3:GetObject", f"{BUCKET}-other/raw/x") is Decision.IMPLICIT_DENY
    assert decide(p, "s3:ListBucket", BUCKET) is Decision.ALLOW
    assert decide(p, "s3:ListBucket", f"{BUCKET}/raw/x") is Decision.IMPLICIT_DENY


def test_resources_compare_case_sensitively() -> None:
    p = policy(allow("s3:GetObject", f"{BUCKET}/raw/*"))
    assert decide(p, "s3:GetObject", f"{BUCKET}/RAW/x") is Decision.IMPLICIT_DENY


def test_a_log_group_pattern_with_colon_star_covers_its_streams_only() -> None:
    p = policy(allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"{GROUP}:*"))
    stream = f"{GROUP}:log-stream:2026/12/03/[$LATEST]abc"
    assert decide(p, "logs:PutLogEvents", stream) is Decision.ALLOW
    other = stream.replace("pgcdc-capture", "pgcdc-load")
    assert decide(p, "logs:PutLogEvents", other) is Decision.IMPLICIT_DENY


def test_wildcards_do_not_cross_the_fixed_parts_of_an_arn() -> None:
    # "*" in the region part cannot swallow the account and resource parts.
    assert arn_matches("arn:aws:logs:*:123456789012:*", f"{GROUP}:log-stream:s")
    assert not arn_matches("arn:aws:logs:*", f"{GROUP}:log-stream:s")
    assert not arn_matches("arn:aws:logs:us-east-1:999999999999:*", f"{GROUP}:log-stream:s")
    assert arn_matches("*", "anything")


def test_not_resource_covers_every_resource_but_those_listed() -> None:
    p = policy({"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]})
    assert decide(p, "s3:GetObject", "arn:aws:s3:::elsewhere/k") is Decision.EXPLICIT_DENY
    assert decide(p, "s3:GetObject", f"{BUCKET}/k") is Decision.IMPLICIT_DENY


def test_trust_policy_matches_the_service_principal_and_its_condition() -> None:
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    )
    role = "arn:aws:iam::123456789012:role/pgcdc-state-machine"
    states = ("Service", "states.amazonaws.com")
    ok = {"aws:SourceAccount": "123456789012"}
    assert decide(trust, "sts:AssumeRole", role, principal=states, context=ok) is Decision.ALLOW
    other = {"aws:SourceAccount": "210987654321"}
    assert decide(trust, "sts:AssumeRole", role, principal=states, context=other) is (
        Decision.IMPLICIT_DENY
    )
    assert decide(trust, "sts:AssumeRole", role, principal=states) is Decision.IMPLICIT_DENY
    lam = ("Service", "lambda.amazonaws.com")
    assert decide(trust, "sts:AssumeRole", role, principal=lam, context=ok) is (
        Decision.IMPLICIT_DENY
    )


def test_tls_only_bucket_policy_denies_plain_http_and_lets_https_through() -> None:
    tls_only = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    obj = f"{BUCKET}/raw/x"
    role = ("AWS", "arn:aws:iam::123456789012:role/r")
    http = {"aws:SecureTransport": "false"}
    https = {"aws:SecureTransport": "true"}
    assert decide(tls_only, "s3:PutObject", obj, principal=role, context=http) is (
        Decision.EXPLICIT_DENY
    )
    assert decide(tls_only, "s3:PutObject", obj, principal=role, context=https) is (
        Decision.IMPLICIT_DENY
    )


@pytest.mark.parametrize(
    ("operator", "values", "context", "holds"),
    [
        ("StringEquals", ["a", "b"], {"k": "b"}, True),  # values for one key are ORed
        ("StringEquals", ["a"], {"k": "A"}, False),  # case-sensitive
        ("StringEqualsIgnoreCase", ["a"], {"k": "A"}, True),
        ("StringLike", ["pg*-?"], {"k": "pgcdc-x"}, True),
        ("StringLike", ["pg*-?"], {"k": "pgcdc-xy"}, False),
        ("StringNotEquals", ["a", "b"], {"k": "c"}, True),
        ("StringNotEquals", ["a", "b"], {"k": "b"}, False),
        # A missing key: false, except negated operators, IfExists and Null.
        ("StringEquals", ["a"], {}, False),
        ("StringNotEquals", ["a"], {}, True),
        ("StringNotLike", ["a*"], {}, True),
        ("StringEqualsIfExists", ["a"], {}, True),
        ("StringEqualsIfExists", ["a"], {"k": "b"}, False),
        ("Null", ["true"], {}, True),
        ("Null", ["true"], {"k": "v"}, False),
        ("Null", ["false"], {"k": "v"}, True),
        ("Bool", [True], {"k": "true"}, True),
        ("Bool", ["false"], {"k": "true"}, False),
        (
            "ArnLike",
            ["arn:aws:sns:*:123456789012:alerts-*"],
            {"k": "arn:aws:sns:eu:123456789012:alerts-x"},
            True,
        ),
        ("ArnNotLike", ["arn:aws:sns:*:*:alerts"], {"k": "arn:aws:sns:eu:1:other"}, True),
    ],
)
def test_condition_operators(
    operator: str, values: list[Any], context: dict[str, str], holds: bool
) -> None:
    assert condition_holds(operator, "k", values, context) is holds


def test_condition_keys_are_case_insensitive() -> None:
    assert condition_holds("StringEquals", "aws:sourceaccount", ["1"], {"aws:SourceAccount": "1"})


def test_operators_and_keys_are_anded() -> None:
    p = policy(
        allow(
            "sns:Publish",
            "*",
            Condition={"StringEquals": {"a": "1", "b": "2"}, "Bool": {"c": "true"}},
        )
    )
    full = {"a": "1", "b": "2", "c": "true"}
    assert decide(p, "sns:Publish", "t", context=full) is Decision.ALLOW
    for missing in full:
        partial = {k: v for k, v in full.items() if k != missing}
        assert decide(p, "sns:Publish", "t", context=partial) is Decision.IMPLICIT_DENY


def test_an_unsupported_operator_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="NumericLessThan"):
        condition_holds("NumericLessThan", "k", ["3"], {})
