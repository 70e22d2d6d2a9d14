"""Realistic customers files, clean or with a chosen fraction of bad rows.

Generation is seeded, so a test can regenerate a file and know exactly which
lines are invalid and why.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "country",
    "signup_date",
    "balance",
    "active",
    "age",
    "score",
]

_FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Guido",
    "Katherine",
    "Tim",
    "Hedy",
    "Claude",
    "Annie",
    "John",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "van Rossum",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Shannon",
    "Easley",
    "McCarthy",
]
_COUNTRIES = [
    "FR",
    "DE",
    "GB",
    "US",
    "ES",
    "IT",
    "NL",
    "BE",
    "CH",
    "SE",
    "PL",
    "PT",
    "IE",
    "CA",
    "JP",
    "BR",
    "IN",
    "AU",
]
_DOMAINS = ["example.com", "mail.test", "corp.example", "post.example.org"]

#: Ways a row goes wrong in real files, and the column each one breaks.
DEFECTS: dict[str, str] = {
    "bad_email": "email",
    "missing_last_name": "last_name",
    "bad_country": "country",
    "age_out_of_range": "age",
    "bad_date": "signup_date",
    "bad_balance": "balance",
    "bad_score": "score",
    "bad_active": "active",
}


@dataclass(frozen=True)
class GeneratedRow:
    line: int
    values: list[str]
    defect: str | None


def generate(
    rows: int, *, dirty: float = 0.0, seed: int = 42, first_id: int = 1
) -> Iterator[GeneratedRow]:
    """Rows of a customers file; a ``dirty`` fraction carries exactly one defect each."""
    rng = random.Random(seed)
    defects = list(DEFECTS)
    base = dt.date(2015, 1, 1)
    for index in range(rows):
        customer_id = first_id + index
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        values = [
            str(customer_id),
            f"{first.lower()}.{last.lower().replace(' ', '')}{customer_id}@{rng.choice(_DOMAINS)}",
            first,
            last,
            rng.choice(_COUNTRIES),
            (base + dt.timedelta(days=rng.randrange(3650))).isoformat(),
            f"{rng.randrange(-50_000, 500_000) / 100:.2f}",
            rng.choice(("true", "false", "1", "0", "yes")),
            str(rng.randrange(18, 95)),
            f"{rng.random() * 100:.3f}",
        ]
        defect = rng.choice(defects) if rng.random() < dirty else None
        if defect is not None:
            _spoil(values, defect, rng)
        yield GeneratedRow(line=index + 2, values=values, defect=defect)


def _spoil(values: list[str], defect: str, rng: random.Random) -> None:
    column = COLUMNS.index(DEFECTS[defect])
    values[column] = {
        "bad_email": values[1].replace("@", " at "),
        "missing_last_name": "",
        "bad_country": rng.choice(["XX", "France", "U.S.", "ZZ"]),
        "age_out_of_range": str(rng.choice([3, 12, 150, 999])),
        "bad_date": rng.choice(["2021-02-30", "31/12/2020", "yesterday"]),
        "bad_balance": rng.choice(["12.345", "1,000.00", "abc"]),
        "bad_score": rng.choice(["n/a", "high", "--"]),
        "bad_active": rng.choice(["maybe", "2", "oui"]),
    }[defect]


def write_csv(path: str | Path, rows: int, *, dirty: float = 0.0, seed: int = 42) -> int:
    """Write a customers CSV; returns how many rows are invalid."""
    invalid = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in generate(rows, dirty=dirty, seed=seed):
            writer.writerow(row.values)
            invalid += row.defect is not None
    return invalid
