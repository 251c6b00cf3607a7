"""A moto server in this process whose Lambda runs the deployed functions' real handlers.

moto executes Step Functions state machines when asked to (``execute_state_machine``), and
its Task states call ``lambda:Invoke`` over HTTP. moto's Lambda runs a function in Docker
(none here), or, with ``{"lambda": {"use_docker": false}}``, swaps in a separate backend
that only echoes canned responses. So the default backend is kept and
:func:`route_lambda_to_handlers` replaces the one method that runs a function,
``moto.awslambda.models.LambdaFunction.invoke`` (what ``LambdaBackend.invoke`` calls with
the stored function, its configuration included), so the function's own ``Handler``
(``pgcdc.pipeline.handlers.capture_handler``...) is imported and called here, with the function's
environment variables as Terraform set them, a Lambda-like context, and a Lambda-like reply:
the handler's return value as JSON, or ``FunctionError: Unhandled`` with ``errorType`` (the
exception's class name) and ``errorMessage``. As on Lambda, a function runs with temporary
credentials of its execution role (AssumeRole on the emulator's STS), and what the handler
printed is sent to the function's log group (``/aws/lambda/<name>``) through the CloudWatch
Logs API with those credentials; so every AWS call a function makes, its log delivery
included, can be traced to its role and checked against the role's policy
(tests/infra/api_calls.py records them).

The handlers run in moto's request threads, one at a time (the functions' reserved
concurrency is 1). Environment and root logging are process-wide, so each invocation swaps
them in and back under a lock.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import boto3
import pytest
import requests

from pgcdc.devtools.localpg import free_port

_LOCK = threading.Lock()

# The credentials the tests and Terraform use on the emulator (the operator, not a function).
OPERATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# moto's Step Functions interpreter signs the service calls of an execution (Lambda invoke,
# SNS publish) with this fixed access key: they are the state machine role's calls.
STATE_MACHINE_ACCESS_KEY = "ak"

# Keys of the test process's environment that a Lambda never inherits.
_FOREIGN_PREFIXES = ("PGCDC_", "AWS_")


@dataclass
class Invocation:
    """One call of a handler: which function, the event, what it printed and returned."""

    function_name: str
    step: str
    event: dict[str, Any]
    request_id: str
    output: str = ""
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    seconds: float = 0.0
    """From the start of the invocation (when its timeout starts to count) to its reply."""

    @property
    def lines(self) -> list[str]:
        """Non-empty output lines."""
        return [line for line in self.output.splitlines() if line.strip()]


@dataclass
class LambdaRouter:
    """Records every routed invocation, in order, and the credentials handed to functions.

    Each function runs with temporary credentials of its execution role, obtained from the
    emulator's STS (AssumeRole), as Lambda does; ``principals`` maps their access key ids to
    the role, so a recorded request can be traced to the role that made it.
    """

    endpoint: str
    invocations: list[Invocation] = field(default_factory=list)
    principals: dict[str, str] = field(default_factory=dict)
    _credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def credentials(self, fn: Any) -> dict[str, str]:
        """The function role's temporary credentials (assumed once, then reused)."""
        if fn.role not in self._credentials:
            sts = _client("sts", self.endpoint, fn.region, OPERATOR_CREDENTIALS)
            issued = sts.assume_role(RoleArn=fn.role, RoleSessionName=fn.function_name)
            found = issued["Credentials"]
            self._credentials[fn.role] = {
                "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
                "AWS_SESSION_TOKEN": found["SessionToken"],
            }
            self.principals[found["AccessKeyId"]] = fn.role
        return self._credentials[fn.role]

    def of(self, step: str) -> list[Invocation]:
        """The invocations of one step's function."""
        return [i for i in self.invocations if i.step == step]


@dataclass
class Context:
    """The Lambda context object's attributes the handlers (and most code) read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout, counted from the invocation's start."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class _Tee(io.TextIOBase):
    """Writes to a buffer and to the real stream, so pytest's capture sees it too."""

    def __init__(self, buffer: io.StringIO, real: IO[str]) -> None:
        self._buffer, self._real = buffer, real

    def write(self, text: str) -> int:
        self._buffer.write(text)
        self._real.write(text)
        return len(text)

    def flush(self) -> None:
        self._real.flush()


def _client(service: str, endpoint: str, region: str, credentials: dict[str, str]) -> Any:
    """A boto3 client of the emulator with explicit credentials (no shared session)."""
    session = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    make: Any = session.client
    return make(service, endpoint_url=endpoint)


def lambda_environment(fn: Any, credentials: dict[str, str]) -> dict[str, str]:
    """What a function's process sees: its configured variables plus Lambda's own."""
    return {
        **{str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        **credentials,  # the execution role's temporary credentials
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "_HANDLER": fn.handler,
    }


@contextlib.contextmanager
def _lambda_process(env: dict[str, str], output: io.StringIO) -> Iterator[None]:
    """Swap in the function's environment, fresh root logging and teed stdout/stderr."""
    saved_env = dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    for key in [k for k in os.environ if k.startswith(_FOREIGN_PREFIXES)]:
        del os.environ[key]
    os.environ.update(env)
    out, err = _Tee(output, sys.stdout), _Tee(output, sys.stderr)
    # A Lambda process starts without boto3's default session, which caches the credentials
    # it first resolved: without this, one function's calls would be signed as another's.
    saved_session, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        boto3.DEFAULT_SESSION = saved_session
        for key in [k for k in os.environ if k not in saved_env]:
            del os.environ[key]
        os.environ.update(saved_env)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _invoke(router: LambdaRouter, fn: Any, body: Any) -> tuple[bytes, bool]:
    """Run the function's handler on ``body``; the reply payload and whether it failed."""
    event = json.loads(body) if body else {}
    module_name, _, attribute = fn.handler.rpartition(".")
    call = Invocation(
        fn.function_name, fn.function_name.rpartition("-")[2], event, str(uuid.uuid4())
    )
    started = time.monotonic()
    context = Context(
        function_name=fn.function_name,
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size),
        aws_request_id=call.request_id,
        log_group_name=fn.logs_group_name,
        deadline=started + int(fn.timeout),
    )
    output = io.StringIO()
    credentials = router.credentials(fn)
    with _LOCK, _lambda_process(lambda_environment(fn, credentials), output):
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
            call.result = handler(event, context)
            payload = json.dumps(call.result)
        except Exception as exc:  # Lambda turns any exception into an error reply
            call.error_type, call.error_message = type(exc).__name__, str(exc)
            payload = json.dumps({"errorType": call.error_type, "errorMessage": str(exc)})
    call.seconds = time.monotonic() - started
    call.output = output.getvalue()
    router.invocations.append(call)
    if call.lines:
        _ship_logs(router.endpoint, fn, credentials, call.lines)
    return payload.encode(), call.error_type is not None


def _ship_logs(endpoint: str, fn: Any, credentials: dict[str, str], lines: list[str]) -> None:
    """Send a function's output lines to its log group as Lambda does: with the function
    role's credentials, through the CloudWatch Logs API, into a new stream; the group is
    created only when missing (which the role must then be allowed to do)."""
    logs = _client("logs", endpoint, fn.region, credentials)
    group = fn.logs_group_name
    now = time.time()
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime(now))}/[{fn.version}]{uuid.uuid4().hex}"
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceNotFoundException:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": int(now * 1000), "message": line} for line in lines]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def route_lambda_to_handlers(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> LambdaRouter:
    """Make moto's Lambda (at ``endpoint``) run the deployed handlers in this process (see
    the module doc)."""
    from moto.awslambda.models import LambdaFunction

    router = LambdaRouter(endpoint)

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        payload, failed = _invoke(router, fn, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    monkeypatch.setattr(LambdaFunction, "invoke", invoke)
    return router


@contextlib.contextmanager
def moto_in_process() -> Iterator[str]:
    """A moto server on a free loopback port of this process that executes state machines.

    moto's Step Functions interpreter calls other services at ``localhost:$MOTO_PORT``, so
    that variable names this server while it runs.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    werkzeug = logging.getLogger("werkzeug")
    saved_level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # one line per request otherwise
    url = f"http://127.0.0.1:{port}"
    try:
        reply = requests.post(
            f"{url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        )
        reply.raise_for_status()
        yield url
    finally:
        server.stop()
        werkzeug.setLevel(saved_level)
        if saved_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = saved_port


@contextlib.contextmanager
def sfn_shim(upstream: str) -> Iterator[str]:
    """The Step Functions shim of tests/infra/conftest.py in front of ``upstream``."""
    import http.server
    from urllib.parse import urlsplit

    from tests.infra.conftest import _SfnShimHandler

    target = urlsplit(upstream)
    handler = type(
        "SfnShim", (_SfnShimHandler,), {"upstream": (target.hostname or "127.0.0.1", target.port)}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, name="sfn-shim-e2e", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
