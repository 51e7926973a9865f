#!/usr/bin/env python3
"""Translation catalogue tool (babel's message API; no gettext binaries needed).

    python tools/i18n.py extract            # sources -> pos_returns.pot -> fr/en .po
    python tools/i18n.py compile            # .po -> .mo (built by `make run` / `make test`)
    python tools/i18n.py check              # list French messages that are missing or fuzzy
    python tools/i18n.py translate F.json   # French msgstr from {"msgid": "msgstr"}
                                            # (with a context, the key is "ctx\\x04id")

Concurrent writers are serialised with a lock file.
"""

from __future__ import annotations

import fcntl
import json
import re
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PLACEHOLDER = re.compile(r"\{[a-zA-Z_][a-zA-Z0-9_]*(?:![rs])?(?::[^}]*)?\}")
ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
DOMAIN = "pos_returns"
POT = LOCALES / f"{DOMAIN}.pot"
LANGS = ("fr", "en")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
SOURCES = ("pos_returns", "ui")


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@contextmanager
def locked():
    LOCALES.mkdir(parents=True, exist_ok=True)
    with open(LOCALES / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        # Sorted by msgid and without source locations: a message moved in the code
        # changes nothing, and branches that add messages merge without conflicts.
        write_po(fh, catalog, width=100, sort_output=True, omit_header=False,
                 include_previous=False, no_location=True)


def extract_template() -> Catalog:
    """The messages of the sources as they are now (nothing written)."""
    # A fixed creation date: re-extracting on two branches must not conflict on it.
    template = Catalog(project="Alamara Retours", version="0.1", charset="utf-8",
                       msgid_bugs_address="", creation_date=FIXED_DATE)
    for src in SOURCES:
        base = ROOT / src
        if not base.exists():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            str(base), method_map=[("**.py", "python")], keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",), strip_comment_tags=True,
        ):
            template.add(message, None, [(f"{src}/{filename}", lineno)],
                         auto_comments=comments, context=context)
    return template


def extract() -> None:
    with locked():
        template = extract_template()
        _write(POT, template)
        for lang in LANGS:
            path = po_path(lang)
            if path.exists():
                catalog = _read(path, lang)
            else:
                catalog = Catalog(locale=lang, project="Alamara Retours", charset="utf-8")
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            catalog.fuzzy = False
            catalog.project = "Alamara Retours"
            catalog.version = "0.1"
            _write(path, catalog)
    print(f"{len(template)} messages in {POT.relative_to(ROOT)}")


def compile_all() -> None:
    for lang in LANGS:
        path = po_path(lang)
        if not path.exists():
            continue
        catalog = _read(path, lang)
        with path.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)


def problems(lang: str = "fr", template: Catalog | None = None) -> list[str]:
    """Messages of the template (default: the committed .pot) that are missing,
    empty or fuzzy in ``lang``, or whose placeholders differ from the msgid's."""
    catalog = _read(po_path(lang), lang)
    template = template if template is not None else _read(POT)
    out = []
    for msg in template:
        if not msg.id:
            continue
        tr = catalog.get(msg.id, context=msg.context)
        label = msg.id if isinstance(msg.id, str) else msg.id[0]
        if tr is None:
            out.append(f"missing: {label}")
        elif tr.fuzzy:
            out.append(f"fuzzy: {label}")
        elif isinstance(tr.string, tuple | list):
            if not all(tr.string):
                out.append(f"untranslated plural: {label}")
        elif not tr.string:
            out.append(f"untranslated: {label}")
        else:
            strings = tr.string if isinstance(tr.string, tuple | list) else (tr.string,)
            want = set(PLACEHOLDER.findall(label))
            for text in strings:
                if set(PLACEHOLDER.findall(text)) != want:
                    out.append(f"placeholders differ: {label}")
                    break
    return out


def translate(json_path: str) -> None:
    data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    with locked():
        path = po_path("fr")
        catalog = _read(path, "fr")
        changed = 0
        for key, value in data.items():
            ctx, _, msgid = key.rpartition("\x04")
            msg = catalog.get(msgid, context=ctx or None)
            if msg is None:
                # Plural messages are looked up by their singular id.
                continue
            msg.string = tuple(value) if isinstance(value, list) else value
            msg.flags.discard("fuzzy")
            changed += 1
        _write(path, catalog)
    print(f"{changed} French messages set")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd = argv[0]
    if cmd == "extract":
        extract()
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        bad = problems("fr", extract_template())
        for line in bad:
            print(line)
        print(f"{len(bad)} French messages missing or fuzzy")
        return 1 if bad else 0
    elif cmd == "translate":
        translate(argv[1])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
