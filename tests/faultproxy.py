"""A fault-injecting HTTP proxy in front of the S3 server, for tests of storage under faults.

A real loopback HTTP/1.1 server: every request is either forwarded to the upstream (the moto
server) and its answer relayed, or answered with a fault drawn from a seeded RNG:

- ``slowdown``: ``503 SlowDown`` with S3's XML error body (throttling);
- ``internal``: ``500 InternalError`` with S3's XML error body;
- ``reset``: the connection is reset (RST) before the request reaches the upstream;
- ``lost``: the request is forwarded and done by the upstream, then the connection is reset
  instead of answering (the client cannot know the request took effect).

What was injected is counted per kind (and per S3 operation) so a test can assert that faults
really happened. Requests run on threads, so which request gets a fault depends on their
order; the seed fixes the sequence of draws, not which request receives which.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("slowdown", "internal", "reset", "lost")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
_ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
}


@dataclass
class FaultPlan:
    """How often each fault kind is injected (fractions of all requests, summing to < 1)."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    only: frozenset[str] | None = None
    """Fault only these S3 operations (e.g. ``{"UploadPart"}``); None: every operation."""
    limit: int | None = None
    """Inject at most this many faults under this plan; None: no limit."""

    @classmethod
    def uniform(
        cls, total: float, *, seed: int = 0, kinds: tuple[str, ...] = FAULT_KINDS
    ) -> FaultPlan:
        """``total`` of the requests faulted, shared equally between ``kinds``."""
        return cls({k: total / len(kinds) for k in kinds}, seed=seed)


class FaultProxy:
    """The running proxy: its endpoint, what it forwarded and what it injected."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self.injected_by_operation: Counter[tuple[str, str]] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)
        self._under_plan = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        """The proxy's address, to give clients instead of the upstream's."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def set_plan(self, plan: FaultPlan) -> None:
        """Change the fault rates (e.g. none while a test sets up or checks)."""
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self._under_plan = 0

    def draw(self, operation: str) -> str | None:
        """The fault to inject into the next request of ``operation`` (None: forward it)."""
        with self._lock:
            plan = self.plan
            roll = self._rng.random()
            if plan.only is not None and operation not in plan.only:
                return None
            if plan.limit is not None and self._under_plan >= plan.limit:
                return None
            for kind in FAULT_KINDS:
                roll -= plan.rates.get(kind, 0.0)
                if roll < 0:
                    self._under_plan += 1
                    self.injected[kind] += 1
                    self.injected_by_operation[(operation, kind)] += 1
                    return kind
            return None

    def note_forwarded(self, operation: str) -> None:
        with self._lock:
            self.forwarded[operation] += 1

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def fault_proxy(upstream: str, plan: FaultPlan | None = None) -> Iterator[FaultProxy]:
    """A proxy to ``upstream`` (``http://host:port``) for the block; no faults by default."""
    proxy = FaultProxy(upstream, plan or FaultPlan()).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def s3_operation(method: str, target: str) -> str:
    """The S3 API operation a path-style request names (enough to tell them apart in counts)."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    has_key = parts.path.strip("/").count("/") >= 1
    if "uploads" in query:
        return "CreateMultipartUpload" if method == "POST" else "ListMultipartUploads"
    if "uploadId" in query:
        by_method = {
            "PUT": "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
        }
        return by_method.get(method, "ListParts")
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if not has_key:
        listing = "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        by_bucket = {"GET": listing, "HEAD": "HeadBucket", "PUT": "CreateBucket"}
        return by_bucket.get(method, f"{method}Bucket")
    by_object = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}
    return by_object.get(method, "DeleteObject" if method == "DELETE" else f"{method}Object")


def error_body(code: str, message: str, resource: str) -> bytes:
    """An S3 error document, as S3 sends it."""
    request_id = uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the counters say what happened."""

    def do_GET(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def do_DELETE(self) -> None:
        self._relay()

    def _relay(self) -> None:
        body = self._read_body()
        operation = s3_operation(self.command, self.path)
        fault = self.owner.draw(operation)
        if fault in _ERRORS:
            self._answer_error(fault)
            return
        if fault == "reset":
            self._reset()
            return
        status, reason, headers, payload = self._forward(body)
        self.owner.note_forwarded(operation)
        if fault == "lost":
            self._reset()
            return
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        """The raw request body (chunked bodies kept chunked, as the signature covers them)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream on this connection's own keep-alive connection."""
        for attempt in (1, 2):
            conn = self._upstream or http.client.HTTPConnection(*self.owner.upstream, timeout=60)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                conn.endheaders(body or None)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._upstream = None
                if attempt == 2:
                    raise
                continue
            self._upstream = conn
            keep = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "transfer-encoding"
            ]
            if self.command != "HEAD" and not any(k.lower() == "content-length" for k, _ in keep):
                keep.append(("Content-Length", str(len(payload))))
            return resp.status, resp.reason, keep, payload
        raise AssertionError("unreachable")

    def _answer_error(self, fault: str) -> None:
        status, code, message = _ERRORS[fault]
        payload = error_body(code, message, urlsplit(self.path).path)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the peer sees ECONNRESET, not a clean end of stream."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        if self._upstream is not None:
            self._upstream.close()


def _read_chunked(stream: object) -> bytes:
    """Read a chunked body whole, framing and trailers included."""
    readline = stream.readline  # type: ignore[attr-defined]
    read = stream.read  # type: ignore[attr-defined]
    out = bytearray()
    while True:
        line = readline()
        out += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += read(size + 2)
    while True:  # trailers, then the empty line
        line = readline()
        out += line
        if line in (b"\r\n", b"\n", b""):
            return bytes(out)
