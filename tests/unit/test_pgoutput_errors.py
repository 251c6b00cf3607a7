"""pgoutput messages built by hand per the protocol docs: each decodes, and every malformed
variant (cut short at every byte, a wrong marker, trailing bytes, an unknown or streamed
type, bad UTF-8) gives one DecodeError naming the message type, byte offset and LSN."""

from __future__ import annotations

import struct

import pytest

from pgcdc.cdc_reader import pgoutput
from pgcdc.cdc_reader.pgoutput import UNCHANGED
from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.lsn import Lsn

pytestmark = pytest.mark.unit

LSN = Lsn.parse("0/16B3748")


def s(text: str) -> bytes:
    return text.encode() + b"\0"


def tuple_data(*values: bytes | None) -> bytes:
    """n for None, u for b'u', t for anything else."""
    out = struct.pack("!h", len(values))
    for v in values:
        out += b"n" if v is None else b"u" if v == b"u" else b"t" + struct.pack("!i", len(v)) + v
    return out


MESSAGES: dict[str, tuple[bytes, pgoutput.Event]] = {
    "Begin": (
        b"B" + struct.pack("!Qqi", 0x2_00000010, 42, 7),
        pgoutput.Begin(Lsn.parse("2/10"), 42, 7),
    ),
    "Commit": (b"C\0" + struct.pack("!QQq", 5, 6, 42), pgoutput.Commit(0, Lsn(5), Lsn(6), 42)),
    "Origin": (b"O" + struct.pack("!Q", 9) + s("up"), pgoutput.Origin(Lsn(9), "up")),
    "Relation": (
        b"R"
        + struct.pack("!I", 16391)
        + s("public")
        + s("tä")
        + b"f"
        + struct.pack("!h", 2)
        + b"\1"
        + s("id")
        + struct.pack("!Ii", 23, -1)
        + b"\0"
        + s("v")
        + struct.pack("!Ii", 1043, 14),
        pgoutput.Relation(
            16391,
            "public",
            "tä",
            "f",
            (pgoutput.Column("id", 23, -1, key=True), pgoutput.Column("v", 1043, 14, key=False)),
        ),
    ),
    "Type": (
        b"Y" + struct.pack("!I", 16386) + s("public") + s("mood"),
        pgoutput.Type(16386, "public", "mood"),
    ),
    "Insert": (
        b"I" + struct.pack("!I", 3) + b"N" + tuple_data(b"1", None, b"u"),
        pgoutput.Insert(3, ("1", None, UNCHANGED)),
    ),
    "Update": (
        b"U" + struct.pack("!I", 3) + b"K" + tuple_data(b"1", None) + b"N" + tuple_data(b"2", b"x"),
        pgoutput.Update(3, ("2", "x"), ("1", None), "K"),
    ),
    "Delete": (
        b"D" + struct.pack("!I", 3) + b"O" + tuple_data(b"1", b"x"),
        pgoutput.Delete(3, ("1", "x"), "O"),
    ),
    "Truncate": (
        b"T" + struct.pack("!ib", 2, 2) + struct.pack("!II", 3, 4),
        pgoutput.Truncate((3, 4), cascade=False, restart_identity=True),
    ),
    "Message": (
        b"M\1" + struct.pack("!Q", 8) + s("pgcdc") + struct.pack("!i", 2) + b"hi",
        pgoutput.Message(True, Lsn(8), "pgcdc", b"hi"),
    ),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_built_messages_decode(name: str) -> None:
    raw, event = MESSAGES[name]
    assert pgoutput.decode(raw, LSN) == event


def test_binary_values_stay_bytes_and_plain_updates_have_no_old_tuple() -> None:
    raw = b"U" + struct.pack("!I", 3) + b"N" + struct.pack("!h", 1) + b"b\0\0\0\2\0\1"
    assert pgoutput.decode(raw) == pgoutput.Update(3, (b"\0\1",))


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_cut_short_anywhere_names_type_offset_and_lsn(name: str) -> None:
    raw, _ = MESSAGES[name]
    for size in range(1, len(raw)):
        with pytest.raises(DecodeError) as caught:
            pgoutput.decode(raw[:size], LSN)
        text = str(caught.value)
        assert f"pgoutput {name} message" in text, text
        assert "byte offset" in text and "lsn=0/16B3748" in text, text


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (MESSAGES["Begin"][0] + b"\0", ["Begin", "1 unexpected trailing bytes", "offset 21"]),
        (b"I" + struct.pack("!I", 3) + b"X", ["Insert", "new tuple marker b'X'", "offset 5"]),
        (b"U" + struct.pack("!I", 3) + b"Z", ["Update", "tuple marker b'Z'", "offset 5"]),
        (b"D" + struct.pack("!I", 3) + b"N", ["Delete", "old tuple marker b'N'", "offset 5"]),
        (
            b"I" + struct.pack("!I", 3) + b"N\0\1q",
            ["Insert", "column 0: value kind b'q'", "offset 8"],
        ),
        (
            b"I" + struct.pack("!I", 3) + b"N\0\1t\0\0\0\2\xff\xfe",
            ["Insert", "not UTF-8", "offset 13"],
        ),
        (b"Y" + struct.pack("!I", 1) + b"\xc3(\0x\0", ["Type", "namespace: not UTF-8", "offset 5"]),
        (b"Q", ["unknown b'Q'", "offset 0"]),
        (b"S\0\0\0\1\1", ["Stream Start", "protocol version 2", "offset 0"]),
        (b"", ["unknown b''", "offset 0"]),
    ],
)
def test_malformed_messages_name_what_and_where(raw: bytes, words: list[str]) -> None:
    with pytest.raises(DecodeError) as caught:
        pgoutput.decode(raw, LSN)
    for word in [*words, "lsn=0/16B3748"]:
        assert word in str(caught.value)


def test_without_an_lsn_the_error_still_names_type_and_offset() -> None:
    with pytest.raises(DecodeError, match=r"^pgoutput Commit message: .* at byte offset 2$"):
        pgoutput.decode(b"C\0\0")
