"""What the screens share: the till's configuration, the op runner, the till's
identity (store, till) and who is logged in. Screens receive this object."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from pos_returns.config import TillConfig
from pos_returns.engine.domain import Staff
from pos_returns.usecases.till import TillContext

from .ops import Ops


class Services(QObject):
    """Configuration + ops + session. ``staff_changed`` fires on login / switch / logout."""

    staff_changed = Signal(object)
    context_changed = Signal(object)

    def __init__(self, cfg: TillConfig, ops: Ops) -> None:
        super().__init__()
        self.cfg = cfg
        self.ops = ops
        self.context = TillContext(store=None, till_no=cfg.till_no, till_label="")
        self.staff: Staff | None = None

    def set_context(self, context: TillContext) -> None:
        self.context = context
        self.context_changed.emit(context)

    def set_staff(self, staff: Staff | None) -> None:
        self.staff = staff
        self.staff_changed.emit(staff)
