"""The PostgreSQL log sequence number as a value type."""

from __future__ import annotations

import operator
import re
from functools import total_ordering
from typing import Any, SupportsIndex

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_LSN_TEXT = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_MAX = (1 << 64) - 1


@total_ordering
class Lsn:
    """A position in the write-ahead log.

    Parsed once from Postgres' ``16/B374D848`` text form (or an int), compared and
    subtracted as a number, printed back in the same text form. The zero-padded hex form
    (:meth:`hex16`) sorts lexically in the same order as the numbers, which is what object
    names in the raw store rely on.
    """

    __slots__ = ("_value",)

    def __init__(self, value: SupportsIndex) -> None:
        # SupportsIndex: an int, or an Lsn (``Lsn(batch.bound)`` is the same position)
        value = operator.index(value)
        if not 0 <= value <= _MAX:
            raise ValueError(f"LSN out of range: {value}")
        self._value = value

    @classmethod
    def of_uint64(cls, value: int) -> Lsn:
        """An LSN from a value already known to be an unsigned 64-bit integer (a protocol
        field unpacked as ``Q``): no range check, for the per-message path."""
        lsn = object.__new__(cls)
        lsn._value = value
        return lsn

    @classmethod
    def parse(cls, text: str) -> Lsn:
        """Parse ``X/Y`` (Postgres text form) or a 16-digit hex string."""
        match = _LSN_TEXT.match(text.strip())
        if match:
            return cls((int(match.group(1), 16) << 32) | int(match.group(2), 16))
        if re.fullmatch(r"[0-9A-Fa-f]{16}", text):
            return cls(int(text, 16))
        raise ValueError(f"not an LSN: {text!r}")

    @classmethod
    def coerce(cls, value: Lsn | str | int) -> Lsn:
        """Accept an Lsn, its text form or an int."""
        if isinstance(value, Lsn):
            return value
        if isinstance(value, int):
            return cls(value)
        return cls.parse(value)

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def __str__(self) -> str:
        return f"{self._value >> 32:X}/{self._value & 0xFFFFFFFF:X}"

    def __repr__(self) -> str:
        return f"Lsn('{self}')"

    def hex16(self) -> str:
        """Zero-padded 16-digit hex: sorts lexically like the number."""
        return f"{self._value:016X}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lsn) and other._value == self._value

    def __lt__(self, other: Lsn) -> bool:
        if not isinstance(other, Lsn):
            return NotImplemented
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __sub__(self, other: Lsn) -> int:
        """Bytes of WAL between two positions."""
        return self._value - other._value

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _validate(cls, value: Any) -> Lsn:
        if isinstance(value, Lsn | int | str):
            return cls.coerce(value)
        raise ValueError(f"not an LSN: {value!r}")


ZERO = Lsn(0)
