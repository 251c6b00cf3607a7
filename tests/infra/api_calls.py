"""AWS API calls as the emulator receives them, and the IAM request each one makes.

``CallRecorder`` wraps the in-process moto server's WSGI application, so it sees every
request over HTTP, whoever sends it: boto3 in the handlers (Secrets Manager), the AWS C++
SDK inside pyarrow (S3), the Lambda emulator shipping logs, moto's Step Functions interpreter
(Lambda invoke, SNS publish). Each call keeps the access key that signed it (which says
who made it) and what is needed to name its operation and resource.

``iam_requests`` turns a call into the IAM action(s) AWS authorises for it and the resource
ARN each is checked against, following the Service Authorization Reference: S3 HeadObject is
``s3:GetObject`` on the object, ListObjectsV2 and HeadBucket are ``s3:ListBucket`` on the
bucket, multipart steps are ``s3:PutObject``, Lambda Invoke is ``lambda:InvokeFunction`` on
the function. A call it cannot map raises ``UnmappedCallError``: the table grows with the code
instead of letting a call through unchecked.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Bodies read to name the operation and its parameters (JSON and query protocols).
_PARAM_BODIES = ("application/x-amz-json", "application/json", "application/x-www-form-urlencoded")
_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]*)/[^/]*/([^/]*)/([^/]*)/aws4_request")


class UnmappedCallError(Exception):
    """A recorded call this module cannot yet turn into IAM action and resource."""


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request to the emulator: who signed it and what it asked for."""

    seq: int
    access_key: str
    service: str  # the SigV4 signing name: s3, secretsmanager, lambda, logs, sns...
    region: str
    method: str
    path: str  # percent-decoded
    query: Mapping[str, list[str]]
    operation: str  # from X-Amz-Target or the query protocol's Action; "" for REST
    params: Mapping[str, Any]
    copy_source: str | None = None
    body: bytes = b""

    def describe(self) -> str:
        """A short form for failure messages."""
        name = self.operation or f"{self.method} {self.path}"
        return f"#{self.seq} {self.service} {name} (key {self.access_key or '-'})"


@dataclass
class CallRecorder:
    """Every request the wrapped server received, in order of arrival."""

    calls: list[ApiCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self) -> int:
        """A position to slice ``calls`` from later."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[ApiCall]:
        """The calls recorded after ``mark``."""
        with self._lock:
            return list(self.calls[mark:])

    def observe(self, environ: dict[str, Any]) -> None:
        """Record the request in ``environ`` (its body is read and put back)."""
        body = _read_body(environ)
        with self._lock:
            self.calls.append(parse_request(len(self.calls), environ, body))


def _read_body(environ: dict[str, Any]) -> bytes:
    """The body, when it names parameters; ``wsgi.input`` is replaced so moto reads it too."""
    kind = environ.get("CONTENT_TYPE", "")
    wanted = kind.startswith(_PARAM_BODIES) or "delete" in environ.get("QUERY_STRING", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not wanted or length <= 0:
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def parse_request(seq: int, environ: Mapping[str, Any], body: bytes) -> ApiCall:
    """The ``ApiCall`` of one WSGI request."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"])
    split = urlsplit(raw)
    query = parse_qs(split.query, keep_blank_values=True)
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    found = _SIGV4_CREDENTIAL.search(auth) or _SIGV4_CREDENTIAL.search(
        "Credential=" + query.get("X-Amz-Credential", [""])[0]
    )
    key, region, service = found.groups() if found else ("", "", "")
    kind = str(environ.get("CONTENT_TYPE", ""))
    params: dict[str, Any] = {}
    operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
    if body and kind.startswith("application/x-www-form-urlencoded"):
        params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        operation = params.get("Action", operation)
    elif body and operation:
        params = json.loads(body)
    return ApiCall(
        seq=seq,
        access_key=key,
        service=service,
        region=region,
        method=str(environ["REQUEST_METHOD"]),
        path=unquote(split.path),
        query=query,
        operation=operation,
        params=params,
        copy_source=environ.get("HTTP_X_AMZ_COPY_SOURCE"),
        body=body,
    )


@contextlib.contextmanager
def recording(recorder: CallRecorder) -> Iterator[CallRecorder]:
    """Record every request moto servers of this process receive while inside."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def observed(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        recorder.observe(environ)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = observed  # type: ignore[method-assign]
    try:
        yield recorder
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class IamRequest:
    """One IAM authorisation a call needs: ``service:Action`` on a resource ARN."""

    action: str
    resource: str


@dataclass(frozen=True)
class Names:
    """What turns names in calls into ARNs: the account, and secrets' ARNs by name."""

    account: str
    secret_arns: Mapping[str, str]


def partition(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def iam_requests(call: ApiCall, names: Names) -> list[IamRequest]:
    """The IAM actions and resources AWS authorises ``call`` by (UnmappedCallError if unknown)."""
    mapper = _MAPPERS.get(call.service)
    if mapper is None:
        raise UnmappedCallError(f"no IAM mapping for service {call.service!r}: {call.describe()}")
    return mapper(call, names)


def _s3_arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def _s3_object_action(call: ApiCall) -> str | None:
    """The IAM action of a request on an object (path-style ``/bucket/key``)."""
    q = call.query
    by_method: dict[str, str | None] = {
        "GET": "s3:ListMultipartUploadParts" if "uploadId" in q else "s3:GetObject",
        "HEAD": "s3:GetObject",  # HeadObject
        # PutObject, UploadPart, CopyObject's destination
        "PUT": "s3:PutObject",
        # CreateMultipartUpload, CompleteMultipartUpload
        "POST": "s3:PutObject" if {"uploads", "uploadId"} & q.keys() else None,
        "DELETE": "s3:AbortMultipartUpload" if "uploadId" in q else "s3:DeleteObject",
    }
    subresources = {"acl", "tagging", "versionId", "retention", "legal-hold", "restore", "select"}
    return None if subresources & q.keys() else by_method.get(call.method)


def _s3_bucket_action(call: ApiCall) -> str | None:
    """The IAM action of a request on a bucket (path-style ``/bucket``)."""
    q = call.query
    if call.method == "HEAD":
        return "s3:ListBucket"  # HeadBucket
    if call.method == "GET":
        if "location" in q:
            return "s3:GetBucketLocation"
        if "uploads" in q:
            return "s3:ListBucketMultipartUploads"
        if q.keys() <= {
            "list-type",
            "prefix",
            "delimiter",
            "max-keys",
            "continuation-token",
            "start-after",
            "encoding-type",
            "fetch-owner",
            "marker",
        }:
            return "s3:ListBucket"  # ListObjectsV2, ListObjects
    return None


def _s3(call: ApiCall, names: Names) -> list[IamRequest]:
    """S3 REST requests, path-style as the functions send them to an endpoint override."""
    bucket, _, key = call.path.lstrip("/").partition("/")
    if not bucket:
        raise UnmappedCallError(f"S3 request without a bucket: {call.describe()}")
    if call.method == "POST" and not key and "delete" in call.query:  # DeleteObjects
        # The body is the functions' own request to a local emulator, not untrusted input.
        tree = ET.fromstring(call.body)  # noqa: S314
        keys = [e.text or "" for e in tree.iter() if e.tag.endswith("Key")]
        return [IamRequest("s3:DeleteObject", _s3_arn(bucket, k)) for k in keys]
    action = _s3_object_action(call) if key else _s3_bucket_action(call)
    if action is None:
        raise UnmappedCallError(f"S3 request with no IAM mapping: {call.describe()} {call.query}")
    found = [IamRequest(action, _s3_arn(bucket, key or None))]
    if call.copy_source:  # CopyObject / UploadPartCopy also read the source object
        source = unquote(call.copy_source).lstrip("/").partition("?")[0]
        found.append(IamRequest("s3:GetObject", f"arn:aws:s3:::{source}"))
    return found


def _secretsmanager(call: ApiCall, names: Names) -> list[IamRequest]:
    if call.operation not in {"GetSecretValue", "DescribeSecret"}:
        raise UnmappedCallError(f"Secrets Manager call with no IAM mapping: {call.describe()}")
    secret = str(call.params["SecretId"])
    if not secret.startswith("arn:"):
        if secret not in names.secret_arns:
            raise UnmappedCallError(f"secret {secret!r} is unknown: {call.describe()}")
        secret = names.secret_arns[secret]
    return [IamRequest(f"secretsmanager:{call.operation}", secret)]


_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _lambda(call: ApiCall, names: Names) -> list[IamRequest]:
    found = _INVOKE_PATH.match(call.path)
    if call.method != "POST" or found is None:
        raise UnmappedCallError(f"Lambda call with no IAM mapping: {call.describe()}")
    name = found["name"]
    arn = (
        name
        if name.startswith("arn:")
        else f"arn:{partition(call.region)}:lambda:{call.region}:{names.account}:function:{name}"
    )
    if "Qualifier" in call.query:
        arn = f"{arn}:{call.query['Qualifier'][0]}"
    return [IamRequest("lambda:InvokeFunction", arn)]


def _logs(call: ApiCall, names: Names) -> list[IamRequest]:
    """Log group actions are checked on ``log-group:NAME:log-stream:STREAM`` (or ``:*``)."""
    group = str(call.params.get("logGroupName", ""))
    base = f"arn:{partition(call.region)}:logs:{call.region}:{names.account}:log-group:{group}"
    if call.operation in {"CreateLogStream", "PutLogEvents"}:
        stream = str(call.params["logStreamName"])
        return [IamRequest(f"logs:{call.operation}", f"{base}:log-stream:{stream}")]
    if call.operation == "CreateLogGroup":
        return [IamRequest("logs:CreateLogGroup", f"{base}:log-stream:")]
    raise UnmappedCallError(f"CloudWatch Logs call with no IAM mapping: {call.describe()}")


def _sns(call: ApiCall, names: Names) -> list[IamRequest]:
    if call.operation != "Publish":
        raise UnmappedCallError(f"SNS call with no IAM mapping: {call.describe()}")
    topic = call.params.get("TopicArn") or call.params.get("TargetArn")
    return [IamRequest("sns:Publish", str(topic))]


def _cloudwatch(call: ApiCall, names: Names) -> list[IamRequest]:
    if call.operation != "PutMetricData":
        raise UnmappedCallError(f"CloudWatch call with no IAM mapping: {call.describe()}")
    return [IamRequest("cloudwatch:PutMetricData", "*")]  # no resource-level permissions


_MAPPERS: dict[str, Callable[[ApiCall, Names], list[IamRequest]]] = {
    "s3": _s3,
    "secretsmanager": _secretsmanager,
    "lambda": _lambda,
    "logs": _logs,
    "sns": _sns,
    "monitoring": _cloudwatch,
}
