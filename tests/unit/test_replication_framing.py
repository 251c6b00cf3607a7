"""The replication protocol's framing, byte for byte (cdc_reader.replication)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from pgcdc.cdc_reader.replication import (
    Keepalive,
    StatusUpdate,
    XLogData,
    build_keepalive,
    build_status,
    build_xlogdata,
    from_pg_clock,
    parse_interval_ms,
    parse_message,
    parse_status,
    pg_clock,
    start_replication_command,
)
from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.lsn import Lsn

pytestmark = pytest.mark.unit


def test_xlogdata_fields_in_protocol_order() -> None:
    raw = b"w" + struct.pack("!QQq", 0x16_B374D848, 0x17_00000010, 123_456_789) + b"{payload}"
    message = parse_message(raw)
    assert message == XLogData(Lsn.parse("16/B374D848"), Lsn.parse("17/10"), 123_456_789,
                               b"{payload}")  # fmt: skip
    assert build_xlogdata(message) == raw


def test_keepalive_fields_and_reply_flag() -> None:
    raw = b"k" + struct.pack("!Qq", 0x1_00000020, -5) + b"\x01"
    assert parse_message(raw) == Keepalive(Lsn.parse("1/20"), -5, reply=True)
    assert parse_message(raw[:-1] + b"\x00") == Keepalive(Lsn.parse("1/20"), -5, reply=False)
    assert build_keepalive(Keepalive(Lsn.parse("1/20"), -5, reply=True)) == raw


def test_status_update_layout() -> None:
    update = StatusUpdate(Lsn(3), Lsn(2), Lsn(1), 99, reply=True)
    raw = build_status(update)
    assert raw == b"r" + struct.pack("!QQQqB", 3, 2, 1, 99, 1)
    assert parse_status(raw) == update


def test_the_clock_counts_microseconds_from_2000() -> None:
    assert pg_clock(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    moment = datetime(2026, 12, 3, 18, 0, 0, 123456, tzinfo=UTC)
    assert pg_clock(moment) == 849_636_000_123_456
    assert from_pg_clock(849_636_000_123_456) == moment


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"w" + b"\0" * 10, ["XLogData", "byte offset 11", "25 bytes"]),
        (b"k" + b"\0" * 16, ["primary keepalive", "byte offset 17", "18 bytes"]),
        (b"k" + b"\0" * 18, ["primary keepalive", "1 extra bytes", "byte offset 18"]),
        (b"x123", ["unknown type b'x'", "byte offset 0"]),
        (b"", ["unknown type b''", "byte offset 0"]),
    ],
)
def test_malformed_messages_name_type_and_offset(raw: bytes, words: list[str]) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_message(raw)
    for word in words:
        assert word in str(caught.value)


def test_start_command_quotes_slot_and_options() -> None:
    command = start_replication_command(
        "s1", Lsn.parse("0/16B3748"), {"proto_version": "1", "publication_names": "a'b"}
    )
    assert command == (
        b'START_REPLICATION SLOT "s1" LOGICAL 0/16B3748 '
        b"(\"proto_version\" '1', \"publication_names\" 'a''b')"
    )
    assert start_replication_command("s", Lsn(0), {}) == b'START_REPLICATION SLOT "s" LOGICAL 0/0'


@pytest.mark.parametrize(
    ("text", "ms"), [("60s", 60_000), ("500ms", 500), ("1min", 60_000), ("0", 0), ("2h", 7_200_000)]
)
def test_wal_sender_timeout_text(text: str, ms: int) -> None:
    assert parse_interval_ms(text) == ms
