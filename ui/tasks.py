"""Small UI helpers shared by several screens: ask the engine, scan an article.

The work itself is the core's (:mod:`pos_returns.usecases`), run on the database
worker through :mod:`ui.ops`; these only wire its answer to the widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pos_returns.engine.domain import Product
from pos_returns.engine.plan import ReturnPlan, ReturnRequest
from pos_returns.usecases import planning
from pos_returns.usecases.till import product_by_code

from .ops import error_message


def ask_policy(services: Any, request: ReturnRequest, seq: int,
               planned: Callable[[int, ReturnPlan], None],
               failed: Callable[[int, BaseException], None]) -> None:
    """Ask the policy engine for ``request`` on the database worker. The answer comes
    back with ``seq`` so that a screen that asked again since keeps only the newest."""
    (
        services.ops.op(planning.plan_return, services.cfg, request)
        .success(lambda plan: planned(seq, plan))
        .failure(lambda exc: failed(seq, exc))
        .run()
    )


def scan_item(services: Any, field: Any, banner: Any,
              found: Callable[[Product], None],
              settled: Callable[[], None] | None = None) -> bool:
    """Look up the article typed or scanned in ``field`` on the database worker.

    Found: the field is emptied, the banner cleared, ``found(product)`` called. Not
    found: the banner says why and the code stays in the field, selected, so that the
    next scan replaces it (the no-receipt items and the exchange's new items)."""
    code = field.text()
    if not code.strip():
        return False

    def ok(product: Product) -> None:
        field.clear()
        banner.clear_message()
        found(product)
        if settled is not None:
            settled()

    def failed(exc: BaseException) -> None:
        banner.show_message(error_message(exc))
        field.setFocus()
        field.selectAll()
        if settled is not None:
            settled()

    services.ops.op(product_by_code, code).success(ok).failure(failed).run()
    return True
