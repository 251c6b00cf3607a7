"""Recorded requests → the IAM action and resource AWS authorises them by (api_calls.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.infra.api_calls import (
    ApiCall,
    IamRequest,
    Names,
    UnmappedCallError,
    iam_requests,
    parse_request,
)

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:pgcdc/source-AbCdEf"
NAMES = Names(ACCOUNT, {"pgcdc/source": SECRET_ARN})
AUTH = (
    "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261203/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


def environ(
    method: str, uri: str, service: str, body: bytes = b"", **headers: str
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "RAW_URI": uri,
        "PATH_INFO": uri.partition("?")[0],
        "QUERY_STRING": uri.partition("?")[2],
        "HTTP_AUTHORIZATION": AUTH.format(service=service),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    env.update(headers)
    return env


def s3(method: str, uri: str, **headers: str) -> list[IamRequest]:
    return iam_requests(parse_request(0, environ(method, uri, "s3", b"", **headers), b""), NAMES)


def one(requests: list[IamRequest]) -> tuple[str, str]:
    assert len(requests) == 1, requests
    return requests[0].action, requests[0].resource


B = "arn:aws:s3:::raw-bucket"


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("GET", "/raw-bucket/raw/t/a%20b.parquet", ("s3:GetObject", f"{B}/raw/t/a b.parquet")),
        ("HEAD", "/raw-bucket/raw/x", ("s3:GetObject", f"{B}/raw/x")),  # HeadObject
        ("PUT", "/raw-bucket/raw/x", ("s3:PutObject", f"{B}/raw/x")),
        ("POST", "/raw-bucket/raw/x?uploads", ("s3:PutObject", f"{B}/raw/x")),  # Create MPU
        ("PUT", "/raw-bucket/raw/x?partNumber=1&uploadId=u", ("s3:PutObject", f"{B}/raw/x")),
        ("POST", "/raw-bucket/raw/x?uploadId=u", ("s3:PutObject", f"{B}/raw/x")),  # Complete
        ("DELETE", "/raw-bucket/raw/x?uploadId=u", ("s3:AbortMultipartUpload", f"{B}/raw/x")),
        ("GET", "/raw-bucket/raw/x?uploadId=u", ("s3:ListMultipartUploadParts", f"{B}/raw/x")),
        ("DELETE", "/raw-bucket/raw/x", ("s3:DeleteObject", f"{B}/raw/x")),
        ("GET", "/raw-bucket?list-type=2&prefix=raw%2F", ("s3:ListBucket", B)),  # ListObjectsV2
        ("GET", "/raw-bucket?prefix=raw%2F&marker=", ("s3:ListBucket", B)),  # ListObjects
        ("HEAD", "/raw-bucket", ("s3:ListBucket", B)),  # HeadBucket
        ("GET", "/raw-bucket?location", ("s3:GetBucketLocation", B)),
        ("GET", "/raw-bucket?uploads", ("s3:ListBucketMultipartUploads", B)),
    ],
)
def test_s3_operations_map_to_their_iam_action_and_resource(
    method: str, uri: str, expected: tuple[str, str]
) -> None:
    assert one(s3(method, uri)) == expected


def test_copy_object_needs_put_on_the_target_and_get_on_the_source() -> None:
    found = s3("PUT", "/raw-bucket/raw/new", HTTP_X_AMZ_COPY_SOURCE="/other/old%20key")
    assert found == [
        IamRequest("s3:PutObject", f"{B}/raw/new"),
        IamRequest("s3:GetObject", "arn:aws:s3:::other/old key"),
    ]


def test_delete_objects_needs_delete_on_each_key() -> None:
    body = b"<Delete><Object><Key>raw/a</Key></Object><Object><Key>raw/b</Key></Object></Delete>"
    env = environ("POST", "/raw-bucket?delete", "s3", body, CONTENT_TYPE="application/xml")
    found = iam_requests(parse_request(0, env, body), NAMES)
    assert found == [
        IamRequest("s3:DeleteObject", f"{B}/raw/a"),
        IamRequest("s3:DeleteObject", f"{B}/raw/b"),
    ]


@pytest.mark.parametrize(
    ("method", "uri"),
    [("PUT", "/raw-bucket/raw/x?acl"), ("GET", "/raw-bucket?policy"), ("PUT", "/raw-bucket")],
)
def test_an_s3_request_without_a_mapping_is_refused_not_guessed(method: str, uri: str) -> None:
    with pytest.raises(UnmappedCallError):
        s3(method, uri)


def json_call(service: str, target: str, params: dict[str, Any]) -> ApiCall:
    body = json.dumps(params).encode()
    env = environ(
        "POST",
        "/",
        service,
        body,
        CONTENT_TYPE="application/x-amz-json-1.1",
        HTTP_X_AMZ_TARGET=target,
    )
    return parse_request(0, env, env["wsgi.input"].read())


def test_secret_names_resolve_to_their_arn_and_arns_stay() -> None:
    by_name = json_call(
        "secretsmanager", "secretsmanager.GetSecretValue", {"SecretId": "pgcdc/source"}
    )
    assert one(iam_requests(by_name, NAMES)) == ("secretsmanager:GetSecretValue", SECRET_ARN)
    by_arn = json_call("secretsmanager", "secretsmanager.DescribeSecret", {"SecretId": SECRET_ARN})
    assert one(iam_requests(by_arn, NAMES)) == ("secretsmanager:DescribeSecret", SECRET_ARN)
    unknown = json_call("secretsmanager", "secretsmanager.GetSecretValue", {"SecretId": "x"})
    with pytest.raises(UnmappedCallError, match="unknown"):
        iam_requests(unknown, NAMES)


def test_log_delivery_is_checked_on_the_stream_in_its_group() -> None:
    params = {"logGroupName": "/aws/lambda/f", "logStreamName": "2026/12/03/[$LATEST]ab"}
    call = json_call("logs", "Logs_20140328.PutLogEvents", params)
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f"
    assert one(iam_requests(call, NAMES)) == (
        "logs:PutLogEvents",
        f"{group}:log-stream:2026/12/03/[$LATEST]ab",
    )


@pytest.mark.parametrize(
    ("name", "query", "arn"),
    [
        ("f", "", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"),
        ("f", "?Qualifier=live", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:live"),
        (
            f"arn%3Aaws%3Alambda%3Aus-east-1%3A{ACCOUNT}%3Afunction%3Af",
            "",
            f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f",
        ),
    ],
)
def test_lambda_invoke_is_invoke_function_on_the_function_arn(
    name: str, query: str, arn: str
) -> None:
    uri = f"/2015-03-31/functions/{name}/invocations{query}"
    call = parse_request(0, environ("POST", uri, "lambda"), b"")
    assert one(iam_requests(call, NAMES)) == ("lambda:InvokeFunction", arn)


def test_sns_publish_in_the_query_protocol_names_its_topic() -> None:
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    body = f"Action=Publish&TopicArn={topic}&Message=m".encode()
    env = environ("POST", "/", "sns", body, CONTENT_TYPE="application/x-www-form-urlencoded")
    call = parse_request(0, env, body)
    assert call.access_key == "ASIAEXAMPLE" and call.region == "us-east-1"
    assert one(iam_requests(call, NAMES)) == ("sns:Publish", topic)


def test_a_service_without_a_mapping_is_refused() -> None:
    call = json_call("dynamodb", "DynamoDB_20120810.GetItem", {})
    with pytest.raises(UnmappedCallError, match="dynamodb"):
        iam_requests(call, NAMES)


def test_the_body_read_for_parameters_is_put_back_for_the_server() -> None:
    from tests.infra.api_calls import CallRecorder

    body = b'{"SecretId": "pgcdc/source"}'
    env = environ(
        "POST",
        "/",
        "secretsmanager",
        body,
        CONTENT_TYPE="application/x-amz-json-1.1",
        HTTP_X_AMZ_TARGET="secretsmanager.GetSecretValue",
    )
    recorder = CallRecorder()
    recorder.observe(env)
    assert env["wsgi.input"].read() == body
    assert recorder.since(0)[0].params == {"SecretId": "pgcdc/source"}
