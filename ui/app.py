"""Build the till application: QApplication in French (our gettext catalogue and
Qt's own ``qtbase_fr.qm``), the style sheet, the database worker, the main window.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QDir, QEventLoop, QLibraryInfo, QLocale, QTranslator
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication

from pos_returns.config import TillConfig
from pos_returns.i18n import set_language
from pos_returns.usecases.support import start_logging

from .ops import Executor, Ops, ThreadExecutor
from .services import Services
from .widgets.common import RESOURCES

log = logging.getLogger(__name__)

_QT_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def install_translations(app: QApplication, language: str) -> list[QTranslator]:
    """Our catalogue (gettext) and Qt's own (standard buttons say « Annuler »)."""
    set_language(language)
    QLocale.setDefault(QLocale(_QT_LOCALES.get(language, "fr_FR")))
    installed: list[QTranslator] = []
    if language != "en":
        folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
        for name in ("qtbase", "qt"):
            translator = QTranslator(app)
            if translator.load(f"{name}_{language}", folder):
                app.installTranslator(translator)
                installed.append(translator)
                break
    app._alamara_translators = installed  # keep them alive with the app
    return installed


def style_sheet() -> str:
    # Images in the style sheet are named "alamara:icons/…" (a Qt search path).
    QDir.addSearchPath("alamara", str(RESOURCES))
    return (RESOURCES / "style.qss").read_text(encoding="utf-8")


def create_application(cfg: TillConfig, argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(
        argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Alamara Retours")
    app.setOrganizationName("Alamara")
    app.setWindowIcon(QIcon(str(RESOURCES / "logo.svg")))
    font = QFont("DejaVu Sans")
    font.setPointSize(15)
    app.setFont(font)
    install_translations(app, cfg.language)
    app.setStyleSheet(style_sheet())
    return app


def build_window(cfg: TillConfig, *, executor: Executor | None = None):
    """The main window on the cache of ``cfg`` (a worker thread unless ``executor``)."""
    from .window import MainWindow

    ops = Ops(executor or ThreadExecutor(Path(cfg.cache_path)))
    app = QApplication.instance()
    if executor is None and app is not None:  # the worker thread must end before Qt does
        app.aboutToQuit.connect(ops.shutdown)
    services = Services(cfg, ops)
    return MainWindow(services)


def run(cfg: TillConfig) -> int:
    log_path = start_logging()  # rotating, without personal data (pos_returns.logs)
    log.info("till starting (store %s, till %s, log %s)",
                                 cfg.store_id, cfg.till_no, log_path)
    app = create_application(cfg)
    window = build_window(cfg)
    window.showMaximized()
    try:
        return app.exec()
    finally:
        window.services.ops.shutdown()


_PUMP: list[QEventLoop] = []


def process_events() -> None:
    """Handle pending events now (screenshots, bench).

    Goes through a ``QEventLoop``: PySide6 6.12's static
    ``QCoreApplication.processEvents()`` drops a reference to ``None`` at every call,
    which crashes the interpreter after some thousands of calls.
    """
    if not _PUMP:
        _PUMP.append(QEventLoop())
    _PUMP[0].processEvents()
