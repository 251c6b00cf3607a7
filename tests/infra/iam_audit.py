"""Check recorded AWS calls against the deployed roles' policies, as read back from IAM.

Each call is attributed to a role by the access key that signed it, turned into the IAM
request(s) it needs (tests/infra/api_calls.py), and decided by tests/infra/iam_policy.py
against every policy of that role: its inline policies and the default version of each
attached managed policy, read through the IAM API of the emulator (what Terraform deployed,
not the .tf text). moto's own policy evaluator (what its optional IAM enforcement uses) gives
a second opinion on each decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.infra.api_calls import ApiCall, IamRequest, Names, iam_requests
from tests.infra.iam_policy import Decision, Request, evaluate

Policy = dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """The decision on one IAM request of one call, by the caller's role policies."""

    call: ApiCall
    role: str
    request: IamRequest
    decision: Decision
    moto_decision: Decision

    def describe(self) -> str:
        """One line for a failure message."""
        role = self.role.rpartition("/")[2]
        return (
            f"{role} → {self.request.action} on {self.request.resource}: "
            f"{self.decision.value} ({self.call.describe()})"
        )


def _document(value: Any) -> Policy:
    """A policy document as boto3 returns it (decoded already, or a JSON string)."""
    return dict(json.loads(value) if isinstance(value, str) else value)


def role_policies(iam: Any, role_arn: str) -> list[Policy]:
    """Every identity policy of the role: inline ones and attached managed ones' defaults."""
    name = role_arn.rpartition("/")[2]
    found = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy in page["PolicyNames"]:
            reply = iam.get_role_policy(RoleName=name, PolicyName=policy)
            found.append(_document(reply["PolicyDocument"]))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            reply = iam.get_policy_version(PolicyArn=arn, VersionId=version)
            found.append(_document(reply["PolicyVersion"]["Document"]))
    return found


def trust_policy(iam: Any, role_arn: str) -> Policy:
    """The role's trust (assume role) policy."""
    role = iam.get_role(RoleName=role_arn.rpartition("/")[2])["Role"]
    return _document(role["AssumeRolePolicyDocument"])


def moto_decision(policies: Iterable[Policy], request: IamRequest) -> Decision:
    """moto's evaluator on the same request (``moto.iam.access_control.IAMPolicy``)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    results = [
        IAMPolicy(json.dumps(p)).is_action_permitted(request.action, request.resource)
        for p in policies
    ]
    if PermissionResult.DENIED in results:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if PermissionResult.PERMITTED in results else Decision.IMPLICIT_DENY


@dataclass
class Audit:
    """The verdicts on a run's calls, and the calls no known principal signed."""

    verdicts: list[Verdict]
    unattributed: list[ApiCall]

    def of(self, role: str) -> list[Verdict]:
        """The verdicts on one role's calls."""
        return [v for v in self.verdicts if v.role == role]

    def refused(self) -> list[Verdict]:
        """The verdicts that are not an Allow."""
        return [v for v in self.verdicts if v.decision is not Decision.ALLOW]


def no_resource_policy(request: IamRequest) -> list[Policy]:
    """For ``audit``: no resource has a policy of its own."""
    return []


@dataclass(frozen=True)
class Deployed:
    """Where ``audit`` finds policies: each role's, and a resource's own (bucket policies).

    ``context`` is the request context the callers send on AWS (``aws:SecureTransport``...).
    """

    policies_of: Callable[[str], list[Policy]]
    resource_policies_of: Callable[[IamRequest], list[Policy]] = no_resource_policy
    context: Mapping[str, str] = field(default_factory=dict)

    def decide(self, role: str, request: IamRequest) -> Decision:
        """Same account: an Allow in the role's or the resource's policy, and no Deny."""
        policies = [*self.policies_of(role), *self.resource_policies_of(request)]
        asked = Request(request.action, request.resource, ("AWS", role), self.context)
        return evaluate(policies, asked)


def audit(
    calls: Iterable[ApiCall],
    principals: Mapping[str, str],
    operator_keys: set[str],
    names: Names,
    deployed: Deployed,
) -> Audit:
    """Decide every call signed by a key in ``principals`` (key → role ARN).

    Calls signed by ``operator_keys`` (the test itself, Terraform) are not the stack's and
    are skipped; calls signed by any other key are returned as unattributed. moto's opinion
    is asked on the role's own policies (it cannot evaluate the buckets' conditions).
    """
    result = Audit([], [])
    for call in calls:
        role = principals.get(call.access_key)
        if role is None:
            if call.access_key not in operator_keys and not call.path.startswith("/moto-api"):
                result.unattributed.append(call)
            continue
        for request in iam_requests(call, names):
            decision = deployed.decide(role, request)
            second = moto_decision(deployed.policies_of(role), request)
            result.verdicts.append(Verdict(call, role, request, decision, second))
    return result


def may_assume(trust: Policy, service: str, role_arn: str, context: Mapping[str, str]) -> bool:
    """Whether the trust policy lets ``service`` assume the role with this request context."""
    request = Request("sts:AssumeRole", role_arn, ("Service", service), context)
    return evaluate([trust], request) is Decision.ALLOW
