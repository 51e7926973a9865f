"""``pos-returns keys``: the till's keys, created once, backed up encrypted, restored.

    pos-returns keys init [--config PATH]
    pos-returns keys backup --out FILE [--config PATH]
    pos-returns keys restore FILE [--config PATH]
    pos-returns keys export-chain --out FILE [--config PATH]
    pos-returns keys import-chain FILE [--config PATH]

The chain's secrets (the ID-hash key and the PIN pepper) are the same at every till:
export them from a till of the chain, import them on a new till before
``keys init``.

The passphrase of a backup is asked twice on the terminal, or read from the
environment variable ``POS_RETURNS_KEYS_PASSPHRASE`` (scripts). See
docs/security.md.
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from pos_returns.cli import add_common, config_from
from pos_returns.commands import ask_secret
from pos_returns.errors import InvalidInput
from pos_returns.i18n import _
from pos_returns.journal.keys import format_fingerprint
from pos_returns.journal.keyset import (
    backup_keys,
    export_chain,
    import_chain,
    init_keys,
    key_files,
    restore_keys,
)
from pos_returns.journal.pins import PEPPER_FILE, read_pepper

PASSPHRASE_ENV = "POS_RETURNS_KEYS_PASSPHRASE"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("keys", help=_("create, back up and restore the till's keys"))
    ksub = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    init = ksub.add_parser("init", help=_("create the till's keys, once"))
    add_common(init)
    init.set_defaults(func=run_init)
    backup = ksub.add_parser("backup", help=_("write an encrypted backup of the till's keys"))
    add_common(backup)
    backup.add_argument("--out", required=True, metavar="FILE",
                        help=_("the backup file to write"))
    backup.set_defaults(func=run_backup)
    restore = ksub.add_parser("restore", help=_("bring the till's keys back from a backup"))
    add_common(restore)
    restore.add_argument("file", metavar="FILE", help=_("the backup file"))
    restore.set_defaults(func=run_restore)
    export = ksub.add_parser("export-chain",
                             help=_("write the chain's secrets, encrypted, for another till"))
    add_common(export)
    export.add_argument("--out", required=True, metavar="FILE", help=_("the file to write"))
    export.set_defaults(func=run_export_chain)
    imp = ksub.add_parser("import-chain", help=_("install the chain's secrets on this till"))
    add_common(imp)
    imp.add_argument("file", metavar="FILE", help=_("the file written by export-chain"))
    imp.set_defaults(func=run_import_chain)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _passphrase(*, twice: bool) -> str:
    first = ask_secret(
        PASSPHRASE_ENV, _("Backup passphrase: "),
        _("Type the backup passphrase on the till's terminal, or set it in the "
          "environment variable {name}.").format(name=PASSPHRASE_ENV), code="passphrase")
    if twice and not os.environ.get(PASSPHRASE_ENV) \
            and getpass.getpass(_("The same passphrase again: ")) != first:
        raise InvalidInput(_("The two passphrases differ."), code="passphrase")
    return first


def run_init(args: argparse.Namespace) -> int:
    keyset = init_keys(config_from(args))
    print(_("The till's keys were created in {folder}.").format(folder=keyset.folder))
    print(_("Journal key fingerprint: {fingerprint}").format(
        fingerprint=format_fingerprint(keyset.fingerprint)))
    _print_pepper(keyset.folder)
    print(_("Back them up now: pos-returns keys backup --out FILE"))
    return 0


def _print_pepper(folder: Path) -> None:
    pepper = read_pepper(folder / PEPPER_FILE)
    print(_("Chain's PIN secret: {id} (the same at every till of the chain)").format(
        id=pepper.id))


def run_export_chain(args: argparse.Namespace) -> int:
    out = export_chain(config_from(args), args.out, _passphrase(twice=True))
    print(_("The chain's secrets were written, encrypted, to {path}.").format(path=out))
    return 0


def run_import_chain(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    written = import_chain(cfg, args.file, _passphrase(twice=False))
    folder = key_files(cfg)["pin_pepper"].parent
    if written:
        print(_("The chain's secrets were installed in {folder}.").format(folder=folder))
    else:
        print(_("This till already holds the chain's secrets."))
    _print_pepper(folder)
    return 0


def run_backup(args: argparse.Namespace) -> int:
    out = backup_keys(config_from(args), args.out, _passphrase(twice=True))
    print(_("The till's keys were backed up, encrypted, to {path}.").format(path=out))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    keyset = restore_keys(config_from(args), args.file, _passphrase(twice=False))
    print(_("The till's keys were restored in {folder}.").format(folder=keyset.folder))
    print(_("Journal key fingerprint: {fingerprint}").format(
        fingerprint=format_fingerprint(keyset.fingerprint)))
    return 0
