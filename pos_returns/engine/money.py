"""Money: integer euro cents everywhere; formatting lives in :mod:`pos_returns.i18n`."""

from __future__ import annotations

from typing import NewType

Cents = NewType("Cents", int)

# VAT rates are expressed in basis points (1 % = 100 bp) so that they stay integers.
BasisPoints = NewType("BasisPoints", int)


def cents(value: int) -> Cents:
    return Cents(int(value))


def vat_included_split(amount_ttc: int, rate_bp: int) -> tuple[int, int]:
    """Split a VAT-inclusive amount (cents) into (HT, VAT), rounding VAT half-up.

    The HT part is derived from the TTC part so that HT + VAT == TTC exactly.
    Works for negative amounts (returned lines) symmetrically.
    """
    sign = -1 if amount_ttc < 0 else 1
    ttc = abs(amount_ttc)
    # vat = ttc * rate / (10000 + rate), rounded half up, in integers.
    num = ttc * rate_bp
    den = 10000 + rate_bp
    vat = (2 * num + den) // (2 * den)
    return sign * (ttc - vat), sign * vat


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` cents in proportion to ``weights`` with no cent lost.

    Largest-remainder method; the result always sums to ``total``.
    """
    if not weights:
        return []
    wsum = sum(weights)
    if wsum == 0:
        out = [0] * len(weights)
        out[0] = total
        return out
    raw = [total * w for w in weights]
    base = [r // wsum for r in raw]
    rest = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] % wsum), i))
    for i in order[:rest]:
        base[i] += 1
    return base
