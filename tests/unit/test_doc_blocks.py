"""The README doc test's pure parts: finding the blocks, splitting console blocks, and comparing
a shown output with a real one (tests/e2e/doc_blocks.py), and the artefact checks
(tests/e2e/artefacts.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.e2e.artefacts import PNG_SIGNATURE, png_size, recording_problems
from tests.e2e.doc_blocks import (
    UnclassifiedError,
    console_exchanges,
    fenced_blocks,
    output_differences,
    shell_lines,
)

pytestmark = pytest.mark.unit

DOC = """# t

```bash
pgcdc config   # settings
# a comment

pgcdc check
```

- a list item:

  ```json
  {"a": 1}
  ```

```console
$ pgcdc query "SELECT 1,
    2"
x
$ pgcdc status
```

```
unlabelled
```
"""

TABLE = """┌─────────────┬───────┐
│ at_snapshot │  now  │
│    int64    │ int64 │
├─────────────┼───────┤
│       15045 │ 15343 │
└─────────────┴───────┘"""


def test_blocks_kinds_lines_and_commands(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    blocks = fenced_blocks(path)
    assert [(b.line, b.info) for b in blocks] == [
        (3, "bash"),
        (12, "json"),
        (16, "console"),
        (23, ""),
    ]
    assert blocks[1].text == '{"a": 1}\n'  # the list item's indentation removed
    assert [b.kind for b in blocks[:3]] == ["shell", "json", "console"]
    with pytest.raises(UnclassifiedError, match=r"doc\.md:23"):
        _ = blocks[3].kind
    assert shell_lines(blocks[0]) == [(4, "pgcdc config   # settings"), (7, "pgcdc check")]
    exchanges = console_exchanges(blocks[2])
    assert [(e.line, e.command, e.shown) for e in exchanges] == [
        (17, 'pgcdc query "SELECT 1,\n    2"', "x"),
        (20, "pgcdc status", ""),
    ]


def test_figures_stand_for_figures_but_zero_stays_zero() -> None:
    assert output_differences(TABLE, TABLE.replace("15045", "745").replace("15343", "8")) == []
    zero = output_differences(TABLE, TABLE.replace("15045", "    0"))
    assert zero and "missing" in zero[0]
    renamed = output_differences(TABLE, TABLE.replace("at_snapshot", "at_snapshoX"))
    assert renamed and "header" in renamed[0]
    assert output_differences(TABLE, TABLE.replace("│       15045 │ 15343 │\n", "")) != []


def test_csv_labels_json_keys_and_more_rows() -> None:
    shown = "_op,changes\ndelete,16\ninsert,314"
    assert output_differences(shown, "_op,changes\ninsert,3\ndelete,1\n") == []
    assert output_differences(shown, "_op,changes\ninsert,3\n") != []  # a label missing
    assert output_differences(shown, "_op,changes\ndelete,1\ninsert,3\nupdate,2") != []
    assert output_differences(shown + "\n…", "_op,changes\ndelete,1\ninsert,3\nupdate,2") == []
    json_shown = '{"staff_id":10,"first_name":"Stan"}\n…'
    assert output_differences(json_shown, '{"staff_id":3,"first_name":"Meda"}\n') == []
    assert output_differences(json_shown, '{"staff_id":3,"name":"Meda"}\n') != []
    assert output_differences(json_shown, "") != []  # rows shown, none given


def test_timestamps_and_lsns_are_data() -> None:
    shown = "_lsn,_commit_ts\n0/264BA30,2026-12-03 17:39:47.400703+00"
    assert output_differences(shown, "_lsn,_commit_ts\n1/A0,2027-01-01 00:00:00+00") == []


def test_png_size_and_recording_rules() -> None:
    header = PNG_SIGNATURE + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 1400, 3800)
    assert png_size(header) == (1400, 3800)
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"\xff\xd8\xff\xe0 a JPEG")
    steps = "".join(f"{n}/8 step\n" for n in range(1, 9))
    closing = (
        "demo done in 1.0 s\nnext:\n  pgcdc query 'SELECT 1'\n  pgcdc dashboard\n"
        "  pgcdc status\nPostgreSQL keeps running on 127.0.0.1:5433 (data in x)\n"
        "stop it with `make demo-down` (keeps the data) or `make clean`\n"
    )
    assert recording_problems(f"$ make demo\n{steps}{closing}") == []
    assert recording_problems(f"{steps}{closing}") != []  # no command line
    assert recording_problems(f"$ make demo\n{steps.replace('5/8', '6/8')}{closing}") != []
    no_status = closing.replace("  pgcdc status\n", "")
    assert recording_problems(f"$ make demo\n{steps}{no_status}") != []
    port_zero = closing.replace(":5433", ":0")
    assert recording_problems(f"$ make demo\n{steps}{port_zero}") != []
