"""The PySide6 layer of Alamara Retours: app shell, screens, dialogs, widgets, ops.

The core (:mod:`pos_returns`) decides; the UI asks it (through :mod:`ui.ops`, off
the UI thread) and renders its answers.
"""
