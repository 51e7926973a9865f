"""HQ's staff rows under the chain's PIN pepper (``pos-returns hq seal-staff``).

HQ keeps the staff table every till pulls, and a till logs in only a row whose seal
matches (:mod:`pos_returns.journal.pins`). Rows written at HQ outside the tills (an
HQ of an older version, an HR import) are sealed here, by the chain's IT, with the
chain's pepper — never by a till.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pos_returns.journal.pins import Pepper, seal_ok, seal_staff, upgrade_hash

if TYPE_CHECKING:  # pragma: no cover
    import psycopg


def seal_hq_staff(conn: psycopg.Connection, pepper: Pepper, *,
                  force: bool = False) -> tuple[int, int, list[str]]:
    """HQ's staff rows under the chain's PIN pepper: a hash of the older, unpeppered
    form is converted (no PIN needed) and a row never sealed is sealed. A row whose
    seal is there but wrong (changed since it was sealed, or sealed with another
    pepper) is left as it is and named, unless ``force`` (after checking it).
    Returns (hashes converted, rows sealed, codes of the rows left out)."""
    converted = sealed = 0
    left: list[str] = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, code, name, role, store_id, active, pin_hash, seal FROM staff "
            "ORDER BY id FOR UPDATE").fetchall()
        for sid, code, name, role, store, active, pin_hash, seal in rows:
            row = {"id": sid, "code": code, "name": name, "role": role, "store_id": store,
                   "active": active, "pin_hash": pin_hash, "seal": seal}
            upgraded = upgrade_hash(pin_hash, pepper)
            if upgraded is None and seal_ok(row, pepper):
                continue
            if seal and not force:
                left.append(str(code))
                continue
            if upgraded is not None:
                row["pin_hash"] = upgraded
                converted += 1
            conn.execute("UPDATE staff SET pin_hash = %s, seal = %s WHERE id = %s",
                         [row["pin_hash"], seal_staff(row, pepper), sid])
            sealed += 1
    return converted, sealed, left
