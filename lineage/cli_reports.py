"""`lineage report KIND`: every report of the table (reports.registry.REPORTS) as JSON, CSV, HTML or PDF."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from config import Settings
from graph.store import GraphStore
from lineage.cli_common import EXIT_OK, UsageError, iso, region, with_store
from lineage.wiring import load_configured_policy, open_configured_store, pseudonymizer
from reports.formats import FORMATS, ReportFormatError, render
from reports.registry import REPORTS, ReportKind, ReportRequest
from schemas.policy import Organisation, Policy
from schemas.reports import Report


def _controller(args: argparse.Namespace, policy: Policy) -> Organisation | None:
    if not (args.controller_contact or args.dpo):
        return None
    return Organisation(name=policy.controller.name, contact=args.controller_contact, dpo=args.dpo)


def _bind_if_written(store: GraphStore, fingerprint: str) -> None:
    # A store written by the handler already holds its key's fingerprint, so binding only checks it; an empty
    # store is left untouched (a report never writes), and has nothing to find anyway.
    if store.has_events():
        store.bind_key(fingerprint)


def _build(args: argparse.Namespace, settings: Settings) -> Report:
    kind: ReportKind[Report] = REPORTS[args.report]
    policy = load_configured_policy(settings)
    with open_configured_store(settings, existing=True) as store:
        key = pseudonymizer(settings, create=False) if kind.per_person else None
        if key is not None:
            _bind_if_written(store, key.fingerprint)
        subject = getattr(args, "subject", None)
        request = ReportRequest(
            store, policy, subject, key, args.since, args.until, args.region, _controller(args, policy), args.annex
        )
        return kind.build(request)


def cmd_report(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    if args.table and args.format != "csv":
        raise UsageError("--table is for --format csv")
    binary_stdout = None
    if args.format == "pdf" and not args.output:
        if out.isatty():
            raise UsageError("a PDF is binary: give --output FILE, or redirect standard output to a file")
        binary_stdout = getattr(out, "buffer", None)
        if binary_stdout is None:
            raise UsageError("a PDF is binary and this output takes text: give --output FILE")
    report = _build(args, settings)
    try:
        body = render(report, args.format, args.table)
    except ReportFormatError as exc:
        raise UsageError(str(exc)) from None
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


def _add(kinds: argparse._SubParsersAction[argparse.ArgumentParser], kind: ReportKind[Report]) -> None:
    sp = kinds.add_parser(kind.name, help=kind.title)
    if kind.per_person:
        sp.add_argument("subject", metavar="SUBJECT_ID", help="the person's id, as the events carry it")
    with_store(sp)
    sp.add_argument("--format", choices=FORMATS, default="json", help="output format")
    sp.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE (required for pdf when standard output is a terminal)"
    )
    tables = ", ".join(kind.table_names)
    sp.add_argument(
        "--table",
        metavar="TABLE",
        choices=kind.table_names,
        help=f"the table to write with --format csv: {tables} (default: the first)",
    )
    sp.add_argument("--controller-contact", help="the controller's contact details, when the policy states none")
    sp.add_argument("--dpo", help="the data-protection officer's contact, when the policy states none")
    if kind.period:
        sp.add_argument("--since", type=iso, metavar="WHEN", help="start of the period (ISO 8601, inclusive)")
        sp.add_argument("--until", type=iso, metavar="WHEN", help="end of the period (ISO 8601, exclusive)")
    else:
        sp.set_defaults(since=None, until=None)
    if kind.region:
        sp.add_argument("--region", type=region, help="the person's region: country codes and/or EEA, e.g. 'EEA,CH'")
    else:
        sp.set_defaults(region=None)
    if kind.annex:
        sp.add_argument(
            "--annex",
            action="store_true",
            help="add the annex of evidence (event ids) to the HTML or PDF letter (JSON and CSV always carry them)",
        )
    else:
        sp.set_defaults(annex=False)
    sp.set_defaults(func=cmd_report)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage report KIND` for every kind of the report table."""
    rep = sub.add_parser("report", help="disclosure reports: " + ", ".join(REPORTS))
    kinds = rep.add_subparsers(dest="report", required=True, metavar="REPORT")
    for kind in REPORTS.values():
        _add(kinds, kind)
