"""Accessibility, enforced (issue 16): every screen and dialog of the till is walked.

- every interactive widget has a French accessible name (what a screen reader says),
  and an input with a caption has that caption as its buddy or an explicit name;
- every screen declares an explicit Tab order (``tab_chain``) and Tab follows it;
- text contrast >= 4.5:1, computed from the colours of ``resources/style.qss``;
- touch targets >= 44 x 44 px, measured on the laid-out widgets;
- the salesperson's flows run from the keyboard alone (no click anywhere).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from pos_returns.cache.lookup import get_sale
from tests.helpers import L, T, add_sale, ean_of
from tests.helpers.ui import confirm_on_terminal, log_in, press, receipt_of, scan

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

STYLE = Path(__file__).resolve().parents[2] / "resources" / "style.qss"
INTERACTIVE = (QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox, QAbstractItemView,
               QPlainTextEdit)
MIN_TARGET = 44
MIN_CONTRAST = 4.5
# English words that never appear in the French till (a name left untranslated)
ENGLISH = re.compile(r"\b(the|and|of|to|with|Back|Search|Find|Cancel|Manager|Quantity|"
                     r"Reason|Condition|line|Print|Return|Refund)\b")


# -- helpers ---------------------------------------------------------------------------------

def shown(root: QWidget, kinds=INTERACTIVE) -> list[QWidget]:
    """The widgets of ``kinds`` under ``root`` a person can reach now."""
    out = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, kinds) or not widget.isVisibleTo(root):
            continue
        # the line edit inside a spin box or a combo box is part of it
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(),
                                                        (QAbstractSpinBox, QComboBox)):
            continue
        if widget.window() is not root.window():
            continue
        if isinstance(widget, QHeaderView):  # part of its table, not a stop of its own
            continue
        out.append(widget)
    return out


def spoken_name(widget: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(widget)
    return iface.text(QAccessible.Text.Name).strip() if iface is not None else ""


def check_names(root: QWidget) -> list[str]:
    problems = []
    buddies = {id(lab.buddy()) for lab in root.findChildren(QLabel) if lab.buddy() is not None}
    for widget in shown(root):
        name = spoken_name(widget) or widget.accessibleName()
        what = f"{type(widget).__name__} {widget.objectName()!r} ({name!r})"
        if not name:
            problems.append(f"no accessible name: {what}")
        elif ENGLISH.search(name):
            problems.append(f"accessible name not in French: {what}")
        inputs = (QLineEdit, QAbstractSpinBox, QComboBox, QPlainTextEdit)
        if isinstance(widget, inputs) and id(widget) not in buddies \
                and not widget.accessibleName():
            problems.append(f"input without a label buddy nor an explicit name: {what}")
    return problems


def check_targets(root: QWidget) -> list[str]:
    problems = []
    for widget in shown(root, (QAbstractButton, QLineEdit, QAbstractSpinBox, QComboBox)):
        size = widget.size()
        if size.width() < MIN_TARGET or size.height() < MIN_TARGET:
            problems.append(f"{type(widget).__name__} {spoken_name(widget)!r}: "
                            f"{size.width()}x{size.height()} px")
    return problems


def follow_tab(qtbot, chain: list[QWidget]) -> list[str]:
    """Press Tab from the first reachable widget of ``chain``: the focus must visit
    the reachable ones in the declared order."""
    reachable = [w for w in chain if w.isVisible() and w.isEnabled()
                 and w.focusPolicy() & Qt.FocusPolicy.TabFocus]
    assert len(reachable) >= 2
    reachable[0].setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.wait_until(reachable[0].hasFocus)
    visited = []
    for expected in reachable[1:]:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        focus = QApplication.focusWidget()
        # a combo box or spin box gives the focus to its inner line edit
        while focus is not None and focus not in reachable and focus.parent() is not None \
                and isinstance(focus.parent(), (QAbstractSpinBox, QComboBox)):
            focus = focus.parent()
        if focus is not expected:
            visited.append(f"expected {spoken_name(expected)!r}, got "
                           f"{spoken_name(focus) if focus else None!r}")
            break
    return visited


# -- contrast, from the style sheet ----------------------------------------------------------

def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def style_pairs(text: str) -> list[tuple[str, str, str]]:
    """(selector, text colour, background) for every rule that sets a text colour."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", text):
        selector = " ".join(selector.split())
        decl = dict((k.strip(), v.strip()) for k, _s, v in
                    (d.partition(":") for d in body.split(";")) if _s)
        colour = decl.get("color")
        background = decl.get("background") or decl.get("background-color")
        if background == "transparent":
            background = None
        if colour and colour.startswith("#"):
            if background and background.startswith("#"):
                backs = [background]
            elif "#header" in selector or "#netBar" in selector:
                backs = ["#1f3a5f"]
            else:  # on a card (white) or on the screen (light grey)
                backs = ["#ffffff", "#f3f4f7"]
            pairs += [(selector, colour, b) for b in backs]
        sel_bg, sel_fg = decl.get("selection-background-color"), decl.get("selection-color")
        if sel_bg and sel_fg:
            pairs.append((selector + " (selection)", sel_fg, sel_bg))
    return pairs


def test_text_contrast_from_the_style_sheet_is_at_least_4_5():
    pairs = style_pairs(STYLE.read_text(encoding="utf-8"))
    assert len(pairs) > 30  # the parser read the sheet
    low = [f"{sel}: {fg} on {bg} = {contrast(fg, bg):.2f}:1" for sel, fg, bg in pairs
           if contrast(fg, bg) < MIN_CONTRAST]
    assert low == []


def test_contrast_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48


# -- the screens -------------------------------------------------------------------------------

def _two_line_sale(db) -> int:
    return add_sale(db, [L("SKU-ROBE-01", 1, 15000), L("SKU-CHEM-01", 2, 7900)],
                    [T("card", 30800, "4242", "fp-4242")])


def _open(qtbot, db, window, sale_id: int) -> None:
    window.lookup.scan.selectAll()
    scan(qtbot, window.lookup.scan, receipt_of(db, sale_id).barcode_content)
    qtbot.wait_until(lambda: window.current == "sale")
    qtbot.wait_until(window.sale.is_settled)


def _every_screen(qtbot, db, window):
    """Yield (name, widget) for each screen of a receipt return, settled."""
    yield "login", window
    log_in(qtbot, window)
    qtbot.wait_until(lambda: window.current == "lookup")
    yield "lookup", window
    window.lookup.choose_tab(1)
    window.lookup.customer_query.setText("Zzyzx")
    window.lookup.search_other()
    yield "lookup-results", window
    sale_id = _two_line_sale(db)
    _open(qtbot, db, window, sale_id)
    card = window.sale.cards[1]
    card.qty.setFocus()
    qtbot.keyClicks(card.qty, "1")
    qtbot.keyClicks(card.reason, "1")
    qtbot.wait_until(window.sale.is_settled)
    yield "sale", window
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "refund")
    yield "refund", window
    qtbot.keyClicks(window.refund.card_field, "4242")
    qtbot.wait_until(window.refund.confirm_button.isEnabled)
    press(qtbot, Qt.Key.Key_F10)
    confirm_on_terminal(qtbot, window, wait=True)  # no terminal here: its number, F10
    qtbot.wait_until(lambda: window.current == "done")
    yield "done", window


def test_every_screen_names_its_widgets_in_french_and_links_its_labels(qtbot, db, window):
    problems = []
    for name, root in _every_screen(qtbot, db, window):
        problems += [f"{name}: {p}" for p in check_names(root)]
    print("\n".join(problems))
    assert problems == []


def test_every_touch_target_is_at_least_44_px(qtbot, db, window):
    problems = []
    for name, root in _every_screen(qtbot, db, window):
        problems += [f"{name}: {p}" for p in check_targets(root)]
    print("\n".join(problems))
    assert problems == []


def test_manager_dialog_names_targets_and_tab_order(qtbot, db, window):
    from pos_returns.engine.domain import Condition

    log_in(qtbot, window)
    sale_id = add_sale(db, [L("SKU-CERE-01", 1, 89000)], [T("card", 89000, "4242", "fp")])
    _open(qtbot, db, window, sale_id)
    card = window.sale.cards[0]
    card.set_condition(Condition.TAG_REMOVED)
    qtbot.keyClicks(card.reason, "4")
    qtbot.wait_until(window.sale.is_settled)
    assert window.sale.blocking.isVisible()  # the blocked line is named above the lines
    press(qtbot, Qt.Key.Key_F6)
    qtbot.wait_until(lambda: window.manager_dialog is not None)
    dialog = window.manager_dialog
    dialog.activateWindow()
    qtbot.wait_until(dialog.isActiveWindow)
    assert check_names(dialog) == []
    assert check_targets(dialog) == []
    assert follow_tab(qtbot, [dialog.code, dialog.pin, dialog.reason, dialog.approve_button,
                              dialog.refuse_button, dialog.cancel_button]) == []
    # approve and refuse are not side by side: Cancel sits between them... or the gap
    assert dialog.refuse_button.x() < dialog.cancel_button.x() + 400
    assert dialog.approve_button.x() - dialog.refuse_button.x() > 300
    dialog.reject()


def test_lookup_tab_order_is_explicit_and_a_date_takes_one_tab(qtbot, db, window):
    log_in(qtbot, window)
    qtbot.wait_until(lambda: window.current == "lookup")
    lookup = window.lookup
    assert follow_tab(qtbot, lookup.tab_chain()) == []
    # the greyed "return without receipt" says why, in visible text
    assert not lookup.no_receipt_button.isEnabled()
    assert lookup.no_receipt_hint.isVisible() and "recherchez" in lookup.no_receipt_hint.text()


def test_sale_tab_order_goes_line_by_line_then_the_actions(qtbot, db, window):
    log_in(qtbot, window)
    _open(qtbot, db, window, _two_line_sale(db))
    sale = window.sale
    chain = sale.tab_chain()
    assert chain[:3] == sale.cards[0].focus_widgets()
    assert chain[3:6] == sale.cards[1].focus_widgets()
    for line_card in sale.cards:
        line_card.qty.setValue(1)
    qtbot.wait_until(sale.is_settled)
    assert follow_tab(qtbot, chain) == []


# -- whole flows from the keyboard alone -----------------------------------------------------

def test_card_return_from_the_keyboard_alone_then_the_next_receipt(qtbot, db, window):
    first = add_sale(db, [L("SKU-ROBE-01", 1, 15000)], [T("card", 15000, "4242", "fp")])
    second = _two_line_sale(db)
    log_in(qtbot, window)
    scan(qtbot, window.lookup.scan, receipt_of(db, first).barcode_content)
    qtbot.wait_until(lambda: window.current == "sale")
    # one line: selected in full, the focus waits on its reason
    assert window.sale.cards[0].qty.value() == 1
    qtbot.wait_until(window.sale.cards[0].reason.hasFocus)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1)
    qtbot.wait_until(window.sale.is_settled)
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "refund")
    qtbot.wait_until(window.refund.card_field.hasFocus)
    qtbot.keyClicks(QApplication.focusWidget(), "4242")
    qtbot.wait_until(window.refund.confirm_button.isEnabled)
    press(qtbot, Qt.Key.Key_F10)
    confirm_on_terminal(qtbot, window, wait=True)  # no terminal here: its number, F10
    qtbot.wait_until(lambda: window.current == "done")
    # the scanner is ready for the next receipt: no F2, no click
    code = receipt_of(db, second).barcode_content
    for char in code:  # a scanner types into whatever has the focus
        qtbot.keyClicks(QApplication.focusWidget(), char)
    assert window.current == "lookup" and window.lookup.scan.text() == code
    qtbot.keyClick(window.lookup.scan, Qt.Key.Key_Return)
    qtbot.wait_until(lambda: window.current == "sale")
    assert window.sale.sale.id == second


def test_two_lines_two_reasons_from_digits_alone(qtbot, db, window):
    sale_id = _two_line_sale(db)
    log_in(qtbot, window)
    _open(qtbot, db, window, sale_id)
    qtbot.wait_until(window.sale.cards[0].qty.hasFocus)
    for key in (Qt.Key.Key_1, Qt.Key.Key_3, Qt.Key.Key_1, Qt.Key.Key_2):
        qtbot.keyClick(QApplication.focusWidget(), key)
    qtbot.wait_until(window.sale.is_settled)
    reasons = [r.reason for r in window.sale.build_request().lines]
    assert reasons == ["colour", "fit"]
    assert window.sale.continue_button.isEnabled() and window.sale.why.text() == ""


def test_R16_even_exchange_from_the_keyboard_alone(qtbot, db, window):
    sale_id = add_sale(db, [L("SKU-CHEM-01", 1, 7900)], [T("card", 7900, "4242", "fp")])
    log_in(qtbot, window)
    _open(qtbot, db, window, sale_id)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1)  # the reason
    press(qtbot, Qt.Key.Key_F7)
    qtbot.wait_until(window.sale.exchange_scan.hasFocus)
    scan(qtbot, window.sale.exchange_scan, ean_of(db, "SKU-CHEM-01"))
    qtbot.wait_until(lambda: window.sale.is_settled() and window.sale.plan is not None
                     and window.sale.plan.charge_total > 0)
    assert window.sale.plan.accepted_net == 0
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "refund")
    press(qtbot, Qt.Key.Key_F10)
    qtbot.wait_until(lambda: window.current == "done")
    assert get_sale(db, sale_id).lines[0].returned_qty == 1


def test_every_screen_declares_its_tab_order_and_tab_follows_it(qtbot, db, window):
    followed = []
    for name, _root in _every_screen(qtbot, db, window):
        screen = window.screens[window.current]
        chain = screen.tab_chain() if hasattr(screen, "tab_chain") else None
        assert chain, f"{name}: no explicit Tab order"
        if name == "login":  # before the keys of the login go in
            chain = [window.login.code, window.login.pin, window.login.login_button]
        problems = follow_tab(qtbot, chain)
        assert problems == [], f"{name}: {problems}"
        followed.append(name)
        window.screens[window.current].setFocus()
        if name == "sale":
            window.sale.focus_first_line()
        elif name == "refund":
            window.refund.card_field.setFocus()
        elif name in ("lookup", "lookup-results"):
            window.lookup.focus_input()
    assert followed == ["login", "lookup", "lookup-results", "sale", "refund", "done"]
