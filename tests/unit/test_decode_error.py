"""A decode error holds its position as an Lsn, whatever form the decoder had it in."""

from __future__ import annotations

import pytest

from pgcdc.schemas.errors import DecodeError
from pgcdc.schemas.lsn import Lsn


@pytest.mark.parametrize("given", ["16/B374D848", Lsn.parse("16/B374D848")])
def test_the_position_is_an_lsn_and_shows_in_x_y_form(given: Lsn | str) -> None:
    error = DecodeError("bad value", lsn=given, table="public.t", column="c")
    assert error.lsn == Lsn.parse("16/B374D848")
    assert str(error) == "bad value (lsn=16/B374D848, table=public.t, column=c)"


def test_text_that_is_no_position_still_shows_and_is_not_lost() -> None:
    error = DecodeError("bad message", lsn="nowhere")
    assert error.lsn is None
    assert str(error) == "bad message (lsn=nowhere)"


def test_without_a_position() -> None:
    error = DecodeError("bad", table="public.t")
    assert error.lsn is None and str(error) == "bad (table=public.t)"
