"""A moto server in this process whose Lambda runs the deployed functions' real handlers.

moto executes Step Functions state machines when asked to (``execute_state_machine``), and
its Task states call ``lambda:Invoke`` over HTTP. moto's Lambda runs a function in Docker
(none here), or, with ``{"lambda": {"use_docker": false}}``, swaps in a separate backend
that only echoes canned responses. So the default backend is kept and
:func:`route_lambda_to_handlers` replaces the one method that runs a function,
``moto.awslambda.models.LambdaFunction.invoke`` (what ``LambdaBackend.invoke`` calls with
the stored function, its configuration included), so the function's own ``Handler``
(``pipeline.handlers.capture_handler``...) is imported and called here, with the function's
environment variables as Terraform set them, a Lambda-like context, and a Lambda-like reply:
the handler's return value as JSON, or ``FunctionError: Unhandled`` with ``errorType`` (the
exception's class name) and ``errorMessage``. What the handler printed goes to the function's
log group (``/aws/lambda/<name>``) on the emulator, as Lambda does.

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

import pytest
import requests

from pipeline.localpg import free_port

_LOCK = threading.Lock()

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

    @property
    def lines(self) -> list[str]:
        """Non-empty output lines."""
        return [line for line in self.output.splitlines() if line.strip()]


@dataclass
class LambdaRouter:
    """Records every routed invocation, in order."""

    invocations: list[Invocation] = field(default_factory=list)

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


def lambda_environment(fn: Any) -> dict[str, str]:
    """What a function's process sees: its configured variables plus Lambda's own."""
    return {
        **{str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        # The function role's credentials; the emulator accepts any.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
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
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
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
    context = Context(
        function_name=fn.function_name,
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size),
        aws_request_id=call.request_id,
        log_group_name=fn.logs_group_name,
        deadline=time.monotonic() + int(fn.timeout),
    )
    output = io.StringIO()
    with _LOCK, _lambda_process(lambda_environment(fn), output):
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
            call.result = handler(event, context)
            payload = json.dumps(call.result)
        except Exception as exc:  # Lambda turns any exception into an error reply
            call.error_type, call.error_message = type(exc).__name__, str(exc)
            payload = json.dumps({"errorType": call.error_type, "errorMessage": str(exc)})
    call.output = output.getvalue()
    router.invocations.append(call)
    if call.output:
        if fn.logs_group_name not in fn.logs_backend.groups:  # Lambda creates it when missing
            fn.logs_backend.create_log_group(fn.logs_group_name, {})
        fn.save_logs(call.output)
    return payload.encode(), call.error_type is not None


def route_lambda_to_handlers(monkeypatch: pytest.MonkeyPatch) -> LambdaRouter:
    """Make moto's Lambda run the deployed handlers in this process (see the module doc)."""
    from moto.awslambda.models import LambdaFunction

    router = LambdaRouter()

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
