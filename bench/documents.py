"""Bench: how long the till waits for its paper.

    python bench/documents.py [--rounds 30]

Targets (docs/documents.md): from the committed ticket to the PDF bytes, p95 of
the 80 mm ticket <= 250 ms (it is laid out twice to fit the roll), the A4 ticket
<= 300 ms, the gift card <= 150 ms, a 30-line 80 mm ticket <= 600 ms. The PDF
work runs off the UI thread; these targets keep "Terminer → ticket" instant.
Each figure is printed beside its target; the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import Report, percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pos_returns import i18n  # noqa: E402
from pos_returns.documents import (  # noqa: E402
    gift_card_document_from_db,
    render_giftcard_pdf,
    render_ticket_pdf,
    ticket_document_from_db,
)
from tests.helpers import L, add_sale, new_cache  # noqa: E402
from tests.helpers import documents as sc  # noqa: E402


def _time(fn, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up: font registration, imports
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    i18n.set_language("fr")
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        db = new_cache(Path(tmp) / "cache.sqlite")
        exchange = sc.exchange_with_difference(db)
        gift = sc.no_receipt_gift_card(db)
        sale = add_sale(db, [L("SKU-CHEM-01", 1, 7900 + i) for i in range(30)])
        ids = [r[0] for r in db.execute("SELECT id FROM sale_lines WHERE sale_id = ?", [sale])]
        long = sc.add_ticket(
            db, sale_id=sale, kind="receipt",
            lines=[sc.RL("SKU-CHEM-01", 1, 7900 + i, sale_line_id=ids[i]) for i in range(30)],
            refunds=[sc.RF("card", sum(7900 + i for i in range(30)), last4="4242")],
        )
        (number,) = gift.gift_cards

        def roll() -> bytes:
            doc = ticket_document_from_db(db, gift.ticket_id, security_codes={number: "1234"})
            return render_ticket_pdf(doc, paper="80mm")

        def a4() -> bytes:
            return render_ticket_pdf(ticket_document_from_db(db, exchange.ticket_id), paper="a4")

        def card() -> bytes:
            return render_giftcard_pdf(gift_card_document_from_db(db, number,
                                                                  security_code="1234"))

        def long_roll() -> bytes:
            return render_ticket_pdf(ticket_document_from_db(db, long.ticket_id), paper="80mm")

        for name, fn, target in [
            ("ticket 80 mm with a gift card, p95", roll, 250),
            ("ticket A4 exchange, p95", a4, 300),
            ("gift card 85.6 x 54 mm, p95", card, 150),
            ("ticket 80 mm, 30 lines, p95", long_roll, 600),
        ]:
            samples = _time(fn, args.rounds)
            report.at_most(name, percentile(samples, 95), target, "ms", digits=1)
        db.close()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
