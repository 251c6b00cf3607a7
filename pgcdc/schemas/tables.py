"""Table names, include/exclude patterns and SQL identifier quoting."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from pgcdc.schemas.errors import ConfigurationError


def quote_ident(name: str) -> str:
    """Quote one SQL identifier (Postgres and DuckDB share the rule).

    The only way identifiers reach SQL text in pgcdc. Embedded double quotes are doubled;
    a NUL byte cannot be represented and is refused.
    """
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    if not name:
        raise ValueError("empty identifier")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, order=True, slots=True)
class TableName:
    """A schema-qualified table name, kept unquoted."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: str) -> TableName:
        """Parse ``schema.table``; a bare name means schema ``public``.

        Double quotes may wrap either part (``"My Schema"."Odd.Name"``).
        """
        parts = _split_qualified(text)
        if len(parts) == 1:
            return cls("public", parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise ConfigurationError(f"not a table name: {text!r} (expected schema.table)")

    @property
    def qualified(self) -> str:
        """``schema.table`` unquoted: the raw-store folder name and wal2json's form."""
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        """Quoted for SQL text."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return self.qualified


def _split_qualified(text: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                buf.append('"')
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    if quoted:
        raise ConfigurationError(f"unbalanced quotes in table name: {text!r}")
    parts.append("".join(buf))
    if any(not p for p in parts):
        raise ConfigurationError(f"empty part in table name: {text!r}")
    return parts


@dataclass(frozen=True, slots=True)
class TableFilter:
    """Include/exclude by ``schema.table`` glob patterns (``*`` and ``?``).

    No include pattern means every table outside the system schemas.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def matches(self, table: TableName) -> bool:
        """Whether the table is captured."""
        name = table.qualified
        if table.schema in ("pg_catalog", "information_schema"):
            return False
        if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)
