"""Loaders for the reference data: stores, products (with current prices)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database

from pos_returns.engine.domain import Department, Product, Store, StoreId
from pos_returns.errors import NotFound
from pos_returns.i18n import _

_STORE_COLUMNS = (
    "id, code, name, address, postcode, city, siret, vat_number, has_fine_jewelry, "
    "latitude, longitude"
)


def _store(row: tuple) -> Store:
    return Store(
        id=StoreId(row[0]), code=row[1], name=row[2], address=row[3], postcode=row[4],
        city=row[5], siret=row[6], vat_number=row[7], has_fine_jewelry=bool(row[8]),
        latitude=row[9], longitude=row[10],
    )


def get_store(db: Database, store_id: int) -> Store:
    row = db.execute(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = ?", [store_id]).fetchone()
    if row is None:
        raise NotFound(_("Unknown store {store}.").format(store=store_id), code="store")
    return _store(row)


def all_stores(db: Database) -> list[Store]:
    return [_store(r) for r in db.execute(f"SELECT {_STORE_COLUMNS} FROM stores ORDER BY id")]


def _product(row: tuple) -> Product:
    return Product(
        sku=row[0], ean=row[1], name=row[2], department=Department(row[3]),
        vat_rate_bp=row[4], current_price=row[5], return_tag_required=bool(row[6]),
        fine_jewelry=bool(row[7]), gift_card=bool(row[8]),
    )


_PRODUCT_COLUMNS = (
    "sku, ean, name, department, vat_rate_bp, current_price, return_tag_required, "
    "fine_jewelry, gift_card"
)


def get_products(db: Database, skus: Iterable[str]) -> dict[str, Product]:
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = db.execute(
        f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE sku IN ({','.join('?' * len(wanted))})",
        wanted,
    ).fetchall()
    return {r[0]: _product(r) for r in rows}


def find_product(db: Database, code: str) -> Product:
    """A product by SKU or by the EAN scanned off its tag."""
    text = (code or "").strip().upper()
    row = db.execute(
        f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE sku = ? OR ean = ?", [text, text]
    ).fetchone()
    if row is None:
        raise NotFound(_("Unknown article “{sku}”.").format(sku=text[:32]), code="sku")
    return _product(row)
