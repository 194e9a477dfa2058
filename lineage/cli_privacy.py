"""`lineage erase` (GDPR Art. 17, with the Art. 19 recipients to notify), `erasures` (tombstones), `purge`,
`deadletters purge` (a person's rejected input, which the graph's erasure does not reach); `rekey` is in
lineage/cli_rekey.py."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from config import Settings
from graph.changes import Tombstone
from lineage import cli_rekey
from lineage.cli_audit import add_actor, record_lookup
from lineage.cli_common import EXIT_FAILED, EXIT_OK, UsageError, iso, with_store
from lineage.cli_notify import chosen_sink, notify_erased, outcome_json, write_outcomes
from reports.escaping import printable

if TYPE_CHECKING:
    from graph.store import GraphStore
    from schemas.reports import Art19Report
    from streams.deadletter import PurgeResult
    from streams.notify import NoticeOutcome


def erasure_event(
    subject_id: str,
    *,
    subject_type: str = "customer",
    reason: str | None = None,
    at: datetime | None = None,
    event_id: str | None = None,
    emitted_by: str = "lineage-cli",
) -> dict[str, Any]:
    """The wire form of an ``erased`` event (validate it before use)."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": event_id or str(uuid.uuid4()),
        "kind": "erased",
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "emitted_by": emitted_by,
        "subject": {"id": subject_id, "type": subject_type},
    }
    if reason:
        event["reason"] = reason
    return event


def _latest_recorded(store: GraphStore, pseudonym: str) -> datetime | None:
    """When the latest event recorded about the person occurred (their data, consent records), if any."""
    found = store.who_has(pseudonym)
    times = [c.last_seen for c in found.categories] + [r.last_shared_at for r in found.recipients] if found else []
    consent = store.consent_state([pseudonym]).get(pseudonym)
    times += [r.occurred_at for r in consent.records] if consent else []
    return max(times, default=None)


def _tombstone_json(t: Tombstone) -> dict[str, Any]:
    return {
        "event_id": t.event_id,
        "pseudonym": t.subject,
        "erased_at": t.erased_at.isoformat(),
        "applied_at": t.applied_at.isoformat(),
        "reason": t.reason,
        "recipients": list(t.recipients),
        # what each recipient had received (category keys), as the erasure recorded it; null: an older store's
        "received": (
            None if t.received is None else {r: list(t.categories_received(r) or ()) for r in t.recipients}
        ),
    }


# -- erase ----------------------------------------------------------------------------------------
def cmd_erase(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import build_handler
    from reports.art19 import art19_report
    from schemas.parsing import EventError, validate_event

    dead_letter_files = _existing_files(args.dead_letters or [])
    if args.dry_run:
        return _erase_dry_run(args, settings, dead_letter_files, out)
    sink = chosen_sink(settings, args.sink) if args.notify else None  # a sink missing is said before anything is done
    handler = build_handler(settings)
    notices: list[NoticeOutcome] = []
    try:
        at, future = args.at, None
        if at is None:  # now, or later when data about the person is dated later: the default covers all of it
            future = _latest_recorded(handler.store, handler.pseudonymizer(args.subject))
            now = datetime.now(UTC)
            at = future if future is not None and future > now else now
        try:
            event = validate_event(
                erasure_event(
                    args.subject,
                    subject_type=args.subject_type,
                    reason=args.reason,
                    at=at,
                    event_id=args.event_id,
                    emitted_by=args.emitted_by,
                ),
                handler.taxonomy,
                handler.window,
            )
        except EventError as exc:
            raise UsageError(str(exc)) from None
        # the recipients to notify come from the graph as it is before the erasure deletes the evidence
        report = art19_report(handler.store, handler.pseudonymizer, args.subject, handler.policy)
        pseudonym = handler.pseudonymizer(args.subject)
        # the answer names the person's recipients: a lookup, and who erased whom, on the audit trail before any
        # change (a trail that cannot be written refuses the erasure, which is then not done)
        record_lookup(
            args, settings, action="erase", pseudonym=pseudonym, returned={"recipients": len(report.recipients)}
        )
        result = handler.handle([event])
        tombstone = next(
            (t for t in handler.store.erasures([pseudonym]).get(pseudonym, []) if t.event_id == event.event_id), None
        )
        if sink is not None and result.applied:  # each listing what the erasure recorded its recipient received
            notices = notify_erased(handler, args.subject, sink, settings)
        # the store tried to make the erasure physical; one more try before it is reported pending
        pending = handler.store.purge() if result.erasures_pending else None
        if pending is not None and pending.complete:
            pending = None
    finally:
        handler.store.close()
        if sink is not None:
            sink.close()
    purged = _purge(dead_letter_files, [args.subject])
    failed = any(o.outcome == "failed" for o in notices)
    if failed:
        err.write("lineage erase: some Art. 19 notices could not be sent; lineage notify art19 retries them\n")
    if args.at is None and future is not None and event.occurred_at == future:
        err.write(
            f"lineage erase: data about the person is dated in the future (up to {future.isoformat()}): the erasure "
            "is dated then, so that it covers all of it; until then, events about the person are dropped as covered "
            "by it (give --at to choose another time)\n"
        )
    if args.format == "json":
        doc = {
            "subject": args.subject,
            "event_id": event.event_id,
            "erased_at": event.occurred_at.astimezone(UTC).isoformat(),
            "applied": result.applied == 1,
            "physical": result.applied == 1 and pending is None,
            "pending": pending.detail if pending is not None else None,
            "tombstone": _tombstone_json(tombstone) if tombstone else None,
            "art19": report.model_dump(mode="json"),
            "dead_letters": [_purge_json(p) for p in purged],
        }
        if args.notify:
            doc["notices"] = [outcome_json(o) for o in notices]
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK if pending is None and not failed else EXIT_FAILED
    when = event.occurred_at.astimezone(UTC).isoformat()
    if result.applied and not report.data_found:
        out.write(
            f"No personal data of this person was recorded, so none was erased. The erasure is recorded all the same "
            f"(event {event.event_id}, as of {when}): events about the person dated before it are dropped if they "
            "arrive later.\n"
        )
    elif result.applied and pending is not None:
        out.write(f"Erased the person from the graph as of {when} (event {event.event_id}); a tombstone records it.\n")
        err.write(f"lineage erase: PENDING: the deleted data may still be in the store's files: {pending.detail}.\n")
    elif result.applied:
        # the id is not repeated: output is often kept in logs (the JSON form is the report for the requester)
        out.write(
            f"Erased the person as of {when} (event {event.event_id}); a tombstone records it, and the deleted data "
            "has left the store's files.\n"
        )
    else:
        out.write(f"Erasure event {event.event_id} was already applied; nothing changed.\n")
    _write_art19(out, report)
    if notices:
        out.write("Art. 19 notices:\n")
        write_outcomes(out, notices)
    _write_purged(out, purged)
    return EXIT_OK if pending is None and not failed else EXIT_FAILED



def _write_art19(out: TextIO, report: Art19Report) -> None:
    out.write(f"Art. 19: {printable(report.recipients_statement)}\n")
    for r in report.recipients:  # names and contacts come from events: shown escaped (reports/escaping.py)
        where = f", {r.country}" if r.country else ""
        received = f"{', '.join(c.key for c in r.categories)} for {', '.join(p.key for p in r.purposes)}"
        out.write(printable(f"  - {r.name} ({r.id}, {r.type_label}{where}): {r.contact_statement}") + "\n")
        out.write(printable(f"    received {received}") + "\n")


def _erase_dry_run(args: argparse.Namespace, settings: Settings, files: list[Path], out: TextIO) -> int:
    """What `lineage erase` would do, read from the store as it is; nothing is written anywhere."""
    from lineage.wiring import load_configured_policy, open_configured_store, pseudonymizer
    from reports.art19 import art19_report
    from streams.deadletter import dead_letters_naming

    key = pseudonymizer(settings, create=False)
    policy = load_configured_policy(settings)
    with open_configured_store(settings, existing=True) as store:
        if store.has_events():
            store.bind_key(key.fingerprint)
        found = store.who_has(key(args.subject))
        report = art19_report(store, key, args.subject, policy)
    # a dry run shows what is recorded of the person and who received it: a lookup, on the audit trail first
    returned = {"categories": len(found.categories) if found else 0, "recipients": len(report.recipients)}
    record_lookup(args, settings, action="erase-dry-run", pseudonym=key(args.subject), returned=returned)
    naming = [(f, dead_letters_naming(f, [args.subject])) for f in files]
    events = sum(c.event_count for c in found.categories) if found else 0
    if args.format == "json":
        doc = {
            "subject": args.subject,
            "dry_run": True,
            "data_found": report.data_found,
            "categories": [c.category for c in found.categories] if found else [],
            "category_events": events,
            "art19": report.model_dump(mode="json"),
            "dead_letters": [{"file": str(f), "would_remove": n} for f, n in naming],
        }
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    out.write("Dry run: nothing was changed.\n")
    if report.data_found and found:
        out.write(
            f"Erasing would delete what is recorded of the person: {len(found.categories)} category(ies) of data "
            f"({events} category-event record(s)) and {len(found.recipients)} recipient(s) of it, and keep a "
            "tombstone.\n"
        )
    else:
        out.write("No personal data of this person is recorded: erasing would only record the erasure (tombstone).\n")
    _write_art19(out, report)
    for f, n in naming:
        out.write(f"Dead letters in {f}: would remove {n} naming the person.\n")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import open_configured_store

    with open_configured_store(settings, existing=True) as store:
        result = store.purge()
    if result.complete:
        out.write("Done: no data deleted by an erasure remains in the store's files.\n")
        return EXIT_OK
    err.write(f"lineage purge: PENDING: {result.detail}.\n")
    return EXIT_FAILED


# -- dead letters ---------------------------------------------------------------------------------
def _existing_files(paths: list[str]) -> list[Path]:
    """The dead-letter files named, checked before anything is changed (a typo must not half-run an erasure)."""
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise UsageError(f"dead-letter file {f} does not exist or is not a file")
    return files


def _purge(files: list[Path], subject_ids: list[str]) -> list[PurgeResult]:
    from streams.deadletter import purge_dead_letters

    return [purge_dead_letters(f, subject_ids) for f in files]


def _purge_json(result: PurgeResult) -> dict[str, Any]:
    return {"file": str(result.path), "removed": result.removed, "kept": result.kept}


def _write_purged(out: TextIO, purged: list[PurgeResult]) -> None:
    for p in purged:
        out.write(f"Dead letters in {p.path}: removed {p.removed} naming the person, kept {p.kept}.\n")


def cmd_deadletters_purge(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.rekey import read_subject_list

    files = _existing_files(args.files)
    subjects = list(args.subject or [])
    if args.subjects:
        subjects_file = Path(args.subjects)
        if not subjects_file.is_file():
            raise UsageError(f"subjects file {subjects_file} does not exist")
        subjects += read_subject_list(subjects_file)
    if not subjects:
        raise UsageError("name the people with --subject ID or --subjects FILE")
    purged = _purge(files, subjects)
    if args.format == "json":
        out.write(json.dumps([_purge_json(p) for p in purged], indent=2) + "\n")
    else:
        for p in purged:
            out.write(f"{p.path}: removed {p.removed} dead letter(s), kept {p.kept}.\n")
    return EXIT_OK


def cmd_erasures(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import open_configured_store, pseudonymizer

    key = pseudonymizer(settings, create=False)
    with open_configured_store(settings, existing=True) as store:
        if store.has_events():
            store.bind_key(key.fingerprint)
        tombstones = store.erasures([key(args.subject)]).get(key(args.subject), [])
    record_lookup(
        args, settings, action="erasures", pseudonym=key(args.subject), returned={"erasures": len(tombstones)}
    )
    if args.format == "json":
        out.write(json.dumps([_tombstone_json(t) for t in tombstones], indent=2) + "\n")
        return EXIT_OK
    if not tombstones:
        out.write("No erasure is recorded for this person.\n")
    for t in tombstones:
        to_tell = ", ".join(t.recipients) if t.recipients else "none"
        got = [f"{r}: {', '.join(t.categories_received(r) or ())}" for r in t.recipients if t.categories_received(r)]
        out.write(
            f"erased as of {t.erased_at.isoformat()} (event {t.event_id}, applied {t.applied_at.isoformat()})"
            + (f", reason: {t.reason}" if t.reason else "")
            + f"; recipients to notify (Art. 19): {to_tell}"
            + (f"; what each received: {'; '.join(got)}" if got else "")
            + "\n"
        )
    return EXIT_OK


# -- registration ---------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``erase``, ``purge``, ``erasures``, ``deadletters`` and ``rekey`` to the `lineage` parser."""
    sp = with_store(
        sub.add_parser(
            "erase",
            help="erase a person (GDPR Art. 17): forget their data, keep a tombstone, list the recipients to notify",
        )
    )
    sp.add_argument("subject", metavar="SUBJECT_ID", help="the person's id, as the events carry it")
    sp.add_argument("--reason", help="why (kept in the tombstone; no personal data), e.g. 'Art. 17(1)(a) request'")
    sp.add_argument(
        "--at",
        type=iso,
        help="the erasure's time; data that occurred later is kept (default: now, or the time of the latest data "
        "recorded about the person when that is later: a default erasure covers everything recorded)",
    )
    sp.add_argument("--event-id", help="id of the erasure event (default: a new UUID); the same id is applied once")
    sp.add_argument("--emitted-by", default="lineage-cli", help="the component recorded as emitting the erasure")
    sp.add_argument("--subject-type", default="customer", help="the person's data-subject key (default: customer)")
    sp.add_argument("--dead-letters", action="append", metavar="FILE",
                    help="also remove the person's rejected input from this dead-letter file (repeatable)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be erased and whom Art. 19 says to tell, and change nothing (a lookup: on the audit "
        "trail)",
    )
    sp.add_argument(
        "--notify",
        action="store_true",
        help="also send each recipient on the Art. 19 list a notice of the erasure, listing the categories it received "
        "(read before the erasure deletes them; lineage notify art19 cannot list them afterwards)",
    )
    sp.add_argument(
        "--sink",
        choices=("file", "webhook", "teams"),
        help="with --notify: where notices go (default: the first configured LINEAGE_NOTICE_* sink)",
    )
    add_actor(sp)
    sp.set_defaults(func=cmd_erase)

    dl = sub.add_parser("deadletters", help="dead-letter files").add_subparsers(dest="deadletters_command",
                                                                                  required=True)
    sp = dl.add_parser(
        "purge",
        help="remove people's rejected input from dead-letter files (what erasing them from the graph does not reach)",
        description="Removes every dead letter whose original input holds one of the ids as a whole JSON string; "
        "other letters stay as they were. Prints counts, never ids. The dead-letter topic cannot be purged by "
        "record: give it a retention that matches your policy (docs/privacy.md).",
    )
    sp.add_argument("files", nargs="+", metavar="FILE", help="dead-letter files (JSON Lines)")
    sp.add_argument("--subject", action="append", metavar="ID", help="a person's subject id (repeatable)")
    sp.add_argument("--subjects", metavar="FILE", help="subject ids, one a line (# comments and blank lines skipped)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.set_defaults(func=cmd_deadletters_purge)

    sp = with_store(
        sub.add_parser(
            "purge",
            help="make erasures physical: remove the data they deleted from the store's files (exit 1: still pending)",
            description="An erasure removes the person from the graph at once; on SQLite it also writes the store's "
            "write-ahead log back and clears it, which another process reading the file can delay (lineage erase "
            "then says PENDING). This completes it: exit 0 when no deleted data remains in the files, 1 when a "
            "reader still holds the log (run it again later). On Neo4j the server's own files are out of reach: "
            "see docs/privacy.md (Erasure on Neo4j).",
        )
    )
    sp.set_defaults(func=cmd_purge)

    sp = with_store(sub.add_parser("erasures", help="a person's recorded erasures, with their Art. 19 recipients"))
    sp.add_argument("subject", metavar="SUBJECT_ID", help="the person's id, as the events carry it")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_actor(sp)
    sp.set_defaults(func=cmd_erasures)
    cli_rekey.register(sub)
