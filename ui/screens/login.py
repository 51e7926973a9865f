"""Login and lock screen: staff code (typed or badge scanned) + PIN.

Locked mode keeps the logged-in person's code filled in: they type their PIN to
resume where they were; anyone else clears the code (or scans their badge) and
logs in, which switches user without closing the app.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from pos_returns.engine.domain import Staff
from pos_returns.errors import AlamaraError
from pos_returns.i18n import _
from pos_returns.usecases import till as tasks
from pos_returns.usecases.staff import set_new_pin

from ..ops import error_message
from ..services import Services
from ..widgets.common import Banner, action_button, card, label


class LoginScreen(QWidget):
    logged_in = Signal(object)  # Staff

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("screen")
        self.locked_staff: Staff | None = None
        self._busy = False

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        box = card()
        box.setMinimumWidth(560)
        box.setMaximumWidth(640)
        form = QVBoxLayout(box)
        form.setContentsMargins(40, 32, 40, 32)
        form.setSpacing(14)
        self._build_titles(form)
        self._build_code_field(form)
        self._build_pin_fields(form)
        self.banner = Banner()
        form.addWidget(self.banner)
        self._build_buttons(form)
        row.addWidget(box)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def _build_titles(self, form: QVBoxLayout) -> None:
        self.title = label(_("Log in"), name="title")
        self.subtitle = label(
            _("Scan your badge or type your staff code, then your PIN."), name="subtitle",
            wrap=True,
        )
        form.addWidget(self.title)
        form.addWidget(self.subtitle)

    def _build_code_field(self, form: QVBoxLayout) -> None:
        code_label = label(_("Staff code or badge"), name="sectionTitle")
        form.addWidget(code_label)
        self.code = QLineEdit()
        code_label.setBuddy(self.code)
        self.code.setAccessibleName(_("Staff code or badge"))
        self.code.setObjectName("codeField")
        self.code.setPlaceholderText(_("e.g. V001"))
        self.code.setMaxLength(32)
        self.code.returnPressed.connect(self._code_entered)
        form.addWidget(self.code)

    def _build_pin_fields(self, form: QVBoxLayout) -> None:
        pin_label = label(_("PIN"), name="sectionTitle")
        form.addWidget(pin_label)
        self.pin = QLineEdit()
        pin_label.setBuddy(self.pin)
        self.pin.setAccessibleName(_("PIN"))
        self.pin.setObjectName("pinField")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(8)
        self.pin.setPlaceholderText("••••")
        self.pin.returnPressed.connect(self.submit)
        form.addWidget(self.pin)
        # After a manager reset the PIN: the new PIN typed twice (usecases.staff).
        self.pin_again_label = label(_("New PIN, again"), name="sectionTitle")
        self.pin_again = QLineEdit()
        self.pin_again.setObjectName("pinAgainField")
        self.pin_again.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin_again.setMaxLength(8)
        self.pin_again.returnPressed.connect(self.submit)
        form.addWidget(self.pin_again_label)
        form.addWidget(self.pin_again)
        self.pin_again_label.hide()
        self.pin_again.hide()
        self.new_pin_mode = False

    def _build_buttons(self, form: QVBoxLayout) -> None:
        buttons = QHBoxLayout()
        self.switch_button = action_button(_("Another person"), shortcut="F11")
        self.switch_button.clicked.connect(self.switch_user)
        self.switch_button.hide()
        buttons.addWidget(self.switch_button)
        buttons.addStretch(1)
        self.login_button = action_button(_("Log in"), role="primary")
        self.login_button.setDefault(False)
        self.login_button.clicked.connect(self.submit)
        self.login_button.setMinimumWidth(220)
        buttons.addWidget(self.login_button)
        form.addSpacing(6)
        form.addLayout(buttons)

    # -- modes ------------------------------------------------------------------------------
    def set_new_pin_mode(self, on: bool) -> None:
        self.new_pin_mode = on
        self.pin_again_label.setVisible(on)
        self.pin_again.setVisible(on)
        self.pin_again.clear()

    def tab_chain(self) -> list[QWidget]:
        """The explicit Tab order: code, PIN (and the new PIN again), log in, another person."""
        return [self.code, self.pin, self.pin_again, self.login_button, self.switch_button]

    def show_login(self) -> None:
        self.set_new_pin_mode(False)
        self.locked_staff = None
        self.title.setText(_("Log in"))
        self.subtitle.setText(_("Scan your badge or type your staff code, then your PIN."))
        self.code.clear()
        self.code.setReadOnly(False)
        self.pin.clear()
        self.banner.clear_message()
        self.switch_button.hide()
        self.code.setFocus()

    def show_locked(self, staff: Staff) -> None:
        self.locked_staff = staff
        self.title.setText(_("Till locked"))
        self.subtitle.setText(
            _("{name}, type your PIN to resume. Someone else? Press F11 or scan your badge.")
            .format(name=staff.name)
        )
        self.code.setText(staff.code)
        self.pin.clear()
        self.banner.clear_message()
        self.switch_button.show()
        self.pin.setFocus()

    def switch_user(self) -> None:
        self.code.clear()
        self.pin.clear()
        self.banner.clear_message()
        self.code.setFocus()

    def focus_input(self) -> None:
        (self.pin if self.code.text().strip() else self.code).setFocus()

    # -- actions ----------------------------------------------------------------------------
    def _code_entered(self) -> None:
        if self.code.text().strip():
            self.pin.setFocus()
            self.pin.selectAll()

    def submit(self) -> None:
        code = self.code.text().strip()
        pin = self.pin.text()
        if not code:
            self.banner.show_message(_("Type your staff code or scan your badge."))
            self.code.setFocus()
            return
        if not pin:
            self.banner.show_message(_("Type your PIN."))
            self.pin.setFocus()
            return
        if self._busy:
            return
        self._busy = True
        self.login_button.setEnabled(False)
        if self.new_pin_mode:
            (self.services.ops.op(set_new_pin, self.services.cfg, code, pin,
                                  self.pin_again.text())
             .success(self._on_success).failure(self._on_failure).run())
            return
        (
            self.services.ops.op(tasks.login, self.services.cfg, code, pin)
            .success(self._on_success)
            .failure(self._on_failure)
            .run()
        )

    def _on_success(self, staff: Staff) -> None:
        self.set_new_pin_mode(False)
        self._busy = False
        self.login_button.setEnabled(True)
        self.pin.clear()
        self.banner.clear_message()
        self.logged_in.emit(staff)

    def _on_failure(self, exc: BaseException) -> None:
        self._busy = False
        self.login_button.setEnabled(True)
        self.banner.show_message(error_message(exc), "info" if getattr(
            exc, "code", "") == "pin_reset" else "error")
        self.pin.clear()
        self.pin_again.clear()
        if isinstance(exc, AlamaraError) and exc.code == "pin_reset":
            self.set_new_pin_mode(True)
        if isinstance(exc, AlamaraError) and exc.code == "staff":
            self.code.setFocus()
            self.code.selectAll()
        else:
            self.pin.setFocus()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.locked_staff is None:
            self.show_login()
            return
        super().keyPressEvent(event)
