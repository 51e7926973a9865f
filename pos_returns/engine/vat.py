"""VAT per rate of a return ticket: one computation for the printed ticket, the
journal record of the ticket and the closures that add tickets up.

A ticket's VAT is computed per rate: the signed TTC amounts of the rate (each line's
amount plus its restocking fee, the fee being taxed at its line's rate) are summed
first and split once with :func:`pos_returns.engine.money.vat_included_split`, so HT + VAT
== TTC on every row and no cent is lost to per-line rounding. A closure adds up the
tickets' rows as they were printed and journaled; it never splits again.

Pure and free of reportlab: :mod:`pos_returns.usecases.tickets` and :mod:`pos_returns.journal.chain`
import it without pulling the document renderer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pos_returns.engine.money import vat_included_split


@dataclass(frozen=True, slots=True)
class VatRow:
    rate_bp: int
    ht: int
    vat: int
    ttc: int


def vat_by_rate(amounts: Iterable[tuple[int, int]]) -> tuple[VatRow, ...]:
    """(signed TTC cents, VAT rate bp) pairs -> one row per rate, highest rate first.

    The TTC of a rate is summed first and split once (``vat_included_split``), so
    HT + VAT == TTC on every row and no cent is lost to per-line rounding.
    """
    by_rate: dict[int, int] = defaultdict(int)
    for amount, rate in amounts:
        by_rate[int(rate)] += int(amount)
    rows = []
    for rate in sorted(by_rate, reverse=True):
        ttc = by_rate[rate]
        ht, vat = vat_included_split(ttc, rate)
        rows.append(VatRow(rate, ht, vat, ttc))
    return tuple(rows)


def line_amounts(lines: Iterable[Mapping[str, int | str | None]]
                 ) -> list[tuple[int, int]]:
    """(TTC, rate) of ticket lines given as mappings with ``amount``, ``vat_rate_bp``
    and an optional ``restocking_fee``: the fee is taxed at its line's rate."""
    return [
        (int(line["amount"] or 0) + int(line.get("restocking_fee") or 0),
         int(line["vat_rate_bp"] or 0))
        for line in lines
    ]


def as_record(rows: Iterable[VatRow]) -> dict[str, dict[str, int]]:
    """The journal's form of VAT rows: ``{"2000": {"ttc", "ht", "vat"}}`` (rate as text)."""
    return {str(r.rate_bp): {"ttc": r.ttc, "ht": r.ht, "vat": r.vat} for r in rows}


def add_records(total: dict[str, dict[str, int]], rows: Iterable[VatRow]) -> None:
    """Add one ticket's VAT rows to a running ``as_record``-shaped total (closures)."""
    for r in rows:
        entry = total.setdefault(str(r.rate_bp), {"ttc": 0, "ht": 0, "vat": 0})
        entry["ttc"] += r.ttc
        entry["ht"] += r.ht
        entry["vat"] += r.vat
