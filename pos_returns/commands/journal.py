"""``pos-returns journal``: the fiscal journal from the command line.

    pos-returns journal verify [--full] [--db PATH]
    pos-returns journal export --year YYYY --out DIR [--db PATH]
    pos-returns journal close (--day YYYY-MM-DD | --month YYYY-MM | --year YYYY)
                              [--manager CODE] [--db PATH]
    pos-returns journal guards [--repair [--manager CODE]] [--db PATH]
    pos-returns journal head [--db PATH]
    pos-returns journal accept-head --manager CODE --note TEXT [--db PATH]

``verify`` exits 0 when every chain holds and 1 when one does not, naming the
first broken record. ``export`` writes the yearly archive (CSV, JSON schema,
detached signature, public key) and journals it. ``close`` closes a day, a month
or a year (period totals and the perpetual grand total). ``guards`` compares the
fiscal tables' triggers, indexes and views with what the migrations create (exit 1
on a difference: returns are blocked) and, with ``--repair``, puts them back,
journaled (``guards_repair``). ``verify`` also checks the cache against the heads
kept beside the till's keys (its own head after each commit, the head HQ anchored);
``accept-head`` is a manager's recovery when those block returns and the lost cache
cannot be put back (docs/security.md): the manager's PIN is asked on the terminal
(or read from ``POS_RETURNS_MANAGER_PIN``).
"""

from __future__ import annotations

import argparse
import sys

from pos_returns.cache import guards
from pos_returns.cache.db import atomic, connect
from pos_returns.cli import add_common, config_from, whole_number
from pos_returns.commands import ask_secret
from pos_returns.commands.report import command_manager
from pos_returns.errors import InvalidInput, NotFound
from pos_returns.i18n import _, format_money, ngettext
from pos_returns.journal.anchor import integrity_block
from pos_returns.journal.archive import export_year
from pos_returns.journal.chain import Journal, closures, pin_for_config
from pos_returns.journal.keys import fingerprint_of, format_fingerprint, read_public
from pos_returns.journal.verify import Pin, verify
from pos_returns.usecases.recovery import accept_cache_head
from pos_returns.usecases.reports import export_z_report
from pos_returns.usecases.review import after_closure, parse_day


def register(sub: argparse._SubParsersAction) -> None:

    parser = sub.add_parser("journal", help=_("verify, close and archive the fiscal journal"))
    jsub = parser.add_subparsers(dest="journal_command", metavar="ACTION")

    verify = jsub.add_parser(
        "verify", help=_("verify the signed chain; name the first broken record")
    )
    add_common(verify)
    verify.add_argument(
        "--full", action="store_true",
        help=_("check every record's signature, not only the chain's links and head"),
    )
    verify.add_argument(
        "--pub", metavar="FILE",
        help=_("the pinned public key to verify with (default: the .pub beside the till's key)"),
    )
    verify.set_defaults(func=run_verify)

    export = jsub.add_parser("export", help=_("write the yearly archive (CSV, schema, signature)"))
    add_common(export)
    export.add_argument("--year", type=whole_number(minimum=1970, maximum=9999),
                        required=True, metavar="YYYY")
    export.add_argument("--out", required=True, metavar="DIR",
                        help=_("the folder to write the archive into"))
    export.set_defaults(func=run_export)

    close = jsub.add_parser("close", help=_("close a day, a month or a year"))
    add_common(close)
    group = close.add_mutually_exclusive_group(required=True)
    group.add_argument("--day", metavar="YYYY-MM-DD")
    group.add_argument("--month", metavar="YYYY-MM")
    group.add_argument("--year", type=whole_number(minimum=1970, maximum=9999), metavar="YYYY")
    close.add_argument("--manager", metavar="CODE",
                       help=_("the manager who closes (staff code)"))
    close.add_argument("--out", metavar="DIR",
                       help=_("also write each closure's Z report (PDF) into this folder"))
    close.set_defaults(func=run_close)

    guards_cmd = jsub.add_parser(
        "guards", help=_("compare the fiscal tables' guards with what the till creates"))
    add_common(guards_cmd)
    guards_cmd.add_argument(
        "--repair", action="store_true",
        help=_("put the guards back as the till creates them (journaled)"))
    guards_cmd.add_argument("--manager", metavar="CODE",
                            help=_("the manager who repairs (staff code)"))
    guards_cmd.set_defaults(func=run_guards)

    head = jsub.add_parser("head", help=_("print each chain's head (sequence and signature)"))
    add_common(head)
    head.set_defaults(func=run_head)

    accept = jsub.add_parser(
        "accept-head",
        help=_("a manager accepts the cache as it is when the heads kept beside the keys "
               "block returns (journaled)"))
    add_common(accept)
    accept.add_argument("--manager", required=True, metavar="CODE",
                        help=_("the manager who accepts (staff code)"))
    accept.add_argument("--note", required=True, metavar="TEXT",
                        help=_("why the cache is accepted as it is (journaled)"))
    accept.set_defaults(func=run_accept_head)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]

    cfg = config_from(args)
    db = connect(cfg.cache_path, create=False)
    if not db["journal"].exists():
        raise NotFound(
            _("The cache {path} has no fiscal journal.").format(path=cfg.cache_path),
            code="journal",
        )
    return cfg, db


def run_verify(args: argparse.Namespace) -> int:

    cfg, db = _open(args)
    if getattr(args, "pub", None):
        pinned = read_public(args.pub)
        pin: Pin | None = Pin(cfg.store_id, cfg.till_no, pinned.public_hex, pinned.key_id)
    else:
        pin = pin_for_config(cfg)
    try:
        report = verify(db, full=bool(args.full), pinned=pin)
        block = None
        if report.ok and not getattr(args, "pub", None) and pin is not None:
            block = integrity_block(db, cfg.key_path, cfg.store_id, cfg.till_no)
    finally:
        db.close()
    if block is not None:
        print(block.message, file=sys.stderr)
        return 1
    if report.ok:
        print(report.summary())
        print(_("{rate} records/s").format(rate=round(report.records_per_second)))
        if pin is None:
            print(_("No pinned public key beside the till's key files: the keys found in the "
                    "cache were trusted. Verify with --pub FILE."))
        else:
            print(_("Pinned key fingerprint: {fingerprint}").format(
                fingerprint=format_fingerprint(fingerprint_of(bytes.fromhex(pin.public_hex)))))
        return 0
    print(report.summary(), file=sys.stderr)
    return 1


def run_export(args: argparse.Namespace) -> int:

    cfg, db = _open(args)
    try:
        journal = Journal.for_config(db, cfg)
        result = export_year(db, args.year, args.out, signer=journal.signer, journal=journal)
    finally:
        db.close()
    for path in (result.csv_path, result.schema_path, result.signature_path,
                 result.public_key_path):
        print(path)
    print(
        ngettext(
            "{count} record archived for {year}.",
            "{count} records archived for {year}.",
            result.records,
        ).format(count=result.records, year=args.year)
    )
    return 0


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month), with a French message for anything else."""
    parts = text.strip().split("-")
    if (len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts)
            and len(parts[0]) == 4 and 1 <= int(parts[1]) <= 12):
        return int(parts[0]), int(parts[1])
    raise InvalidInput(
        _("“{text}” is not a month (expected YYYY-MM, e.g. 2026-03).").format(text=text[:40]),
        code="period",
    )


def run_close(args: argparse.Namespace) -> int:

    cfg, db = _open(args)
    try:
        manager = command_manager(db, cfg.store_id, args.manager)
        journal = Journal.for_config(db, cfg)
        before = {(c["period_kind"], c["period"]) for c in closures(
            db, store_id=cfg.store_id, till_no=cfg.till_no)}
        if args.day:
            journal.close_day(parse_day(args.day), staff_id=manager.id)
        elif args.month:
            year, month = parse_month(args.month)
            journal.close_month(year, month, staff_id=manager.id)
        else:
            journal.close_year(int(args.year), staff_id=manager.id)
        after_closure(db, cfg)  # the RGPD purge runs at each closure
        made = [c for c in closures(db, store_id=cfg.store_id, till_no=cfg.till_no)
                if (c["period_kind"], c["period"]) not in before]
        made.sort(key=lambda c: c["journal_seq"])
        paths = [export_z_report(db, c, args.out) for c in made] if args.out else []
        fingerprint = journal.signer.fingerprint  # the pinned key, on every Z (issue 12)
    finally:
        db.close()
    for closure in made:  # the earlier open days first, then months and years that ended
        print(
            ngettext(
                "Closed {period}: {count} ticket, net {net}, grand total {grand_total} "
                "(record no. {seq}).",
                "Closed {period}: {count} tickets, net {net}, grand total {grand_total} "
                "(record no. {seq}).",
                closure["ticket_count"],
            ).format(
                period=closure["period"], count=closure["ticket_count"],
                net=format_money(closure["net"]),
                grand_total=format_money(closure["grand_total"]), seq=closure["journal_seq"],
            )
        )
    print(_("Journal key fingerprint: {fingerprint}").format(
        fingerprint=format_fingerprint(fingerprint)))
    for path in paths:
        print(path)
    return 0


def run_guards(args: argparse.Namespace) -> int:

    cfg, db = _open(args)
    try:
        differences = guards.schema_differences(db)
        if not differences:
            print(_("The guards of the fiscal tables are as the till creates them."))
            return 0
        for diff in differences:
            print(diff.describe())
        if not args.repair:
            print(_("Returns are blocked while the guards differ. Check the journal "
                    "(pos-returns journal verify), then repair them with --repair."),
                  file=sys.stderr)
            return 1
        manager = command_manager(db, cfg.store_id, args.manager)
        with atomic(db):
            repaired, left = guards.repair(db)
            Journal.for_config(db, cfg).append("guards_repair", {
                "staff_id": manager.id,
                "repaired": [f"{d.change} {d.type} {d.name} on {d.table}" for d in repaired],
                "left": [f"{d.change} {d.type} {d.name} on {d.table}" for d in left],
            })
    finally:
        db.close()
    print(ngettext("{count} guard put back as the till creates it (journaled).",
                   "{count} guards put back as the till creates them (journaled).",
                   len(repaired)).format(count=len(repaired)))
    if left:
        print(_("Cannot be repaired here (restore the cache from a backup or from HQ): "
                "{details}").format(details=guards.describe(left)), file=sys.stderr)
        return 1
    return 0


def run_head(args: argparse.Namespace) -> int:
    _cfg, db = _open(args)
    try:
        rows = db.execute(
            "SELECT store_id, till_no, seq, signature FROM journal_heads ORDER BY 1, 2"
        ).fetchall()
    finally:
        db.close()
    for store_id, till_no, seq, signature in rows:
        print(f"{store_id}\t{till_no}\t{seq}\t{signature}")
    return 0


MANAGER_PIN_ENV = "POS_RETURNS_MANAGER_PIN"


def _manager_pin() -> str:
    return ask_secret(
        MANAGER_PIN_ENV, _("Manager's PIN: "),
        _("Type the manager's PIN on the till's terminal, or set it in the environment "
          "variable {name}.").format(name=MANAGER_PIN_ENV), code="pin")


def run_accept_head(args: argparse.Namespace) -> int:
    cfg, db = _open(args)
    try:
        accepted = accept_cache_head(db, cfg, manager_code=args.manager, pin=_manager_pin(),
                                     note=args.note)
    finally:
        db.close()
    print(_("The cache was accepted as it is (record no. {record}): the till's head beside "
            "its keys is now record no. {seq}; the head it replaces was record no. {lost}.")
          .format(record=accepted.record_seq, seq=accepted.seq, lost=accepted.lost_seq))
    return 0
