"""`lineage report ...`: access, art19, ropa, ccpa and gaps reports as JSON, CSV, HTML or PDF."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from config import Settings
from graph.store import GraphStore
from lineage.wiring import load_configured_policy, open_configured_store, pseudonymizer
from reports.formats import FORMATS, ReportFormatError, render
from reports.vocab import EEA
from schemas.policy import Organisation, Policy
from schemas.reports import AnyReport

EXIT_OK, EXIT_USAGE = 0, 2

WithStore = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def _iso(text: str) -> Any:
    from lineage.cli import _iso as parse  # one date syntax for every command

    return parse(text)


def _region(text: str) -> frozenset[str]:
    codes: set[str] = set()
    for part in text.split(","):
        code = part.strip().upper()
        if code == "EEA":
            codes |= EEA
        elif len(code) == 2 and code.isalpha():
            codes.add(code)
        elif code:
            raise argparse.ArgumentTypeError(f"not a country code or 'EEA': {part.strip()!r}")
    return frozenset(codes)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(store=args.store, policy_file=Path(args.policy) if args.policy else None)


def _controller(args: argparse.Namespace, policy: Policy) -> Organisation | None:
    if not (args.controller_contact or args.dpo):
        return None
    return Organisation(name=policy.controller.name, contact=args.controller_contact, dpo=args.dpo)


def _bind_if_written(store: GraphStore, fingerprint: str) -> None:
    # A store written by the handler already holds its key's fingerprint, so binding only checks it; an empty
    # store is left untouched (a report never writes), and has nothing to find anyway.
    if store.has_events():
        store.bind_key(fingerprint)


def _build(args: argparse.Namespace) -> AnyReport:
    import reports.access as reports

    settings = _settings(args)
    policy = load_configured_policy(settings)
    controller = _controller(args, policy)
    with open_configured_store(settings) as store:
        if args.report in ("access", "art19"):
            key = pseudonymizer(settings)
            _bind_if_written(store, key.fingerprint)
            if args.report == "access":
                return reports.access_report(
                    store, key, policy, args.subject, args.since, args.until, region=args.region, controller=controller
                )
            return reports.art19_report(store, key, args.subject, policy, controller=controller)
        if args.report == "ropa":
            return reports.ropa_report(store, policy, args.since, args.until, controller=controller)
        if args.report == "ccpa":
            return reports.ccpa_report(store, policy, args.since, args.until, controller=controller)
        return reports.gaps_report(store, policy, args.since, args.until, controller=controller)


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.since and args.until and args.since >= args.until:
        err.write("lineage: --since must be before --until\n")
        return EXIT_USAGE
    if args.table and args.format != "csv":
        err.write("lineage: --table is for --format csv\n")
        return EXIT_USAGE
    binary_stdout = None
    if args.format == "pdf" and not args.output:
        if out.isatty():
            err.write("lineage: a PDF is binary: give --output FILE, or redirect standard output to a file\n")
            return EXIT_USAGE
        binary_stdout = getattr(out, "buffer", None)
        if binary_stdout is None:
            err.write("lineage: a PDF is binary and this output takes text: give --output FILE\n")
            return EXIT_USAGE
    report = _build(args)
    try:
        body = render(report, args.format, args.table)
    except ReportFormatError as exc:
        err.write(f"lineage: {exc}\n")
        return EXIT_USAGE
    if args.output:
        path = Path(args.output)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8", newline="")
        err.write(f"wrote the {report.kind} report ({args.format}) to {path}\n")
    elif isinstance(body, bytes):
        assert binary_stdout is not None
        out.flush()
        binary_stdout.write(body)
        binary_stdout.flush()
    else:
        out.write(body)
    return EXIT_OK


def register(subparsers: Any, with_store: WithStore) -> None:
    """Add `lineage report {access,art19,ropa,ccpa,gaps}` to the CLI's subparsers."""
    rep = subparsers.add_parser(
        "report", help="disclosure reports: access (Art. 15), art19, ropa (Art. 30), ccpa, gaps (declared vs observed)"
    )
    kinds = rep.add_subparsers(dest="report", required=True, metavar="REPORT")

    def common(sp: argparse.ArgumentParser, period: bool, tables: str) -> None:
        with_store(sp)
        sp.add_argument("--format", choices=FORMATS, default="json", help="output format (default: json)")
        sp.add_argument("--output", "-o", help="write to FILE (required for pdf when standard output is a terminal)")
        sp.add_argument("--table", help=f"the table to write with --format csv: {tables} (default: the first)")
        sp.add_argument("--controller-contact", help="the controller's contact details, when the policy states none")
        sp.add_argument("--dpo", help="the data-protection officer's contact, when the policy states none")
        if period:
            sp.add_argument("--since", type=_iso, help="start of the period (ISO 8601, inclusive)")
            sp.add_argument("--until", type=_iso, help="end of the period (ISO 8601, exclusive)")
        else:
            sp.set_defaults(since=None, until=None)
        sp.set_defaults(func=cmd_report, region=None)

    sp = kinds.add_parser("access", help="GDPR Art. 15 / CCPA right-to-know report for one person")
    sp.add_argument("subject", metavar="SUBJECT_ID")
    common(sp, True, "recipients, categories, sources")
    sp.add_argument("--region", type=_region, help="the person's region: country codes and/or EEA, e.g. 'EEA,CH'")

    sp = kinds.add_parser("art19", help="GDPR Art. 19: recipients to notify of a rectification, erasure or restriction")
    sp.add_argument("subject", metavar="SUBJECT_ID")
    common(sp, False, "recipients")

    common(kinds.add_parser("ropa", help="GDPR Art. 30 record of processing activities, with declared vs observed"),
           True, "activities, undeclared, unexercised")
    common(kinds.add_parser("ccpa", help="CCPA disclosures (default: the preceding 12 months)"),
           True, "collected, sold_or_shared, business_purpose")
    common(kinds.add_parser("gaps", help="declared vs observed: unexercised declarations and undeclared flows"),
           True, "undeclared, unexercised")
