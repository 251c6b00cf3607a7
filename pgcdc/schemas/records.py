"""Versioned records: the small JSON documents the stores hold beside their data.

Every record (capture position and intent, snapshot manifest and chunk, transform batch and
check) is a frozen model with a ``version`` field. :func:`parse_record` is the one way a
stored record is read: it refuses a version this pgcdc does not know rather than guess at a
newer writer's meaning. :func:`pgcdc.storage.lake.records.read_record` applies it to an object.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pgcdc.schemas.errors import TerminalError


class Record(BaseModel):
    """A versioned record. Subclasses set ``VERSION`` and declare ``version`` with it as
    default, so a new record is written with the version this pgcdc reads."""

    model_config = ConfigDict(frozen=True)

    VERSION: ClassVar[int] = 1
    UNVERSIONED: ClassVar[int | None] = None
    """The version a document without a ``version`` field is read as (None: refused)."""
    KIND: ClassVar[str] = "record"
    """What the record is, in error messages (``"position record"``)."""

    version: int


R = TypeVar("R", bound=Record)


def parse_record(model: type[R], data: bytes, where: str) -> R:
    """The record ``data`` holds. A document that is not JSON, not of the version ``model``
    reads, or not such a record, is refused with one terminal error naming ``where`` (the
    object's URL): a newer pgcdc wrote it, or something else did, and retrying will not help.
    """
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise TerminalError(f"{model.KIND} {where} is not JSON: {exc}") from None
    check_version(model, doc, where)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "(document)"
        raise TerminalError(f"{model.KIND} {where}: {field}: {problem['msg']}") from None


def check_version(model: type[Record], doc: Any, where: str) -> None:
    """Refuse a document that is not an object of the version ``model`` reads."""
    if not isinstance(doc, dict):
        raise TerminalError(f"{model.KIND} {where} is not a JSON object")
    version = doc.get("version", model.UNVERSIONED)
    if version != model.VERSION:
        raise TerminalError(
            f"{model.KIND} {where} has version {version!r}; this pgcdc reads {model.VERSION}"
        )
