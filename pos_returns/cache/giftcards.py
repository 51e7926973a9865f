"""Alamara Gift Cards issued by the till (refunds of R04, R06, R07, R02 overflow…).

Number
    19 digits: ``6`` (Alamara stored value), 17 random digits, then a Luhn check
    digit (:func:`pos_returns.engine.codes.luhn_check_digit`), so a mistyped digit or a
    swap of two neighbours is caught by :func:`pos_returns.engine.codes.classify`.
    Unique in the cache (primary key), drawn from ``secrets``.

Security code
    4 random digits printed once on the card, shown once at the till and never
    stored: the cache keeps only a keyed hash (HMAC-SHA256 with a secret derived
    from the till's private key, which lives outside the cache), so the code
    cannot be recovered by trying the 10 000 codes against a stolen cache file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlite_utils import Database

from pos_returns.engine.codes import luhn_check_digit, luhn_valid
from pos_returns.errors import Conflict, InvalidInput
from pos_returns.i18n import _

PREFIX = "6"
LENGTH = 19
SECRET_LABEL = "alamara-retours gift card security code v1"
_MAX_TRIES = 20


@dataclass(frozen=True, slots=True)
class IssuedGiftCard:
    number: str
    security_code: str  # shown once, never stored
    amount: int


def new_number(rng: secrets.SystemRandom | None = None) -> str:
    """A fresh 19-digit number starting with 6, with its Luhn check digit."""
    rand = rng or secrets.SystemRandom()
    body = PREFIX + "".join(str(rand.randrange(10)) for _ in range(LENGTH - 2))
    return body + luhn_check_digit(body)


def new_security_code(rng: secrets.SystemRandom | None = None) -> str:
    rand = rng or secrets.SystemRandom()
    return f"{rand.randrange(10_000):04d}"


def hash_security_code(secret: bytes, number: str, code: str) -> str:
    """Keyed hash of a card's security code (bound to the card number)."""
    msg = f"{number}:{code}".encode("ascii")
    return "hmac-sha256$" + hmac.new(secret, msg, hashlib.sha256).hexdigest()


def format_number(number: str) -> str:
    """``6123 4567 8901 2345 678`` for people (groups of four)."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def issue(
    db: Database,
    *,
    secret: bytes,
    amount: int,
    ticket_id: int | None,
    store_id: int,
    till_no: int,
    issued_at: str,
) -> IssuedGiftCard:
    """Insert a new gift card (call inside the ticket's transaction)."""
    if amount <= 0:
        raise InvalidInput(_("A gift card is issued for a positive amount."), code="amount")
    rng = secrets.SystemRandom()
    for _try in range(_MAX_TRIES):
        number = new_number(rng)
        exists = db.execute("SELECT 1 FROM gift_cards WHERE number = ?", [number]).fetchone()
        if exists:
            continue
        code = new_security_code(rng)
        db.execute(
            "INSERT INTO gift_cards(number, security_hash, initial_amount, issued_ticket_id, "
            "issued_at, store_id, till_no) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                number, hash_security_code(secret, number, code), amount, ticket_id,
                issued_at, store_id, till_no,
            ],
        )
        return IssuedGiftCard(number, code, amount)
    raise Conflict(_("Could not draw a new gift card number; try again."), code="gift_card")


def check_security_code(db: Database, secret: bytes, number: str, code: str) -> bool:
    """True when ``code`` is the security code of gift card ``number``."""
    if not luhn_valid(number) or not (code.isascii() and code.isdigit() and len(code) == 4):
        return False
    row = db.execute("SELECT security_hash FROM gift_cards WHERE number = ?", [number]).fetchone()
    if row is None:
        return False
    return hmac.compare_digest(row[0], hash_security_code(secret, number, code))


@dataclass(frozen=True, slots=True)
class GiftCardBalance:
    number: str
    initial_amount: int  # cents loaded when the card was issued (0 when issued elsewhere)
    spent: int  # cents paid with it, chain-wide (sales tenders synced from HQ)
    issued_at: str

    @property
    def balance(self) -> int:
        return max(0, self.initial_amount - self.spent)


def balance(db: Database, number: str) -> GiftCardBalance | None:
    """What is left on a gift card, or None when the chain's data does not know it.

    The card's value comes from ``gift_cards`` (issued by a till) and what was
    spent from the sales paid with it (tenders of kind ``gift_card``).
    """
    row = db.execute(
        "SELECT initial_amount, issued_at FROM gift_cards WHERE number = ?", [number]
    ).fetchone()
    spent_row = db.execute(
        "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM tenders "
        "WHERE kind = 'gift_card' AND gift_card_number = ?",
        [number],
    ).fetchone()
    if row is None and not spent_row[1]:
        return None
    initial, issued_at = (row[0], row[1]) if row else (0, "")
    return GiftCardBalance(number, initial, int(spent_row[0]), issued_at)
