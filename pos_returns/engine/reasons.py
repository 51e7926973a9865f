"""The lists the till offers when a line comes back: why (return reasons) and in
what state (conditions). Labels are English msgids marked with ``N_()`` and
translated when shown (French by default).

Codes are stable (stored on ``return_lines.reason`` / ``condition`` and synced to
HQ); labels may change.
"""

from __future__ import annotations

from pos_returns.engine.domain import Condition
from pos_returns.errors import InvalidInput
from pos_returns.i18n import N_, _

# code -> label, in the order the till lists them (the most frequent first).
RETURN_REASONS: dict[str, str] = {
    "size": N_("Wrong size"),
    "fit": N_("Does not fit well"),
    "colour": N_("Colour or style not as expected"),
    "changed_mind": N_("Changed mind"),
    "gift": N_("Unwanted gift"),
    "not_as_described": N_("Not as described"),
    "defective": N_("Defective or faulty"),
    "damaged_delivery": N_("Damaged on delivery"),
    "late_delivery": N_("Arrived too late"),
    "duplicate": N_("Ordered twice"),
    "other": N_("Other"),
}

# condition -> label; WORN and DAMAGED go to a manager (R12), TAG_REMOVED refuses
# a special-occasion dress or designer item (R13).
CONDITIONS: dict[Condition, str] = {
    Condition.NEW_WITH_TAGS: N_("New, with its tags"),
    Condition.TAG_REMOVED: N_("Return tag removed"),
    Condition.WORN: N_("Worn or used"),
    Condition.DAMAGED: N_("Damaged"),
}


def is_return_reason(code: str) -> bool:
    return code in RETURN_REASONS


def reason_label(code: str) -> str:
    """The translated label of a return reason code; an unknown code is shown as is."""
    label = RETURN_REASONS.get(code)
    return _(label) if label else code


def condition_label(condition: Condition | str) -> str:
    try:
        return _(CONDITIONS[Condition(condition)])
    except ValueError:
        return str(condition)


def check_reason(code: str) -> str:
    """``code`` if it is empty or a known reason, else :class:`InvalidInput`."""
    if code and code not in RETURN_REASONS:
        raise InvalidInput(
            _("Unknown return reason “{code}”.").format(code=code), code="reason"
        )
    return code
