"""The static reference tables: addresses, counterparties, currencies, departments, staff,
payment types. Their size does not depend on the scale."""

from __future__ import annotations

import random
from datetime import datetime

from pgcdc.devtools.demo import vocabulary as words
from pgcdc.devtools.demo.catalog import (
    ADDRESS,
    COMPANY_DOMAIN,
    COUNTERPARTY,
    CURRENCY,
    DEPARTMENT,
    PAYMENT_TYPE,
    PAYMENT_TYPE_NAMES,
    STAFF,
    Row,
)

ADDRESSES = len(words.PLACES)
COUNTERPARTIES = 20
STAFF_MEMBERS = 20
# The original data has a second address line on a third of the addresses and a district
# on about half of them.
_WITH_LINE_2 = 10
_WITH_DISTRICT = 15


def reference_rows(rng: random.Random, created: datetime) -> dict[str, list[Row]]:
    """Rows of every reference table, by table name; all created (and last updated) at
    ``created``."""
    stamps = {"created_at": created, "last_updated": created}
    rows = {
        ADDRESS.name: _addresses(rng),
        COUNTERPARTY.name: _counterparties(rng),
        CURRENCY.name: [
            {"currency_id": i, "currency_code": code}
            for i, code in enumerate(words.CURRENCY_CODES, 1)
        ],
        DEPARTMENT.name: _departments(rng),
        STAFF.name: _staff(rng),
        PAYMENT_TYPE.name: [
            {"payment_type_id": i, "payment_type_name": name}
            for i, name in enumerate(PAYMENT_TYPE_NAMES, 1)
        ],
    }
    return {table: [{**row, **stamps} for row in table_rows] for table, table_rows in rows.items()}


def person(rng: random.Random) -> str:
    """A random full name."""
    return f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"


def street_line(rng: random.Random) -> str:
    """A random first address line, such as ``6826 Herzog Via``."""
    number = rng.randint(1, 9999)
    return f"{number} {rng.choice(words.LAST_NAMES)} {rng.choice(words.STREET_SUFFIXES)}"


def phone_number(rng: random.Random) -> str:
    """A random phone number, such as ``1803 637401``."""
    return f"{rng.randint(1000, 9999)} {rng.randint(100000, 999999)}"


def _addresses(rng: random.Random) -> list[Row]:
    with_line_2 = set(rng.sample(range(ADDRESSES), _WITH_LINE_2))
    with_district = set(rng.sample(range(ADDRESSES), _WITH_DISTRICT))
    rows: list[Row] = []
    for i, (city, country) in enumerate(words.PLACES):
        line_2 = f"{rng.choice(words.FLAT_PREFIXES)} {rng.randint(1, 999)}"
        rows.append(
            {
                "address_id": i + 1,
                "address_line_1": street_line(rng),
                "address_line_2": line_2 if i in with_line_2 else None,
                "district": rng.choice(words.DISTRICTS) if i in with_district else None,
                "city": city,
                "postal_code": f"{rng.randint(10000, 99999)}",
                "country": country,
                "phone": phone_number(rng),
            }
        )
    return rows


def _counterparties(rng: random.Random) -> list[Row]:
    surnames = rng.sample(words.LAST_NAMES, COUNTERPARTIES)
    return [
        {
            "counterparty_id": i,
            "counterparty_legal_name": f"{surname} {rng.choice(words.COMPANY_SUFFIXES)}",
            "legal_address_id": rng.randint(1, ADDRESSES),
            "commercial_contact": person(rng),
            "delivery_contact": person(rng),
        }
        for i, surname in enumerate(surnames, 1)
    ]


def _departments(rng: random.Random) -> list[Row]:
    return [
        {
            "department_id": i,
            "department_name": name,
            "location": location,
            "manager": person(rng),
        }
        for i, (name, location) in enumerate(words.DEPARTMENTS, 1)
    ]


def _staff(rng: random.Random) -> list[Row]:
    pairs = [(first, last) for first in words.FIRST_NAMES for last in words.LAST_NAMES]
    rows: list[Row] = []
    for i, (first, last) in enumerate(rng.sample(pairs, STAFF_MEMBERS), 1):
        rows.append(
            {
                "staff_id": i,
                "first_name": first,
                "last_name": last,
                "department_id": rng.randint(1, len(words.DEPARTMENTS)),
                "email_address": f"{first.lower()}.{last.lower()}@{COMPANY_DOMAIN}",
            }
        )
    return rows
