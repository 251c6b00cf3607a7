"""The capture side's value codec: Postgres values -> Arrow arrays, per the type registry.

One set of converters serves every way values arrive:

- Postgres' text output: a snapshot chunk's CSV COPY (:func:`from_copy_csv`), or a column
  of text values (:func:`to_arrow`: pgoutput's text format, array elements, domains);
- wal2json's JSON values, parsed (:func:`to_arrow`) or as raw JSON tokens
  (:func:`tokens_to_arrow`, the capture hot path: equal to parsing them first);
- one value as a Python object (:func:`to_python`).

The converter a column takes is the one its kind's record in
:data:`pgcdc.schemas.pgtypes.KINDS` names. Importing this module builds no Arrow array (that
would import pandas): module-level work stays small.
"""

from __future__ import annotations

from pgcdc.cdc_reader._codec.copy_csv import Flags, from_copy_csv
from pgcdc.cdc_reader._codec.text import array_depth, parse_array, parse_timestamp
from pgcdc.cdc_reader._codec.tokens import NULL, Numbers, token_value, token_values, tokens_to_arrow
from pgcdc.cdc_reader._codec.values import NONFINITE, PgValueError, to_arrow, to_python

__all__ = [
    "NONFINITE",
    "NULL",
    "Flags",
    "Numbers",
    "PgValueError",
    "array_depth",
    "from_copy_csv",
    "parse_array",
    "parse_timestamp",
    "to_arrow",
    "to_python",
    "token_value",
    "token_values",
    "tokens_to_arrow",
]
