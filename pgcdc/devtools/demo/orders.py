"""Workload operations on the order lifecycle: orders placed (with their transaction and
payment), paid, amended and cancelled.

Each operation runs inside a transaction its caller opened, draws every random value before
it touches the database (so a seed replays the same choices whatever the data), and sets
``last_updated`` to the transaction's time on every row it writes, as the application does.
"""

from __future__ import annotations

import random
import string
from dataclasses import asdict, dataclass
from decimal import Decimal

from psycopg import sql

from pgcdc.devtools.demo.catalog import (
    ADDRESS,
    COUNTERPARTY,
    CURRENCY,
    DESIGN,
    PAYMENT,
    PURCHASE_ORDER,
    SALES_ORDER,
    STAFF,
    TRANSACTION,
)
from pgcdc.devtools.demo.changes import Changes
from pgcdc.devtools.demo.generator import FAR_DELIVERY_SHARE, REFUND_SHARE, cents, payment_type
from pgcdc.devtools.demo.install import Connection
from pgcdc.devtools.demo.picking import pick

_INSERT_SALE = """
    INSERT INTO public.sales_order (
        design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
        agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, last_updated)
    VALUES (%(design_id)s, %(staff_id)s, %(counterparty_id)s, %(units_sold)s, %(unit_price)s,
        %(currency_id)s, to_char(CURRENT_DATE + %(delivery_days)s, 'YYYY-MM-DD'),
        to_char(CURRENT_DATE + %(payment_days)s, 'YYYY-MM-DD'), %(location_id)s,
        CURRENT_TIMESTAMP)
    RETURNING sales_order_id, agreed_payment_date
"""
_INSERT_PURCHASE = """
    INSERT INTO public.purchase_order (
        staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id,
        agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, last_updated)
    VALUES (%(staff_id)s, %(counterparty_id)s, %(item_code)s, %(item_quantity)s,
        %(item_unit_price)s, %(currency_id)s,
        to_char(CURRENT_DATE + %(delivery_days)s, 'YYYY-MM-DD'),
        to_char(CURRENT_DATE + %(payment_days)s, 'YYYY-MM-DD'), %(location_id)s,
        CURRENT_TIMESTAMP)
    RETURNING purchase_order_id, agreed_payment_date
"""
_INSERT_TRANSACTION = """
    INSERT INTO public.transaction (transaction_type, sales_order_id, purchase_order_id,
        last_updated)
    VALUES (%s, %s, %s, CURRENT_TIMESTAMP)
    RETURNING transaction_id
"""
_INSERT_PAYMENT = """
    INSERT INTO public.payment (transaction_id, counterparty_id, payment_amount, currency_id,
        payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number,
        last_updated)
    VALUES (%(transaction_id)s, %(counterparty_id)s, %(amount)s, %(currency_id)s,
        (SELECT payment_type_id FROM public.payment_type WHERE payment_type_name = %(type)s),
        false, %(payment_date)s, %(company_ac_number)s, %(counterparty_ac_number)s,
        CURRENT_TIMESTAMP)
"""
_PAY = """
    UPDATE public.payment SET paid = true, last_updated = CURRENT_TIMESTAMP
    WHERE payment_id = %s
"""
_AMEND_SALE = """
    UPDATE public.sales_order
    SET units_sold = %s, unit_price = %s, last_updated = CURRENT_TIMESTAMP
    WHERE sales_order_id = %s
"""
# An unpaid payment follows its order's new amount; a paid one is history.
_REPRICE_PAYMENT = """
    UPDATE public.payment AS p
    SET payment_amount = %s, last_updated = CURRENT_TIMESTAMP
    FROM public.transaction AS t
    WHERE t.transaction_id = p.transaction_id AND t.sales_order_id = %s AND NOT p.paid
"""
_DELETE_SALE_PAYMENT = """
    DELETE FROM public.payment WHERE transaction_id IN (
        SELECT transaction_id FROM public.transaction WHERE sales_order_id = %s)
"""
_DELETE_SALE_TRANSACTION = "DELETE FROM public.transaction WHERE sales_order_id = %s"
_DELETE_SALE = "DELETE FROM public.sales_order WHERE sales_order_id = %s"

_UNPAID = sql.SQL("NOT x.paid")
# Only an order nobody has paid for yet can be cancelled.
_CANCELLABLE = sql.SQL(
    "NOT EXISTS (SELECT 1 FROM public.transaction AS t JOIN public.payment AS p "
    "ON p.transaction_id = t.transaction_id WHERE t.sales_order_id = x.sales_order_id AND p.paid)"
)


@dataclass(frozen=True, slots=True)
class _OrderTerms:
    """What every new order needs: who, for whom, in which currency, where, when, how paid."""

    staff: float
    counterparty: float
    currency: float
    location: float
    delivery_days: int
    payment_days: int
    refund: bool
    company_ac_number: int
    counterparty_ac_number: int

    @classmethod
    def draw(cls, rng: random.Random) -> _OrderTerms:
        far = rng.random() < FAR_DELIVERY_SHARE
        return cls(
            staff=rng.random(),
            counterparty=rng.random(),
            currency=rng.random(),
            location=rng.random(),
            delivery_days=rng.randint(8, 600) if far else rng.randint(0, 7),
            payment_days=rng.randint(0, 6),
            refund=rng.random() < REFUND_SHARE,
            company_ac_number=rng.randint(10_000_000, 99_999_999),
            counterparty_ac_number=rng.randint(10_000_000, 99_999_999),
        )


@dataclass(frozen=True, slots=True)
class _Sale:
    terms: _OrderTerms
    design: float
    units_sold: int
    unit_price: Decimal

    @classmethod
    def draw(cls, rng: random.Random) -> _Sale:
        return cls(_OrderTerms.draw(rng), rng.random(), *_sale_figures(rng))


def _sale_figures(rng: random.Random) -> tuple[int, Decimal]:
    return rng.randint(1_000, 100_000), cents(rng.randint(200, 400))


def new_sale(conn: Connection, rng: random.Random) -> Changes:
    """A sales order with its transaction and its (unpaid) payment."""
    changes = Changes()
    _place_sale(conn, _Sale.draw(rng), changes)
    return changes


def bulk_sales(conn: Connection, rng: random.Random) -> Changes:
    """20-50 sales orders (with transactions and payments) in one large transaction."""
    sales = [_Sale.draw(rng) for _ in range(rng.randint(20, 50))]
    changes = Changes()
    for sale in sales:
        _place_sale(conn, sale, changes)
    return changes


@dataclass(frozen=True, slots=True)
class _Parties:
    """The existing rows a new order refers to."""

    staff_id: int | None
    counterparty_id: int | None
    currency_id: int | None
    location_id: int | None

    @classmethod
    def pick(cls, conn: Connection, terms: _OrderTerms) -> _Parties:
        return cls(
            pick(conn, STAFF, terms.staff),
            pick(conn, COUNTERPARTY, terms.counterparty),
            pick(conn, CURRENCY, terms.currency),
            pick(conn, ADDRESS, terms.location),
        )

    def params(self, terms: _OrderTerms) -> dict[str, object]:
        """Query parameters every new order shares."""
        return {
            **asdict(self),
            "delivery_days": terms.delivery_days,
            "payment_days": terms.payment_days,
        }


@dataclass(frozen=True, slots=True)
class _Placed:
    """A new order, inserted, that still needs its transaction and payment."""

    sales_order_id: int | None
    purchase_order_id: int | None
    amount: Decimal
    payment_date: str
    terms: _OrderTerms
    parties: _Parties


def _place_sale(conn: Connection, sale: _Sale, changes: Changes) -> None:
    parties = _Parties.pick(conn, sale.terms)
    params = {
        **parties.params(sale.terms),
        "design_id": pick(conn, DESIGN, sale.design),
        "units_sold": sale.units_sold,
        "unit_price": sale.unit_price,
    }
    row = conn.execute(_INSERT_SALE, params).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    changes.add(SALES_ORDER.name, "insert")
    amount = sale.units_sold * sale.unit_price
    _settle(conn, _Placed(row[0], None, amount, row[1], sale.terms, parties), changes)


def new_purchase(conn: Connection, rng: random.Random) -> Changes:
    """A purchase order with its transaction and its (unpaid) payment."""
    terms = _OrderTerms.draw(rng)
    item_code = "".join(rng.choices(string.ascii_uppercase + string.digits, k=7))
    quantity, unit_price = rng.randint(1, 999), cents(rng.randint(100, 100_000))
    changes = Changes()
    parties = _Parties.pick(conn, terms)
    params = {
        **parties.params(terms),
        "item_code": item_code,
        "item_quantity": quantity,
        "item_unit_price": unit_price,
    }
    row = conn.execute(_INSERT_PURCHASE, params).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    changes.add(PURCHASE_ORDER.name, "insert")
    _settle(conn, _Placed(None, row[0], quantity * unit_price, row[1], terms, parties), changes)
    return changes


def _settle(conn: Connection, order: _Placed, changes: Changes) -> None:
    """The transaction and payment of a new order."""
    sale = order.sales_order_id is not None
    row = conn.execute(
        _INSERT_TRANSACTION,
        ("SALE" if sale else "PURCHASE", order.sales_order_id, order.purchase_order_id),
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    changes.add(TRANSACTION.name, "insert")
    terms = order.terms
    params = {
        "transaction_id": row[0],
        "counterparty_id": order.parties.counterparty_id,
        "amount": order.amount,
        "currency_id": order.parties.currency_id,
        "type": payment_type(sale=sale, refund=terms.refund),
        "payment_date": order.payment_date,
        "company_ac_number": terms.company_ac_number,
        "counterparty_ac_number": terms.counterparty_ac_number,
    }
    conn.execute(_INSERT_PAYMENT, params)
    changes.add(PAYMENT.name, "insert")


def pay(conn: Connection, rng: random.Random) -> Changes:
    """An unpaid payment is paid."""
    changes = Changes()
    payment_id = pick(conn, PAYMENT, rng.random(), _UNPAID)
    if payment_id is not None:
        changes.add(PAYMENT.name, "update", conn.execute(_PAY, (payment_id,)).rowcount)
    return changes


def amend_sale(conn: Connection, rng: random.Random) -> Changes:
    """A sales order's units and price change; its unpaid payment follows."""
    fraction = rng.random()
    units_sold, unit_price = _sale_figures(rng)
    changes = Changes()
    order_id = pick(conn, SALES_ORDER, fraction)
    if order_id is None:
        return changes
    amended = conn.execute(_AMEND_SALE, (units_sold, unit_price, order_id)).rowcount
    changes.add(SALES_ORDER.name, "update", amended)
    repriced = conn.execute(_REPRICE_PAYMENT, (units_sold * unit_price, order_id)).rowcount
    changes.add(PAYMENT.name, "update", repriced)
    return changes


def cancel_sale(conn: Connection, rng: random.Random) -> Changes:
    """An unpaid sales order is deleted with its payment and transaction, in key order."""
    # Orders are mostly cancelled soon after they are placed: lean towards the newest.
    fraction = 1 - rng.random() ** 4
    changes = Changes()
    order_id = pick(conn, SALES_ORDER, fraction, _CANCELLABLE)
    if order_id is None:
        return changes
    for table, statement in (
        (PAYMENT.name, _DELETE_SALE_PAYMENT),
        (TRANSACTION.name, _DELETE_SALE_TRANSACTION),
        (SALES_ORDER.name, _DELETE_SALE),
    ):
        changes.add(table, "delete", conn.execute(statement, (order_id,)).rowcount)
    return changes
