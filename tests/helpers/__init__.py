"""Small, explicit test data: a store or two, a catalogue, staff, and sales built
line by line. Rule tests use these so that every figure in an assertion can be
read off the test itself (the demo generator has its own tests).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from pos_returns.cache.db import atomic, open_cache
from pos_returns.demo.chain import insert_vat_rates_and_departments
from pos_returns.engine.codes import ReceiptNumber, ean13_check_digit
from pos_returns.journal.pins import Pepper, create_pepper, hash_pin, pepper_path, seal_staff

PINS = {"V001": "1111", "B001": "2222", "M001": "9999", "V201": "3333", "M201": "8888"}
_FAST_HASHES: dict[str, str] = {}

#: The chain's PIN pepper in the tests: every key folder a test's till makes gets this
#: one (tests/conftest.py), so the staff rows below (hashed and sealed with it) log in.
TEST_PEPPER = Pepper(bytes.fromhex("5eed" * 16))


def fast_pin_hash(pin: str) -> str:
    # Tests use a cheaper scrypt cost (n=2**10) so the suite stays quick; the
    # verification code is the same.
    if pin not in _FAST_HASHES:
        _FAST_HASHES[pin] = hash_pin(pin, TEST_PEPPER, n=2**10)
    return _FAST_HASHES[pin]


def install_test_pepper(key_path: Path | str) -> None:
    """Put the tests' chain pepper beside ``key_path`` (for key folders made outside a
    test function: module fixtures, child processes)."""
    create_pepper(pepper_path(key_path), TEST_PEPPER.secret)


def sealed(row: dict[str, Any], pepper: Pepper = TEST_PEPPER) -> dict[str, Any]:
    """A staff row with its seal (pos_returns.journal.pins), as a till writes it."""
    return {**row, "seal": seal_staff(row, pepper)}


def seed_reference(db: Database) -> None:
    """Two stores (Paris with Fine Jewelry, Lyon without), VAT rates, departments,
    a small catalogue, and staff (codes and PINs in ``PINS``)."""
    with atomic(db):
        insert_vat_rates_and_departments(db.conn)
        db["stores"].insert_all(
            [
                {
                    "id": 1, "code": "PAR", "name": "Alamara Paris Haussmann",
                    "address": "40 boulevard Haussmann", "postcode": "75009", "city": "Paris",
                    "siret": "55204944700017", "vat_number": "FR40552049447",
                    "has_fine_jewelry": 1, "latitude": 48.8738, "longitude": 2.3320,
                },
                {
                    "id": 2, "code": "LYO", "name": "Alamara Lyon Part-Dieu",
                    "address": "17 rue du Docteur Bouchut", "postcode": "69003", "city": "Lyon",
                    "siret": "55204944700025", "vat_number": "FR40552049447",
                    "has_fine_jewelry": 0, "latitude": 45.7610, "longitude": 4.8570,
                },
            ]
        )
        db["tills"].insert_all(
            [{"store_id": s, "till_no": t, "label": f"Caisse {t}"} for s in (1, 2) for t in (1, 2)]
        )
        db["products"].insert_all(
            [
                _p("SKU-ROBE-01", "3000000000017", "Robe portefeuille en soie", "women", 2000,
                   18900),
                _p("SKU-CHEM-01", "3000000000024", "Chemise oxford", "men", 2000, 7900),
                _p("SKU-ESCA-01", "3000000000031", "Escarpins cuir", "shoes", 2000, 22000),
                _p("SKU-PARF-01", "3000000000048", "Eau de parfum 50 ml", "beauty", 2000, 9500),
                _p("SKU-CERE-01", "3000000000055", "Robe de cérémonie brodée", "occasion", 2000,
                   89000, tag=1),
                _p("SKU-CREA-01", "3000000000062", "Veste de créateur", "designer", 2000,
                   145000, tag=1),
                _p("SKU-BAGU-01", "3000000000079", "Bague or 18 carats et diamant", "jewelry",
                   2000, 640000, jewel=1),
                _p("SKU-COLL-01", "3000000000086", "Collier perles", "jewelry", 2000, 65000,
                   jewel=1),
                _p("SKU-GIFT-50", "3000000000093", "Carte cadeau Alamara 50 €", "gift_cards", 0,
                   5000, gift=1),
                _p("SKU-LIVR-01", "3000000000109", "Livre de mode", "women", 550, 3500),
            ]
        )
        columns = {c.name for c in db["staff"].columns}  # an older file has no seal yet
        db["staff"].insert_all(
            [{k: v for k, v in row.items() if k in columns} for row in [
                _s(1, "V001", "Camille Martin", "salesperson", 1),
                _s(2, "B001", "Inès Laurent", "jewelry", 1),
                _s(3, "M001", "Sophie Bernard", "manager", 1),
                _s(4, "V201", "Lucas Petit", "salesperson", 2),
                _s(5, "M201", "Hugo Moreau", "manager", 2),
            ]]
        )


def _p(sku, ean, name, dept, vat, price, *, tag=0, jewel=0, gift=0):
    ean = ean[:12] + ean13_check_digit(ean[:12])  # a valid EAN-13, as scanned off the tag
    return {
        "sku": sku, "ean": ean, "name": name, "department": dept, "vat_rate_bp": vat or 2000,
        "current_price": price, "return_tag_required": tag, "fine_jewelry": jewel,
        "gift_card": gift,
    }


def _s(i, code, name, role, store):
    return sealed({"id": i, "code": code, "name": name, "role": role, "store_id": store,
                   "pin_hash": fast_pin_hash(PINS[code]), "active": 1})


_seq = itertools.count(1)


@dataclass
class L:
    """A sale line to build: sku, quantity, unit price paid (cents)."""

    sku: str
    qty: int
    price: int
    serial: str = ""
    list_price: int | None = None
    vat_bp: int = 2000


@dataclass
class T:
    """A tender: kind, amount (cents) and for a card its last 4 and fingerprint."""

    kind: str
    amount: int
    last4: str = ""
    fingerprint: str = ""
    gift_card_number: str = ""


def add_sale(
    db: Database,
    lines: list[L],
    tenders: list[T] | None = None,
    *,
    store_id: int = 1,
    till_no: int = 1,
    sold_on: date = date(2025, 3, 15),
    channel: str = "store",
    order_number: str | None = None,
    international: bool = False,
    gift_receipt: bool = False,
    shipping: int = 0,
    duties: int = 0,
    customer_id: int | None = None,
    packing_slip: str = "",
) -> int:
    """Insert a sale; tenders default to one card paying the whole total. Returns its id."""
    merchandise = sum(line.qty * line.price for line in lines)
    total = merchandise + shipping + duties
    if tenders is None:
        tenders = [T("card", total, "4242", "fp-4242")]
    assert sum(t.amount for t in tenders) == total, "tenders must add up to the total"
    seq = next(_seq)
    receipt = None
    if channel == "store":
        receipt = ReceiptNumber(store_id, till_no, sold_on, seq % 9999 or 1).digits
    with atomic(db):
        sale_id = db["sales"].insert(
            {
                "receipt_number": receipt, "order_number": order_number, "channel": channel,
                "store_id": store_id, "till_no": till_no if channel == "store" else 0,
                "sold_at": f"{sold_on.isoformat()}T10:30:00Z", "customer_id": customer_id,
                "staff_id": 1, "international": int(international),
                "gift_receipt": int(gift_receipt), "merchandise": merchandise,
                "shipping": shipping, "duties": duties, "total": total,
                "packing_slip": packing_slip,
            }
        ).last_pk
        for n, line in enumerate(lines, 1):
            db["sale_lines"].insert(
                {
                    "sale_id": sale_id, "line_no": n, "sku": line.sku, "quantity": line.qty,
                    "unit_price": line.price, "list_price": line.list_price or line.price,
                    "vat_rate_bp": line.vat_bp, "serial_number": line.serial,
                }
            )
        for t in tenders:
            db["tenders"].insert(
                {
                    "sale_id": sale_id, "kind": t.kind, "amount": t.amount,
                    "card_last4": t.last4, "card_fingerprint": t.fingerprint,
                    "card_brand": "VISA" if t.kind == "card" else "",
                    "gift_card_number": t.gift_card_number,
                }
            )
    return int(sale_id)


def add_ticket(db: Database, *, store_id: int = 1, till_no: int = 1,
               origin: str = "local") -> int:
    """A bare return ticket row (no journal record): what a gift card issued in a test of
    the cache needs (the guards refuse a card no ticket issued). Returns its id."""
    number = next(_seq) + 100_000
    cur = db.execute(
        "INSERT INTO return_tickets(uuid, store_id, till_no, number, created_at, staff_id, "
        "kind, origin) VALUES (?, ?, ?, ?, '2026-03-02T10:00:00Z', 1, 'receipt', ?)",
        [f"test-ticket-{number}", store_id, till_no, number, origin],
    )
    return int(cur.lastrowid or 0)


_TEMPLATE: dict[str, Path] = {}


def _template() -> Path:
    """A cache migrated and seeded once per test session (a copy per test is ~100×
    cheaper than migrating anew)."""
    if "path" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="alamara-template-"))
        atexit.register(shutil.rmtree, folder, True)
        db = open_cache(folder / "template.sqlite")
        seed_reference(db)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        _TEMPLATE["path"] = folder / "template.sqlite"
    return _TEMPLATE["path"]


def new_cache(path: Path) -> Database:
    """A migrated cache with the reference data above: a copy of the session's template."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(), path)
    os.chmod(path, 0o600)
    return open_cache(path)


def ean_of(db: Database, sku: str) -> str:
    """The (valid) EAN-13 of a catalogue SKU, as the scanner reads it off the tag."""
    return db.execute("SELECT ean FROM products WHERE sku = ?", [sku]).fetchone()[0]


# --------------------------------------------------------------------------- the TPE simulator

LOOPBACK = "127.0.0.1"


class SimulatorProcess:
    """The payment terminal simulator running as a real server in another process."""

    def __init__(self, port: int, proc: subprocess.Popen[str]) -> None:
        self.port = port
        self.proc = proc
        self.log = ""  # what it wrote, once stopped (no-break spaces as plain spaces)

    def client(self, **kw: Any) -> Any:
        from pos_returns.devices.caisse_ap import CaisseAPClient

        kw.setdefault("timeout_seconds", 5.0)
        kw.setdefault("till_no", 3)
        return CaisseAPClient(LOOPBACK, self.port, **kw)


@contextmanager
def tpe_simulator(tmp_path: Path, steps: list[Any] | None = None, *,
                  delay: float = 0.0) -> Iterator[SimulatorProcess]:
    """``python -m pos_returns.devices.tpe_simulator`` on 127.0.0.1, a free port, with
    ``steps`` as its script; stopped (SIGTERM, then SIGKILL) on exit."""
    folder = tmp_path / f"tpe-{next(_seq)}"
    folder.mkdir()
    ready = folder / "port"
    args = [sys.executable, "-m", "pos_returns.devices.tpe_simulator", "--host", LOOPBACK,
            "--port", "0", "--ready-file", str(ready), "--delay", str(delay),
            "--lifetime", "600"]  # never outlives a test process that died for long
    if steps is not None:
        script = folder / "script.json"
        script.write_text(json.dumps(steps), encoding="utf-8")
        args += ["--script", str(script)]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    sim = None
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.02)
        sim = SimulatorProcess(int(ready.read_text()), proc)
        yield sim
    finally:
        proc.terminate()
        try:
            out, _err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _err = proc.communicate(timeout=10)
        if sim is not None:
            sim.log = out.replace("\u00a0", " ")


def approve(db: Database, cfg, plan, *, rule: str, line_no: int | None,
            manager: str = "M001", reason: str = "Cliente fidèle, article jamais porté",
            decision: str = "approved", now=None):
    """The engine's plan once a manager decided ``rule`` on ``plan``'s request, granted as
    the till grants it (the manager's PIN, a token bound to the draft:
    usecases.auth.grant_approvals), then decided again (usecases.planning.plan_return)."""
    from dataclasses import replace

    from pos_returns.usecases.auth import grant_approvals
    from pos_returns.usecases.planning import plan_return

    (approval,) = grant_approvals(db, cfg, manager, PINS[manager], [(line_no, rule)],
                                  decision=decision, reason=reason, request=plan.request,
                                  now=now)
    request = plan.request
    return plan_return(db, cfg, replace(request, approvals=(*request.approvals, approval)))


_MANAGER_CODES = {3: "M001", 5: "M201"}


def granted(db: Database, cfg, request_or_plan):
    """The same request with each of its approvals granted as the till grants them: the
    manager's PIN checked, a single-use token bound to the draft. Given a plan, the
    engine's plan for that request (the writer commits nothing else)."""
    from dataclasses import replace

    from pos_returns.usecases.auth import grant_approvals
    from pos_returns.usecases.planning import plan_return

    request = getattr(request_or_plan, "request", request_or_plan)
    out = []
    for a in request.approvals:
        code = _MANAGER_CODES.get(a.manager_id, "M001")
        (g,) = grant_approvals(db, cfg, code, PINS[code], [(a.line_no, a.rule)],
                               decision=a.decision, reason=a.reason, request=request)
        out.append(g)
    request = replace(request, approvals=tuple(out))
    if not hasattr(request_or_plan, "request"):
        return request
    # a plan: the engine decides again with the granted decisions (the writer commits
    # only the engine's plan)
    return plan_return(db, cfg, request)
