"""The demo history: 2.5 years of totesys data, deterministic for a seed and a scale.

Reference tables have fixed sizes; the growing tables (design, sales_order, purchase_order,
transaction, payment) are sized by ``scale`` (1.0 = the original's volumes after 2.5 years).
"""

from __future__ import annotations

import bisect
import heapq
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from pgcdc.devtools.demo import vocabulary as words
from pgcdc.devtools.demo.catalog import (
    DESIGN,
    HISTORY_END,
    HISTORY_START,
    PAYMENT,
    PAYMENT_TYPE_NAMES,
    PURCHASE_ORDER,
    SALES_ORDER,
    TABLES,
    TRANSACTION,
    Row,
)
from pgcdc.devtools.demo.clock import OfficeClock
from pgcdc.devtools.demo.reference import ADDRESSES, COUNTERPARTIES, STAFF_MEMBERS, reference_rows

# Volumes at scale 1 after 2.5 years, from the original database.
SALES_ORDERS = 15_000
PURCHASE_ORDERS = 5_000
DESIGNS = 600
# One transaction per order and one payment per transaction, but the original has
# ~18k transactions for ~20k orders and ~16k payments for them.
TRANSACTION_SHARE = 0.9
PAYMENT_SHARE = 16 / 18
# A few orders are agreed for delivery far ahead; a few sales orders were amended later.
FAR_DELIVERY_SHARE = 0.01
AMENDED_SHARE = 0.01
REFUND_SHARE = 0.03
PAYMENT_TYPE_IDS = {name: i for i, name in enumerate(PAYMENT_TYPE_NAMES, 1)}
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class DemoData:
    """Rows of every demo table, keyed by table name, in foreign-key order."""

    rows: Mapping[str, Sequence[Row]]


def generate(*, scale: float, seed: int) -> DemoData:
    """The whole demo database's content for ``scale`` and ``seed``."""
    root = random.Random(seed)

    def fork() -> random.Random:
        # One generator per table, so a table's content does not shift when another's
        # volume (the scale) changes.
        return random.Random(root.getrandbits(64))

    rows = reference_rows(fork(), HISTORY_START)
    clock = OfficeClock(HISTORY_START, HISTORY_END)
    rows[DESIGN.name] = designs(fork(), clock, DESIGNS * scale)
    rows[SALES_ORDER.name] = sales_orders(fork(), clock, SALES_ORDERS * scale, rows[DESIGN.name])
    rows[PURCHASE_ORDER.name] = purchase_orders(fork(), clock, PURCHASE_ORDERS * scale)
    transactions, payments = settlements(fork(), rows[SALES_ORDER.name], rows[PURCHASE_ORDER.name])
    rows[TRANSACTION.name] = transactions
    rows[PAYMENT.name] = payments
    return DemoData({table.name: rows[table.name] for table in TABLES})


def designs(rng: random.Random, clock: OfficeClock, expected: float) -> list[Row]:
    """Designs over the history; the first exists from the first office hour on."""
    arrivals = [clock.to_datetime(0), *clock.arrivals(rng, max(expected - 1, 0))]
    return [design_row(rng, i, created) for i, created in enumerate(arrivals, 1)]


def design_row(rng: random.Random, design_id: int, created: datetime) -> Row:
    """One design created at ``created``."""
    name = rng.choice(words.DESIGN_WORDS)
    tag = "".join(rng.choices(string.ascii_lowercase, k=4))
    return {
        "design_id": design_id,
        "design_name": name,
        "file_location": rng.choice(words.FILE_LOCATIONS),
        "file_name": f"{name.lower()}-{created:%Y%m%d}-{tag}.json",
        "created_at": created,
        "last_updated": created,
    }


def sales_orders(
    rng: random.Random, clock: OfficeClock, expected: float, design_rows: Sequence[Row]
) -> list[Row]:
    """Sales orders over the history, each of a design that existed when it was made."""
    design_times = [cast(datetime, row["created_at"]) for row in design_rows]
    rows: list[Row] = []
    for i, created in enumerate(clock.arrivals(rng, expected), 1):
        designs_so_far = bisect.bisect_right(design_times, created)
        amended = rng.random() < AMENDED_SHARE
        rows.append(
            {
                "sales_order_id": i,
                "design_id": rng.randint(1, designs_so_far),
                "staff_id": rng.randint(1, STAFF_MEMBERS),
                "counterparty_id": rng.randint(1, COUNTERPARTIES),
                "units_sold": rng.randint(1_000, 100_000),
                "unit_price": cents(rng.randint(200, 400)),
                "currency_id": rng.randint(1, 3),
                **agreed_dates(rng, created),
                "agreed_delivery_location_id": rng.randint(1, ADDRESSES),
                "created_at": created,
                "last_updated": _amended_at(rng, created) if amended else created,
            }
        )
    return rows


def purchase_orders(rng: random.Random, clock: OfficeClock, expected: float) -> list[Row]:
    """Purchase orders over the history."""
    alphabet = string.ascii_uppercase + string.digits
    return [
        {
            "purchase_order_id": i,
            "staff_id": rng.randint(1, STAFF_MEMBERS),
            "counterparty_id": rng.randint(1, COUNTERPARTIES),
            "item_code": "".join(rng.choices(alphabet, k=7)),
            "item_quantity": rng.randint(1, 999),
            "item_unit_price": cents(rng.randint(100, 100_000)),
            "currency_id": rng.randint(1, 3),
            **agreed_dates(rng, created),
            "agreed_delivery_location_id": rng.randint(1, ADDRESSES),
            "created_at": created,
            "last_updated": created,
        }
        for i, created in enumerate(clock.arrivals(rng, expected), 1)
    ]


def cents(amount: int) -> Decimal:
    """``amount`` cents as a two-decimal amount (``250`` → ``2.50``)."""
    return Decimal(amount).scaleb(-2)


def agreed_dates(rng: random.Random, created: datetime) -> dict[str, str]:
    """The agreed delivery and payment dates of an order made at ``created``, as text."""
    far = rng.random() < FAR_DELIVERY_SHARE
    delivery = rng.randint(8, 600) if far else rng.randint(0, 7)
    return {
        "agreed_delivery_date": (created.date() + timedelta(delivery)).isoformat(),
        "agreed_payment_date": (created.date() + timedelta(rng.randint(0, 6))).isoformat(),
    }


def _amended_at(rng: random.Random, created: datetime) -> datetime:
    later = created + timedelta(milliseconds=rng.randint(3_600_000, 3 * 86_400_000))
    return min(later, HISTORY_END - _MS)


def settlements(
    rng: random.Random, sales: Sequence[Row], purchases: Sequence[Row]
) -> tuple[list[Row], list[Row]]:
    """Transactions for most orders and payments for most transactions, made with their
    order and numbered in the order they were made."""
    transactions: list[Row] = []
    payments: list[Row] = []
    made = heapq.merge(
        ((True, order) for order in sales),
        ((False, order) for order in purchases),
        key=lambda tagged: cast(datetime, tagged[1]["created_at"]),
    )
    for sale, order in made:
        if rng.random() >= TRANSACTION_SHARE:
            continue
        transaction_id = len(transactions) + 1
        transactions.append(transaction_row(transaction_id, order, sale=sale))
        if rng.random() < PAYMENT_SHARE:
            payments.append(payment_row(rng, len(payments) + 1, transaction_id, order, sale=sale))
    return transactions, payments


def transaction_row(transaction_id: int, order: Row, *, sale: bool) -> Row:
    """The transaction of a sales order (``sale``) or of a purchase order."""
    return {
        "transaction_id": transaction_id,
        "transaction_type": "SALE" if sale else "PURCHASE",
        "sales_order_id": order["sales_order_id"] if sale else None,
        "purchase_order_id": None if sale else order["purchase_order_id"],
        "created_at": order["created_at"],
        "last_updated": order["created_at"],
    }


def payment_row(
    rng: random.Random, payment_id: int, transaction_id: int, order: Row, *, sale: bool
) -> Row:
    """The payment of an order's transaction; paid 0.5-6 days after it was made, if that
    moment is within the history."""
    created = cast(datetime, order["created_at"])
    refund = rng.random() < REFUND_SHARE
    paid_at = created + timedelta(milliseconds=rng.randint(43_200_000, 6 * 86_400_000))
    paid = paid_at < HISTORY_END
    return {
        "payment_id": payment_id,
        "transaction_id": transaction_id,
        "counterparty_id": order["counterparty_id"],
        "payment_amount": order_amount(order, sale=sale),
        "currency_id": order["currency_id"],
        "payment_type_id": PAYMENT_TYPE_IDS[payment_type(sale=sale, refund=refund)],
        "paid": paid,
        "payment_date": order["agreed_payment_date"],
        "company_ac_number": rng.randint(10_000_000, 99_999_999),
        "counterparty_ac_number": rng.randint(10_000_000, 99_999_999),
        "created_at": created,
        "last_updated": paid_at if paid else created,
    }


def order_amount(order: Row, *, sale: bool) -> Decimal:
    """What an order is worth: units sold × unit price, or quantity × item unit price."""
    if sale:
        return cast(int, order["units_sold"]) * cast(Decimal, order["unit_price"])
    return cast(int, order["item_quantity"]) * cast(Decimal, order["item_unit_price"])


def payment_type(*, sale: bool, refund: bool) -> str:
    """The payment type name for a sale or purchase, paid or refunded."""
    if sale:
        return "SALES_REFUND" if refund else "SALES_RECEIPT"
    return "PURCHASE_REFUND" if refund else "PURCHASE_PAYMENT"
