"""How fast wal2json output decodes into Arrow tables, against plain orjson parsing.

    python -m bench.decode [--changes 200000] [--per-txn 5]

Generates wal2json format-version 2 rows the way ``pg_logical_slot_peek_changes`` returns
them (shape taken from tests/fixtures/wal2json) for a sales_order-like table: inserts,
updates and deletes, a few per transaction with their B and C rows. Then times, on the same
rows, (a) ``orjson.loads`` of every row, the floor, and (b) the full decode through
:class:`pgcdc.cdc_reader.wal2json.ColumnarDecoder` into Arrow tables. Prints changes per second
of both and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

import orjson

from pgcdc.cdc_reader.wal2json import ColumnarDecoder
from pgcdc.schemas.tables import TableName
from pgcdc.schemas.tablespec import ColumnSpec, TableSpec

TABLE = TableName("public", "sales_order")
COLUMNS = (
    ("id", "bigint", 20),
    ("customer_id", "integer", 23),
    ("status", "text", 25),
    ("order_date", "date", 1082),
    ("amount", "numeric(10,2)", 1700),
    ("tax", "numeric(10,2)", 1700),
    ("currency", "character(3)", 1042),
    ("created_at", "timestamp with time zone", 1184),
    ("updated_at", "timestamp without time zone", 1114),
    ("note", "character varying(200)", 1043),
)
SPEC = TableSpec(TABLE, tuple(ColumnSpec(n, t) for n, t, _ in COLUMNS), ("id",))
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
NOTES = ("", "leave at the door", "call before delivery, the bell is broken", None)


def _value(name: str, order_id: int, rng: random.Random) -> object:
    values: dict[str, object] = {
        "id": order_id,
        "customer_id": rng.randrange(1, 50_000),
        "status": rng.choice(STATUSES),
        "order_date": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "amount": rng.randrange(1, 10_000_000) / 100,
        "tax": rng.randrange(0, 100_000) / 100,
        "currency": rng.choice(("EUR", "USD", "GBP")),
        "created_at": f"2026-11-{rng.randrange(1, 29):02d} {rng.randrange(24):02d}:"
        f"{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}+00",
        "updated_at": f"2026-11-25 18:{rng.randrange(60):02d}:{rng.randrange(60):02d}.5",
        "note": rng.choice(NOTES),
    }
    return values[name]


def _json_value(value: object, type_oid: int) -> str:
    if value is None:
        return "null"
    if type_oid == 1700:
        return f"{value:.2f}"  # wal2json prints numerics bare, with their scale
    return orjson.dumps(value).decode()


def _columns(order_id: int, rng: random.Random) -> str:
    return ",".join(
        f'{{"name":"{n}","type":"{t}","typeoid":{oid},'
        f'"value":{_json_value(_value(n, order_id, rng), oid)}}}'
        for n, t, oid in COLUMNS
    )


def _change(action: str, head: str, order_id: int, rng: random.Random) -> str:
    head = f'{{"action":"{action}",{head},"schema":"public","table":"sales_order",'
    key = f'[{{"name":"id","type":"bigint","typeoid":20,"value":{order_id}}}]'
    pk = '"pk":[{"name":"id","type":"bigint","typeoid":20}]}'
    if action == "D":
        return f'{head}"identity":{key},{pk}'
    return f'{head}"columns":[{_columns(order_id, rng)}],{pk}'


def generate(changes: int, per_txn: int, seed: int = 1) -> list[tuple[str, str, str]]:
    """Peek rows (lsn, xid, data) holding ``changes`` row changes."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    position, xid, next_id, made = 0x1000000, 1000, 1, 0
    while made < changes:
        xid += 1
        ts = f"2026-11-25 18:00:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}+00"
        count = min(per_txn, changes - made)
        commit = position + 200 * (count + 1)
        lsn = f"0/{position:X}"
        end = f"0/{commit + 48:X}"
        rows.append((lsn, str(xid), _begin_or_commit("B", xid, ts, commit, end)))
        for _ in range(count):
            position += 200
            roll = rng.random()
            action = "I" if roll < 0.6 or next_id < 10 else ("U" if roll < 0.9 else "D")
            order_id = next_id if action == "I" else rng.randrange(1, next_id)
            next_id += action == "I"
            here = f"0/{position:X}"
            head = f'"xid":{xid},"timestamp":"{ts}","lsn":"{here}"'
            rows.append((here, str(xid), _change(action, head, order_id, rng)))
        rows.append((end, str(xid), _begin_or_commit("C", xid, ts, commit, end)))
        position = commit + 48
        made += count
    return rows


def _begin_or_commit(action: str, xid: int, ts: str, commit: int, end: str) -> str:
    return (
        f'{{"action":"{action}","xid":{xid},"timestamp":"{ts}",'
        f'"lsn":"0/{commit:X}","nextlsn":"{end}"}}'
    )


def parse_only(rows: list[tuple[str, str, str]]) -> None:
    """The floor: parse every row's JSON and drop it."""
    loads = orjson.loads
    for _, _, data in rows:
        loads(data)


def decode_all(rows: list[tuple[str, str, str]]) -> int:
    """The full decode into Arrow tables; returns the number of table rows built."""
    decoder = ColumnarDecoder(lambda table: SPEC)
    feed = decoder.feed
    for lsn, xid, data in rows:
        feed(lsn, xid, data)
    return sum(batch.data.num_rows for batch in decoder.take())


def timed(run: Callable[[], object]) -> float:
    """Best of three wall-clock seconds, with the cyclic GC as it runs in production."""
    best = float("inf")
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Generate, time both, print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--per-txn", type=int, default=5)
    args = parser.parse_args()
    rows = generate(args.changes, args.per_txn)
    size = sum(len(data) for _, _, data in rows)
    print(f"{args.changes} changes in {len(rows)} rows, {size / 1e6:.1f} MB of JSON")
    assert decode_all(rows) == args.changes
    parse = args.changes / timed(lambda: parse_only(rows))
    full = args.changes / timed(lambda: decode_all(rows))
    print(f"orjson.loads only:      {parse:>10,.0f} changes/s")
    print(f"decode to Arrow tables: {full:>10,.0f} changes/s")
    print(f"ratio (decode / parse): {full / parse:.2f}")


if __name__ == "__main__":
    main()
