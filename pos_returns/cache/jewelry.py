"""What a fine-jewelry ticket keeps in the cache: the customer's signature and
each piece's inspection (append-only ``ticket_signatures``; R14)."""

from __future__ import annotations

import json

from sqlite_utils import Database

from pos_returns.engine.jewelry import TicketJewelry


def store_ticket_record(db: Database, ticket_uuid: str, record: TicketJewelry,
                        created_at: str) -> None:
    """Keep the signature and inspections with the ticket (inside the ticket's transaction)."""
    db.execute(
        "INSERT INTO ticket_signatures(ticket_uuid, png, sha256, inspections, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [ticket_uuid, record.png, record.sha256,
         json.dumps(list(record.inspections), ensure_ascii=False, sort_keys=True), created_at],
    )


def load_ticket_record(db: Database, ticket_uuid: str) -> TicketJewelry | None:
    """The signature and inspections kept with a ticket, for printing (None: none)."""
    if not db["ticket_signatures"].exists():
        return None
    row = db.execute(
        "SELECT png, sha256, inspections FROM ticket_signatures WHERE ticket_uuid = ?",
        [ticket_uuid],
    ).fetchone()
    if row is None:
        return None
    return TicketJewelry(bytes(row[0]), str(row[1]), tuple(json.loads(row[2])))
