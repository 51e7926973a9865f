"""Alamara Retours: the core of the in-store returns and exchanges till.

This package never imports PySide6 nor the ``ui`` package: every rule, every
lookup and every document can be used from the CLI and from tests without a
window.
"""

__version__ = "0.2.0"
