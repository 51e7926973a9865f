"""The core never imports PySide6 (nor the ui package): checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import importlib, json, pkgutil, sys
import pos_returns
names = ["pos_returns"]
for info in pkgutil.walk_packages(pos_returns.__path__, "pos_returns."):
    names.append(info.name)
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:  # reported, so a broken module cannot hide a Qt import
        failed[name] = repr(exc)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "ui"))
print(json.dumps({"modules": names, "failed": failed, "qt": qt}))
"""


def test_importing_every_core_module_loads_no_pyside6():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"pos_returns.cache.db", "pos_returns.cache.lookup", "pos_returns.demo.chain",
            "pos_returns.engine.codes", "pos_returns.commands.demo"} <= set(result["modules"])
    assert result["failed"] == {}
    assert result["qt"] == []
