"""`lineage report KIND`: every report of the table (reports.registry.REPORTS) as JSON, CSV, HTML or PDF."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TextIO

from config import Settings
from graph.aggregate_reads import cut_parts, evidence
from graph.store import GraphStore
from lineage.audit_actions import report_action
from lineage.cli_audit import add_actor, record_lookup
from lineage.cli_common import EXIT_OK, UsageError, iso, region, with_store
from lineage.progress import Progress
from lineage.wiring import load_configured_policy, load_configured_registry, open_configured_store, pseudonymizer
from reports.evidence import annex as build_annex
from reports.evidence import evidence_format, write_evidence
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


def _build(
    args: argparse.Namespace, settings: Settings, progress: Progress
) -> tuple[Report, dict[str, list[str]] | None]:
    """The report, and the annex of its evidence when asked for; its evidence file written when asked for."""
    kind: ReportKind[Report] = REPORTS[args.report]
    policy = load_configured_policy(settings)
    with open_configured_store(settings, existing=True) as store:
        key = pseudonymizer(settings, create=False) if kind.per_person else None
        if key is not None:
            _bind_if_written(store, key.fingerprint)
        subject = getattr(args, "subject", None)
        request = ReportRequest(
            store,
            policy,
            subject,
            key,
            args.since,
            args.until,
            args.region,
            _controller(args, policy),
            args.annex,
            registry=load_configured_registry(settings),
        )
        cut = cut_parts(args.since, args.until) if kind.period and not kind.per_person else []
        reading = ", ".join(f"{a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}" for a, b in cut if a and b)
        # a period that cuts a month reads the events of the days it cuts: the one part that takes long on a big store
        progress.phase(f"building the {kind.name} report" + (f" (reading the events of {reading})" if reading else ""))
        report = kind.build(request)
        if key is not None and subject is not None:  # a per-person report is a lookup: on the audit trail first
            returned = kind.returned(report) if kind.returned else {}
            record_lookup(args, settings, action=report_action(kind.name), pseudonym=key(subject), returned=returned)
        if kind.refs is None or not (args.evidence or args.evidence_annex):
            return report, None
        refs = kind.refs(report)
        period = (report.header.period.since, report.header.period.until)
        total = sum(_events_of(store, refs, *period).values())
        if args.evidence:
            progress.phase("writing the evidence", total)
            fmt = evidence_format(args.evidence)
            with open(args.evidence, "w", encoding="utf-8", newline="") as out:
                n = write_evidence(evidence(store, refs, *period), out, fmt, progress.advance)
            progress.phase("")
            args.evidence_written = n
        annex = None
        if args.evidence_annex:
            progress.phase("reading the evidence for the annex", total)
            annex = build_annex(store, refs, *period, progress.advance)
        return report, annex


def _events_of(store: GraphStore, refs: list[str], since: datetime | None, until: datetime | None) -> dict[str, int]:
    """How many events each reference counts in the period (for the progress bar)."""
    summary = store.flow_summary(since=since, until=until)
    counts = {f.ref: f.events for f in summary.flows} | {r.ref: r.events for r in summary.rollups}
    return {ref: counts.get(ref, 0) for ref in refs}


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
    if args.evidence:
        try:
            evidence_format(args.evidence)
        except ValueError as exc:
            raise UsageError(f"--evidence: {exc}") from None
    if args.evidence_annex and args.format not in ("html", "pdf"):
        raise UsageError("--evidence-annex is for --format html or pdf (--evidence FILE writes it for any)")
    with Progress(err) as progress:
        report, annex = _build(args, settings, progress)
        progress.phase(f"writing the {args.format.upper()}")
        try:
            body = render(report, args.format, args.table, annex)
        except ReportFormatError as exc:
            raise UsageError(str(exc)) from None
    if args.evidence:
        err.write(f"wrote the evidence ({getattr(args, 'evidence_written', 0):,} line(s)) to {args.evidence}\n")
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
        add_actor(sp)
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
    if kind.refs is not None:
        sp.add_argument(
            "--evidence",
            metavar="FILE",
            help="also write the events behind every reference the report quotes to FILE (.csv or .jsonl)",
        )
        sp.add_argument(
            "--evidence-annex", action="store_true", help="append those events' ids to the HTML or PDF as an annex"
        )
    else:
        sp.set_defaults(evidence=None, evidence_annex=False)
    sp.set_defaults(func=cmd_report)


def cmd_evidence(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """`lineage evidence REF...`: the events behind flow, purpose, category, recipient or alert references."""
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    fmt = args.format
    if args.output and fmt == "text":
        try:
            fmt = evidence_format(args.output)
        except ValueError as exc:
            raise UsageError(f"--output: {exc}") from None
    with open_configured_store(settings, existing=True) as store, Progress(err) as progress:
        known = _events_of(store, args.refs, args.since, args.until)
        unknown = [ref for ref in args.refs if not known.get(ref)]
        if unknown:
            err.write(f"lineage evidence: no event in the period behind: {', '.join(unknown)}\n")
        progress.phase("reading the evidence", sum(known.values()))
        items = evidence(store, args.refs, args.since, args.until)
        target = open(args.output, "w", encoding="utf-8", newline="") if args.output else None  # noqa: SIM115
        try:
            stream = target or out
            if fmt == "text":
                n = 0
                for n, e in enumerate(items, 1):
                    stream.write(f"{e.ref}  {e.occurred_at.isoformat().replace('+00:00', 'Z')}  {e.event_id}\n")
                    if n % 5000 == 0:
                        progress.advance(n)
            else:
                n = write_evidence(items, stream, fmt, progress.advance)
        finally:
            if target is not None:
                target.close()
    if args.output:
        err.write(f"wrote {n:,} event(s) to {args.output}\n")
    return EXIT_OK if not unknown else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage report KIND` for every kind of the report table, and `lineage evidence REF`."""
    rep = sub.add_parser("report", help="disclosure reports: " + ", ".join(REPORTS))
    kinds = rep.add_subparsers(dest="report", required=True, metavar="REPORT")
    for kind in REPORTS.values():
        _add(kinds, kind)
    sp = with_store(
        sub.add_parser("evidence", help="the events behind references that reports quote (f_..., a_... ids)")
    )
    sp.add_argument("refs", nargs="+", metavar="REF", help="a flow, purpose, category, recipient or alert reference")
    sp.add_argument("--since", type=iso, metavar="WHEN", help="start of the period (ISO 8601, inclusive)")
    sp.add_argument("--until", type=iso, metavar="WHEN", help="end of the period (ISO 8601, exclusive)")
    sp.add_argument("--format", choices=("text", "csv", "jsonl"), default="text", help="text (default), csv or jsonl")
    sp.add_argument("--output", "-o", metavar="FILE", help="write to FILE (its .csv or .jsonl name sets the format)")
    sp.set_defaults(func=cmd_evidence)
