"""A verdict chip: what the policy engine said about a line, in its own words.

The words are the engine's (its reasons), without the rule ids, which are for the
manager's review details. The title says what to do next: F6 for a manager, or,
for a jewel whose checks are not done yet, F4 (the checks) — never the manager
first when the next step is the counter's own (the checks not recorded yet).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from pos_returns.engine.plan import PlannedLine, Verdict
from pos_returns.i18n import N_, _

from ..format import staff_text
from .common import repolish

VERDICT_TITLES = {
    Verdict.ACCEPTED: N_("Accepted"),
    Verdict.NEEDS_MANAGER: N_("Manager approval needed (F6)"),
    Verdict.REFUSED: N_("Blocked — manager override only (F6)"),
}
_SHOWN_LEVELS = ("warning", "manager", "refused", "override")


def jewelry_checks_pending(line: PlannedLine) -> bool:
    """The line is held only by fine-jewelry checks the counter does itself (R14)."""
    refused = [r for r in line.reasons if getattr(r, "level", "") == "refused"]
    return (line.verdict == Verdict.REFUSED and getattr(line, "overridable", True)
            and bool(refused) and all(r.rule == "R14" for r in refused))


def verdict_title(line: PlannedLine, *, jewelry_todo: bool = False) -> str:
    title = _(VERDICT_TITLES[Verdict(line.verdict)])
    overrides = [r for r in line.reasons if getattr(r, "level", "") == "override"]
    manager_no = [r for r in line.reasons
                  if r.rule == "R01" and getattr(r, "level", "") == "refused"]
    if line.verdict == Verdict.REFUSED and not getattr(line, "overridable", True):
        title = _("Refused — cannot be overridden at this till")
    elif manager_no and line.verdict == Verdict.REFUSED:
        title = _("Refused by a manager")
    elif overrides and line.verdict == Verdict.ACCEPTED:
        title = _("Accepted by a manager")
    elif jewelry_todo and jewelry_checks_pending(line):
        title = _("Fine-jewelry checks to do (F4)")
    return title


def verdict_text(line: PlannedLine, *, jewelry_todo: bool = False) -> str:
    title = verdict_title(line, jewelry_todo=jewelry_todo)
    messages = [r.message for r in line.reasons if getattr(r, "level", "info") in _SHOWN_LEVELS]
    if not messages:
        messages = [r.message for r in line.reasons][:1]
    body = "\n".join(staff_text(m) for m in dict.fromkeys(messages))
    if line.verdict == Verdict.ACCEPTED and body and "\n" not in body:
        return f"{title} · {body}"  # one line: more cards fit on the screen
    return f"{title}\n{body}" if body else title


class VerdictLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict = "none"
        self.show_none("")

    def show_none(self, text: str) -> None:
        self.verdict = "none"
        self.setProperty("verdict", "none")
        self.setText(text)
        self.setAccessibleName(text)
        self.setVisible(bool(text))
        repolish(self)

    def show_line(self, line: PlannedLine, *, jewelry_todo: bool = False) -> None:
        self.verdict = str(line.verdict)
        # checks still to do are the next step (amber), not a refusal (red)
        todo = jewelry_todo and jewelry_checks_pending(line)
        self.setProperty("verdict", "needs_manager" if todo else self.verdict)
        text = verdict_text(line, jewelry_todo=jewelry_todo)
        self.setText(text)
        self.setAccessibleName(text)
        self.setVisible(True)
        repolish(self)
