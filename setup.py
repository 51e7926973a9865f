"""Build step of the wheel: the compiled catalogues and the resources go inside the
package (``pos_returns/data/``), so that ``pip install`` of the wheel gives a till
that speaks French and finds its style sheet. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # a checkout finds locales/ and resources/ at its top
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        target = Path(self.build_lib) / "pos_returns" / "data"
        for po in sorted((ROOT / "locales").glob("*/LC_MESSAGES/*.po")):
            lang = po.parent.parent.name
            out = target / "locales" / lang / "LC_MESSAGES" / po.with_suffix(".mo").name
            out.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            with out.open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
        shutil.copytree(ROOT / "resources", target / "resources", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithData})
