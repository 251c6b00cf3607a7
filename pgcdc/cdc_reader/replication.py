"""PostgreSQL's streaming replication protocol for a logical slot, over psycopg's libpq layer.

Two parts:

- pure framing: the CopyData messages of the protocol (XLogData ``w`` and primary
  keepalive ``k`` from the server, standby status update ``r`` from us), parsed and built
  byte for byte, and the server's clock (microseconds since 2000-01-01 UTC);
- :class:`ReplicationStream`: ``START_REPLICATION SLOT ... LOGICAL`` on a
  ``replication=database`` connection, received on a thread of its own into a bounded
  queue so the server decodes while the caller converts and writes. The thread answers
  keepalives that ask for a reply and sends a status update at least every half
  ``wal_sender_timeout``; the flush position it reports is only what the caller marked
  durable (:meth:`ReplicationStream.mark_durable`), never more, so the slot's
  ``confirmed_flush_lsn`` cannot pass the last durable position. Like
  ``pg_recvlogical --endpos`` it can stop at a fixed upper LSN.

The stream is plugin-agnostic: payloads are wal2json's JSON or pgoutput's binary messages
(:mod:`pgcdc.cdc_reader.pgoutput`) as the slot's plugin writes them; capture
(:mod:`pgcdc.cdc_reader.capture`) reads every slot through it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import select
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcdc.schemas.errors import DecodeError, SourceError, TransientError
from pgcdc.schemas.lsn import ZERO, Lsn

log = logging.getLogger(__name__)

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_XLOGDATA = struct.Struct("!cQQq")  # 'w', start, end, clock; the payload follows
_KEEPALIVE = struct.Struct("!cQqB")  # 'k', server WAL end, clock, reply requested
_STATUS = struct.Struct("!cQQQqB")  # 'r', write, flush, apply, clock, reply requested
_WAIT_SLICE = 0.5  # seconds: the longest the receiver sleeps before looking at the clock
_BATCH = 256  # messages per queue hand-over, at most


class XLogData(NamedTuple):
    """A piece of the plugin's output: ``start`` is the LSN of the WAL record it came from.
    (A named tuple: one is made per change, and a frozen dataclass costs several times as
    much to build.)"""

    start: Lsn
    end: Lsn
    clock: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Keepalive:
    """The server's heartbeat: how far its WAL goes, and whether it wants a reply now."""

    end: Lsn
    clock: int
    reply: bool


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """Our feedback: received (write), durable (flush) and applied positions."""

    write: Lsn
    flush: Lsn
    apply: Lsn
    clock: int
    reply: bool = False


def pg_clock(moment: datetime | None = None) -> int:
    """Microseconds since the PostgreSQL epoch (2000-01-01 UTC): the protocol's clock."""
    moment = moment if moment is not None else datetime.now(UTC)
    return (moment - PG_EPOCH) // timedelta(microseconds=1)


def from_pg_clock(micros: int) -> datetime:
    """The UTC moment of a protocol clock value."""
    return PG_EPOCH + timedelta(microseconds=micros)


def parse_message(data: bytes | memoryview) -> XLogData | Keepalive:
    """One CopyData message from the server; raises naming the type and the byte offset."""
    data = bytes(data)
    kind = data[:1]
    if kind == b"w":
        _need(data, _XLOGDATA.size, "XLogData")
        _, start, end, clock = _XLOGDATA.unpack_from(data)
        return XLogData(Lsn.of_uint64(start), Lsn.of_uint64(end), clock, data[_XLOGDATA.size :])
    if kind == b"k":
        _need(data, _KEEPALIVE.size, "primary keepalive")
        _, end, clock, reply = _KEEPALIVE.unpack_from(data)
        if len(data) != _KEEPALIVE.size:
            raise DecodeError(
                f"primary keepalive: {len(data) - _KEEPALIVE.size} extra bytes at byte offset "
                f"{_KEEPALIVE.size}"
            )
        return Keepalive(Lsn(end), clock, bool(reply))
    raise DecodeError(
        f"replication message: unknown type {kind!r} at byte offset 0 (expected 'w' or 'k')"
    )


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise DecodeError(
            f"{what}: message ends at byte offset {len(data)}, its header needs {size} bytes"
        )


def build_xlogdata(message: XLogData) -> bytes:
    """The server's bytes of an XLogData message (for tests and tools)."""
    head = _XLOGDATA.pack(b"w", int(message.start), int(message.end), message.clock)
    return head + message.payload


def build_keepalive(message: Keepalive) -> bytes:
    """The server's bytes of a primary keepalive message (for tests and tools)."""
    return _KEEPALIVE.pack(b"k", int(message.end), message.clock, int(message.reply))


def build_status(update: StatusUpdate) -> bytes:
    """Our bytes of a standby status update."""
    return _STATUS.pack(
        b"r", int(update.write), int(update.flush), int(update.apply), update.clock,
        int(update.reply),
    )  # fmt: skip


def parse_status(data: bytes) -> StatusUpdate:
    """A standby status update read back (for tests and tools)."""
    if len(data) != _STATUS.size or data[:1] != b"r":
        raise DecodeError(
            f"standby status update: {len(data)} bytes starting {data[:1]!r} at byte offset 0, "
            f"expected {_STATUS.size} starting b'r'"
        )
    _, write, flush, apply, clock, reply = _STATUS.unpack(data)
    return StatusUpdate(Lsn(write), Lsn(flush), Lsn(apply), clock, bool(reply))


def start_replication_command(slot: str, start: Lsn, options: Mapping[str, str]) -> bytes:
    """``START_REPLICATION SLOT "s" LOGICAL X/Y ("k" 'v', ...)``, identifiers and values
    quoted (a slot name is ``[a-z0-9_]``; options come from settings)."""
    parts = ", ".join(f"{_ident(k)} {_literal(v)}" for k, v in options.items())
    command = f"START_REPLICATION SLOT {_ident(slot)} LOGICAL {start}"
    return (command + (f" ({parts})" if parts else "")).encode()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_interval_ms(setting: str) -> int:
    """``SHOW wal_sender_timeout`` text (``60s``, ``500ms``, ``1min``, ``0``) in ms."""
    units = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
    text = setting.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
            return int(text[: -len(unit)]) * units[unit]
    if text.isdigit():
        return int(text)
    raise ValueError(f"not a duration: {setting!r}")


@dataclass(frozen=True, slots=True)
class _End:
    """The queue's last item: the stream ended, with the receiver's error if any."""

    error: BaseException | None


class ReplicationStream:
    """A logical slot's changes, streamed; use as a context manager or call :meth:`close`.

    ``end`` fixes the upper LSN (like ``pg_recvlogical --endpos``): messages from records
    at or before it are delivered, then :meth:`get` returns None. The connection stays
    open until :meth:`close`, whose final status reports what the caller marked durable
    after the end (the drain mode writes its batch last). Transactions are the caller's
    business: a message's start is the LSN its plugin gives it (the transaction's first
    record for a begin, the end of the commit record for a commit), so with ``end`` taken
    from ``pg_current_wal_lsn()`` the begin of the next transaction, which starts where
    the last commit ended, may be delivered too: a caller keeps whole transactions only.
    ``settings`` become the walsender's server settings: both plugins print values with
    them (pass ``wal2json.SESSION_SETTINGS``).
    """

    def __init__(
        self,
        dsn: str,
        slot: str,
        start: Lsn,
        options: Mapping[str, str],
        *,
        end: Lsn | None = None,
        queue_size: int = 1000,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self._conn = _connect(dsn, settings or {})
        try:
            self.status_interval = _half_timeout(self._conn.pgconn)
            _start_copy(self._conn.pgconn, start_replication_command(slot, start, options))
        except BaseException:
            self._conn.close()
            raise
        self._end = end
        # Messages travel in lists of up to ``_batch``: one queue operation per list, not
        # per message (a queue hand-over costs about as much as decoding a small change).
        self._batch = max(1, min(_BATCH, queue_size))
        self._queue: queue.Queue[list[XLogData] | _End] = queue.Queue(
            maxsize=max(1, queue_size // self._batch)
        )
        self._pending: list[XLogData] = []  # the receiver's list being filled
        self._buffer: collections.deque[XLogData] = collections.deque()  # the caller's
        self._lock = threading.Lock()
        self._durable = start  # never report less than where we started: see status()
        self._received = start
        self._stop = threading.Event()
        self._ended = False  # the caller has seen the end
        self._end_queued = False  # the end is in the queue: nothing more is delivered
        self._error: BaseException | None = None
        self.server_wal_end = ZERO
        self.status_sent = 0
        self._last_status = 0.0  # monotonic time of the last status sent: none yet
        self._thread = threading.Thread(target=self._run, name=f"replication-{slot}", daemon=True)
        self._thread.start()

    def __enter__(self) -> ReplicationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def mark_durable(self, lsn: Lsn) -> None:
        """Everything up to ``lsn`` is stored for good: the server may now forget it."""
        with self._lock:
            self._durable = max(self._durable, lsn)

    def status(self) -> StatusUpdate:
        """The feedback to send now: flush and apply are the durable position only."""
        with self._lock:
            durable, received = self._durable, max(self._received, self._durable)
        return StatusUpdate(received, durable, durable, pg_clock())

    @property
    def ended(self) -> bool:
        """Whether :meth:`get` has returned the stream's end (not just a timeout)."""
        return self._ended

    def get(self, timeout: float | None = None) -> XLogData | None:
        """The next message, or None when the stream has ended (or ``timeout`` passed)."""
        if self._buffer:
            return self._buffer.popleft()
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _End):
            self._ended = True
            if item.error is not None:
                raise item.error
            return None
        self._buffer.extend(item)
        return self._buffer.popleft()

    def __iter__(self) -> Iterator[XLogData]:
        """Messages until the stream ends (at ``end``, or when closed)."""
        while (message := self.get()) is not None:
            yield message

    def close(self) -> None:
        """Stop receiving, send the final status, end the copy and close. Idempotent."""
        self._stop.set()
        while self._thread.is_alive():  # the receiver may be waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get_nowait()
            self._thread.join(timeout=0.1)
        self._conn.close()
        self._ended = True  # the end item may have been drained above
        if self._error is not None and self._end_queued:  # not yet seen through get()
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            self._receive()
            self._finish()
        except BaseException as exc:  # handed to the caller through get() or close()
            error = exc
        if self._end_queued:
            self._error = error  # close() raises it
        else:
            self._offer(_End(error), final=True)

    def _receive(self) -> None:
        """Until closed: deliver messages up to the end position, answer the server."""
        pgconn = self._conn.pgconn
        while not self._stop.is_set():
            next_status = self._last_status + self.status_interval
            if time.monotonic() >= next_status:  # also the first status, at once
                self._send_status()
                continue
            wait = min(_WAIT_SLICE, next_status - time.monotonic())
            select.select([pgconn.socket], [], [], max(0.0, wait))
            pgconn.consume_input()
            while (data := _copy_data(pgconn)) is not None:
                if not self._end_queued and not self._handle(parse_message(data)):
                    # past the end: the caller sees the stream end; we stay connected so
                    # close() can still report what the caller makes durable afterwards
                    self._end_queued = self._hand_over() and self._offer(_End(None))
                elif self._end_queued and data[:1] == b"k":
                    self._handle(parse_message(data))
            if not self._end_queued:
                self._hand_over()

    def _handle(self, message: XLogData | Keepalive) -> bool:
        """Deliver or answer one message; False once the end position is reached."""
        if isinstance(message, Keepalive):
            self.server_wal_end = max(self.server_wal_end, message.end)
            if message.reply:
                self._send_status()
            return self._end is None or message.end < self._end
        if self._end is not None and message.start > self._end:
            return False
        self._pending.append(message)
        if len(self._pending) >= self._batch and not self._hand_over():
            return False
        return self._end is None or message.start < self._end

    def _hand_over(self) -> bool:
        """Queue the messages gathered so far (False: closed while the queue was full)."""
        if not self._pending:
            return True
        batch, self._pending = self._pending, []
        with self._lock:
            self._received = max(self._received, batch[-1].start)
        return self._offer(batch)

    def _offer(self, item: list[XLogData] | _End, final: bool = False) -> bool:
        """Queue an item; while the queue is full keep the server's timeout at bay."""
        while True:
            try:
                self._queue.put(item, timeout=_WAIT_SLICE)
                return True
            except queue.Full:
                if self._stop.is_set() and not final:
                    return False
                if not final and time.monotonic() >= self._last_status + self.status_interval:
                    self._send_status()

    def _send_status(self) -> None:
        update = self.status()
        pgconn = self._conn.pgconn
        if pgconn.put_copy_data(build_status(update)) != 1 or pgconn.flush() != 0:
            raise TransientError(f"replication: cannot send status: {_libpq_error(pgconn)}")
        self._last_status = time.monotonic()
        self.status_sent += 1

    def _finish(self) -> None:
        """Final status, then CopyDone both ways and the command's end."""
        pgconn = self._conn.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return
        self._send_status()
        pgconn.put_copy_end()
        pgconn.flush()
        while pgconn.get_copy_data(0)[0] >= 0:  # blocking: the server's rest, then CopyDone
            pass
        while pgconn.get_result() is not None:
            pass


def _connect(dsn: str, settings: Mapping[str, str]) -> psycopg.Connection[Any]:
    """The walsender connection; ``settings`` become its server settings (the plugin prints
    values with the walsender's DateStyle, TimeZone, ...: see wal2json.SESSION_SETTINGS)."""
    info = conninfo_to_dict(dsn)
    options = " ".join(f"-c {k}={_escape_option(v)}" for k, v in settings.items())
    if options:  # after the DSN's own options: the later -c of a setting wins
        info["options"] = f"{info.get('options') or ''} {options}".strip()
    info["replication"] = "database"
    try:
        return psycopg.connect(make_conninfo("", **info), autocommit=True)
    except psycopg.OperationalError as exc:
        raise TransientError(f"replication connection failed: {_first_line(exc)}") from exc


def _escape_option(value: str) -> str:
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _half_timeout(pgconn: pq.abc.PGconn) -> float:
    """Seconds between status updates: half ``wal_sender_timeout`` (10 s when it is off)."""
    result = pgconn.exec_(b"SHOW wal_sender_timeout")
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise SourceError(f"replication: SHOW wal_sender_timeout failed: {_libpq_error(pgconn)}")
    value = result.get_value(0, 0)
    ms = parse_interval_ms(bytes(value or b"0").decode())
    return ms / 2000 if ms > 0 else 10.0


def _start_copy(pgconn: pq.abc.PGconn, command: bytes) -> None:
    pgconn.send_query(command)
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_BOTH:
        message = result.error_message.decode(errors="replace") if result else ""
        raise SourceError(f"START_REPLICATION refused: {message.strip() or 'no result'}")


def _copy_data(pgconn: pq.abc.PGconn) -> bytes | None:
    """The next buffered CopyData message, None when none is buffered yet."""
    size, data = pgconn.get_copy_data(1)
    if size > 0:
        return bytes(data)
    if size == 0:
        return None
    if size == -1:  # the server ended the copy (it shut down or the slot went away)
        result = pgconn.get_result()
        message = result.error_message.decode(errors="replace").strip() if result else ""
        raise TransientError(f"replication stream ended by the server: {message or 'copy done'}")
    raise TransientError(f"replication stream failed: {_libpq_error(pgconn)}")


def _libpq_error(pgconn: pq.abc.PGconn) -> str:
    return pgconn.error_message.decode(errors="replace").strip() or "connection lost"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or ["?"])[0]
