"""The demo database's tables, their columns and the window of its generated history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SCHEMA = "public"
PAYMENT_TYPE_ENUM = "PaymentTypeName"
TRANSACTION_TYPE_ENUM = "TransactionType"
ENUM_TYPES = (PAYMENT_TYPE_ENUM, TRANSACTION_TYPE_ENUM)
PAYMENT_TYPE_NAMES = ("SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND")
COMPANY_DOMAIN = "terrifictotes.com"

# The generated history is fixed in time, not relative to the wall clock, so that a seed
# always gives the same database: 2.5 years, ending on 2025-06-30.
HISTORY_START = datetime(2023, 1, 1)
HISTORY_END = datetime(2025, 7, 1)

_STAMPS = ("created_at", "last_updated")

Row = dict[str, object]
"""One generated row: column name → value (``None`` for NULL)."""


@dataclass(frozen=True, slots=True)
class DemoTable:
    """One demo table: its name, primary key and columns in table order."""

    name: str
    pk: str
    columns: tuple[str, ...]


ADDRESS = DemoTable(
    "address",
    "address_id",
    (
        "address_id",
        "address_line_1",
        "address_line_2",
        "district",
        "city",
        "postal_code",
        "country",
        "phone",
        *_STAMPS,
    ),
)
COUNTERPARTY = DemoTable(
    "counterparty",
    "counterparty_id",
    (
        "counterparty_id",
        "counterparty_legal_name",
        "legal_address_id",
        "commercial_contact",
        "delivery_contact",
        *_STAMPS,
    ),
)
CURRENCY = DemoTable("currency", "currency_id", ("currency_id", "currency_code", *_STAMPS))
DEPARTMENT = DemoTable(
    "department",
    "department_id",
    ("department_id", "department_name", "location", "manager", *_STAMPS),
)
DESIGN = DemoTable(
    "design", "design_id", ("design_id", "design_name", "file_location", "file_name", *_STAMPS)
)
STAFF = DemoTable(
    "staff",
    "staff_id",
    ("staff_id", "first_name", "last_name", "department_id", "email_address", *_STAMPS),
)
SALES_ORDER = DemoTable(
    "sales_order",
    "sales_order_id",
    (
        "sales_order_id",
        "design_id",
        "staff_id",
        "counterparty_id",
        "units_sold",
        "unit_price",
        "currency_id",
        "agreed_delivery_date",
        "agreed_payment_date",
        "agreed_delivery_location_id",
        *_STAMPS,
    ),
)
PURCHASE_ORDER = DemoTable(
    "purchase_order",
    "purchase_order_id",
    (
        "purchase_order_id",
        "staff_id",
        "counterparty_id",
        "item_code",
        "item_quantity",
        "item_unit_price",
        "currency_id",
        "agreed_delivery_date",
        "agreed_payment_date",
        "agreed_delivery_location_id",
        *_STAMPS,
    ),
)
PAYMENT_TYPE = DemoTable(
    "payment_type", "payment_type_id", ("payment_type_id", "payment_type_name", *_STAMPS)
)
TRANSACTION = DemoTable(
    "transaction",
    "transaction_id",
    ("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", *_STAMPS),
)
PAYMENT = DemoTable(
    "payment",
    "payment_id",
    (
        "payment_id",
        "transaction_id",
        "counterparty_id",
        "payment_amount",
        "currency_id",
        "payment_type_id",
        "paid",
        "payment_date",
        "company_ac_number",
        "counterparty_ac_number",
        *_STAMPS,
    ),
)

# In an order that satisfies the foreign keys: every table after the tables it refers to.
TABLES = (
    ADDRESS,
    COUNTERPARTY,
    CURRENCY,
    DEPARTMENT,
    DESIGN,
    STAFF,
    SALES_ORDER,
    PURCHASE_ORDER,
    PAYMENT_TYPE,
    TRANSACTION,
    PAYMENT,
)
TABLE_NAMES = tuple(t.name for t in TABLES)
