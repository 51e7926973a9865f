"""The online check before a refund: what HQ has already seen returned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from pos_returns.hq import receive as hq_receive
from pos_returns.hq import schema as hq_schema
from pos_returns.sync.state import CHECK_TIMEOUT, offline_reason

if TYPE_CHECKING:  # pragma: no cover
    pass


# -- online check before a refund ---------------------------------------------------


@dataclass(frozen=True)
class OnlineCheck:
    """``ok``: HQ agrees; ``conflict``: already returned elsewhere (see ``problems``);
    ``offline``: HQ unreachable, the till decides from its cache and marks the
    return offline."""

    status: str
    problems: tuple[dict[str, Any], ...] = ()
    error: str = ""

    @property
    def offline(self) -> bool:
        return self.status == "offline"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def wanted_quantities(plan_or_lines: Any) -> dict[int, int]:
    """``{sale_line_id: quantity}`` asked back by a ReturnPlan, a ReturnRequest, or
    lines (objects or dicts with ``sale_line_id`` and ``quantity``, or pairs)."""
    lines = getattr(plan_or_lines, "lines", plan_or_lines)
    wanted: dict[int, int] = {}
    for line in lines:
        if isinstance(line, dict):
            sid, qty, direction = (line.get("sale_line_id"), line.get("quantity", 0),
                                   line.get("direction", "return"))
        elif isinstance(line, tuple | list):
            sid, qty, direction = line[0], line[1], "return"
        else:
            sid = getattr(line, "sale_line_id", None)
            qty = getattr(line, "quantity", 0)
            direction = getattr(line, "direction", "return")
        if sid is None or direction != "return":
            continue
        wanted[int(sid)] = wanted.get(int(sid), 0) + int(qty)
    return wanted


def local_waiting_quantities(db: Database, sale_line_ids: Iterable[int]) -> dict[int, int]:
    """Quantities this till returned that HQ does not know yet (outbox not sent)."""
    ids = list(sale_line_ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = db.execute(
        "SELECT rl.sale_line_id, SUM(rl.quantity) FROM return_lines rl "
        "JOIN return_tickets t ON t.id = rl.ticket_id "
        "JOIN outbox o ON o.uuid = t.uuid AND o.sent_at = '' "
        f"WHERE rl.direction = 'return' AND rl.sale_line_id IN ({marks}) "
        "GROUP BY rl.sale_line_id",
        ids,
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def check_return_online(
    conn_or_dsn: Any,
    plan_or_lines: Any,
    *,
    db: Database | None = None,
    local_waiting: dict[int, int] | None = None,
    timeout: float = CHECK_TIMEOUT,
) -> OnlineCheck:
    """Ask HQ, before the refund, whether the lines can still be returned chain-wide.

    HQ's already-returned quantities (every till's pushed returns) plus, with
    ``db`` (or ``local_waiting``, read before on the database worker), this till's
    returns still waiting in the outbox. HQ unreachable
    (short ``connect_timeout``) -> ``offline``.
    """
    import psycopg

    wanted = wanted_quantities(plan_or_lines)
    if not wanted:
        return OnlineCheck("ok")
    own_conn = isinstance(conn_or_dsn, str)
    try:
        conn = (
            hq_schema.connect(conn_or_dsn, timeout=timeout, autocommit=True) if own_conn
            else conn_or_dsn
        )
    except psycopg.OperationalError as exc:
        return OnlineCheck("offline", error=offline_reason(exc))
    try:
        seen = hq_receive.returned_quantities(conn, list(wanted))
    except psycopg.OperationalError as exc:
        return OnlineCheck("offline", error=offline_reason(exc))
    finally:
        if own_conn:
            conn.close()
    if db is not None or local_waiting is not None:
        extra = local_waiting if local_waiting is not None else local_waiting_quantities(db, wanted)
        seen = {k: (s, r + extra.get(k, 0)) for k, (s, r) in seen.items()}
    problems = hq_receive.over_return_problems(wanted, seen)
    return OnlineCheck("conflict" if problems else "ok", problems=tuple(problems))


def hq_reachable(dsn: str, *, timeout: float = CHECK_TIMEOUT) -> bool:
    """True when HQ answers within ``timeout`` seconds (the till's online / offline)."""
    import psycopg

    if not dsn:
        return False
    try:
        with hq_schema.connect(dsn, timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False
