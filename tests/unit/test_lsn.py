from __future__ import annotations

import pytest
from pydantic import BaseModel

from pgcdc.schemas.lsn import Lsn

pytestmark = pytest.mark.unit


def test_parse_print_round_trip() -> None:
    lsn = Lsn.parse("16/B374D848")
    assert int(lsn) == (0x16 << 32) | 0xB374D848
    assert str(lsn) == "16/B374D848"
    assert Lsn.parse(lsn.hex16()) == lsn
    assert lsn.hex16() == "00000016B374D848"


def test_order_and_arithmetic() -> None:
    a, b = Lsn.parse("0/FFFFFFFF"), Lsn.parse("1/0")
    assert a < b and b > a and a != b
    assert b - a == 1
    assert sorted([b, a]) == [a, b]
    # the padded hex form sorts like the numbers (object names rely on it)
    assert a.hex16() < b.hex16()


@pytest.mark.parametrize("bad", ["", "16", "x/1", "1/2/3", "123456789/0", "-1/0"])
def test_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="not an LSN"):
        Lsn.parse(bad)


def test_pydantic_field() -> None:
    class Doc(BaseModel):
        lsn: Lsn

    doc = Doc.model_validate({"lsn": "0/1526880"})
    assert doc.lsn == Lsn.parse("0/1526880")
    assert doc.model_dump(mode="json") == {"lsn": "0/1526880"}
    assert Doc.model_validate_json(doc.model_dump_json()) == doc
