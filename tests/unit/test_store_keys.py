"""Every key of the raw, snapshot, state and processed stores: its builder and its parser
agree (round trip), for any identifier, and two tables never share a folder."""

from __future__ import annotations

import datetime as dt

import pytest

from pgcdc.schemas import layout, processed
from pgcdc.schemas.lsn import Lsn
from pgcdc.schemas.tables import TableName

pytestmark = pytest.mark.unit

NAMES = [
    TableName("public", "staff"),
    TableName("a.b", "c"),
    TableName("a", "b.c"),
    TableName("My Schema", "Mixed Case Table"),
    TableName('Odd "quoted"', 'x"."y'),
    TableName("ünï", "côdé_表"),
    TableName("pct", "50%off"),
    TableName("pct", "a%2Eb"),
    TableName("slash/y", "eq=1"),
    TableName("_private", "t"),
    TableName("tab\there", "new\nline"),
    TableName(".hidden", "t."),
]
LOW, HIGH = Lsn.parse("0/16B3748"), Lsn.parse("1A/FF000010")
AT = dt.datetime(2026, 12, 3, 23, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize("table", NAMES, ids=str)
def test_a_table_folder_round_trips_and_is_one_path_segment(table: TableName) -> None:
    folder = layout.table_prefix(table)
    assert "/" not in folder and folder.count(".") == 1
    assert not folder.startswith(".")
    assert layout.parse_table_folder(folder) == table


def test_ordinary_names_keep_their_folder_exactly() -> None:
    for table in (
        TableName("public", "staff"),
        TableName("My Schema", "Mixed Case Table"),
        TableName("ünï", "côdé_表"),
        TableName("sales-2026", "$x"),
    ):
        assert layout.table_prefix(table) == table.qualified
        assert layout.table_folders(table) == (table.qualified,)


def test_dotted_names_no_longer_collide() -> None:
    folders = {layout.table_prefix(t) for t in NAMES}
    assert len(folders) == len(NAMES)
    assert layout.table_prefix(TableName("a.b", "c")) == "a%2Eb.c"
    assert layout.table_prefix(TableName("a", "b.c")) == "a.b%2Ec"


def test_old_folders_are_still_found_and_parsed_as_readers_always_did() -> None:
    # Written before escaping: both tables went to a.b.c; each still reads it.
    assert layout.table_folders(TableName("a.b", "c")) == ("a%2Eb.c", "a.b.c")
    assert layout.table_folders(TableName("a", "b.c")) == ("a.b%2Ec", "a.b.c")
    assert layout.parse_table_folder("a.b.c") == TableName("a", "b.c")
    # an old folder of a name with a bare '%': kept literally
    assert layout.parse_table_folder("pct.50%off") == TableName("pct", "50%off")
    assert layout.parse_table_folder("pct.100%") == TableName("pct", "100%")
    # '/' could never be a folder: nothing old to read
    assert layout.table_folders(TableName("s", "a/b")) == ("s.a%2Fb",)


@pytest.mark.parametrize("folder", ["_state", ".pgcdc-check-1", "nodot", ".x.y", "a.", ".a"])
def test_folders_that_are_no_table(folder: str) -> None:
    assert layout.parse_table_folder(folder) is None


@pytest.mark.parametrize("table", NAMES, ids=str)
@pytest.mark.parametrize("part", [None, 0, 12345])
def test_change_file_key_round_trips(table: TableName, part: int | None) -> None:
    key = layout.change_file_key(table, AT, LOW, HIGH, part)
    found = layout.parse_data_key(key)
    assert found == layout.DataObject(key, table, HIGH, LOW, part, snapshot=False)


def test_change_file_key_is_the_documented_contract() -> None:
    key = layout.change_file_key(TableName("public", "staff"), AT, LOW, HIGH, 3)
    assert key == (
        "public.staff/date=2026-12-03/hour=23/00000000016B3748_0000001AFF000010.p00003.parquet"
    )


@pytest.mark.parametrize("table", NAMES, ids=str)
def test_snapshot_keys_round_trip(table: TableName) -> None:
    part = layout.snapshot_file_key(table, HIGH, 7)
    assert layout.parse_data_key(part) == layout.DataObject(part, table, HIGH, HIGH, 7, True)
    manifest = layout.snapshot_manifest_key(table, HIGH)
    assert manifest == f"{layout.table_prefix(table)}/snapshot={HIGH.hex16()}/_manifest.json"
    assert layout.parse_snapshot_manifest_key(manifest) == (table, HIGH)
    assert layout.parse_data_key(manifest) is None
    chunk = layout.snapshot_chunk_key("my_slot", HIGH, table, 7)
    assert layout.parse_snapshot_chunk_key(chunk) == ("my_slot", HIGH, table, 7)


def test_state_keys_round_trip() -> None:
    position = layout.position_key("my_slot", HIGH)
    assert position == "_state/capture/my_slot/0000001A/0000001AFF000010.position.json"
    assert layout.parse_position_key(position) == ("my_slot", HIGH)
    intent = layout.intent_key("my_slot", LOW, HIGH)
    assert layout.parse_intent_key(intent) == ("my_slot", LOW, HIGH)
    assert layout.parse_position_key(intent) is None
    assert layout.parse_intent_key(position) is None


@pytest.mark.parametrize(
    "key",
    [
        "public.staff/date=2026-12-03/hour=23/notanlsn_0000001AFF000010.parquet",
        "public.staff/date=2026-12-03/hour=23/00000000016B3748_0000001AFF000010.json",
        "public.staff/snapshot=0000001AFF000010/_manifest.json",
        "_state/capture/s/0000001A/0000001AFF000010.position.json",
        "nodot/date=2026-12-03/hour=23/00000000016B3748_0000001AFF000010.parquet",
    ],
)
def test_other_keys_are_no_data_object(key: str) -> None:
    assert layout.parse_data_key(key) is None


def test_readable_objects_leave_out_unfinished_snapshots() -> None:
    table = TableName("a.b", "c")
    done, unfinished = Lsn(100), Lsn(200)
    keys = [
        layout.change_file_key(table, AT, LOW, HIGH),
        layout.snapshot_file_key(table, done, 0),
        layout.snapshot_manifest_key(table, done),
        layout.snapshot_file_key(table, unfinished, 0),
    ]
    assert layout.readable_objects(keys) == [keys[0], keys[1]]


def test_batch_keys_round_trip() -> None:
    for run in (1, 9999, 10000, 123456789):
        key = processed.batch_key(run)
        assert processed.parse_batch_key(key) == run
        folder = key.rsplit("/", 1)[0]
        assert folder == processed.batch_folder(run)
        first = processed.parse_batch_folder(folder)
        assert first is not None and first <= run < first + 10000
    assert processed.batch_key(12345) == "_state/transform/000001/0000012345.batch.json"
    assert processed.parse_batch_key(processed.CHECK_KEY) is None
    # a manifest in the wrong folder is not one
    assert processed.parse_batch_key("_state/transform/000000/0000012345.batch.json") is None


@pytest.mark.parametrize("table", NAMES, ids=str)
@pytest.mark.parametrize("base", [False, True])
def test_mirror_key_round_trips(table: TableName, base: bool) -> None:
    day = AT.date()
    key = processed.mirror_key(table, 42, HIGH, day, base=base)
    assert key.startswith(f"mirror/{layout.table_prefix(table)}/date=2026-12-03/")
    found = processed.parse_processed_key(key)
    assert found == processed.ProcessedObject(table.qualified, 42, HIGH, day, table, base)


def test_target_key_round_trips() -> None:
    key = processed.target_key("fact_sales_order", 42, HIGH, AT.date())
    assert key == "fact_sales_order/date=2026-12-03/0000000042-0000001AFF000010.parquet"
    found = processed.parse_processed_key(key)
    assert found == processed.ProcessedObject("fact_sales_order", 42, HIGH, AT.date())
    assert processed.parse_processed_key(processed.batch_key(42)) is None


def test_manifest_table_entries_round_trip_and_old_ones_are_found() -> None:
    for table in NAMES:
        entry = processed.table_entry(table)
        assert processed.parse_table_entry(entry) == table
    odd, other = TableName("a.b", "c"), TableName("a", "b.c")
    progress = processed.TableProgress(position=HIGH, key=("id",))
    batch = processed.Batch(
        run=1, bound=HIGH, created_at=AT, tables={processed.table_entry(odd): progress}
    )
    assert batch.progress_of(odd) == progress and batch.progress_of(other) is None
    # written before entries were escaped: the unescaped name (both tables shared it)
    old = batch.model_copy(update={"tables": {"a.b.c": progress}})
    assert old.progress_of(odd) == progress and old.progress_of(other) == progress
    assert processed.parse_table_entry("a.b.c") == other
    with pytest.raises(ValueError, match="not a table entry"):
        processed.parse_table_entry("nodot")
