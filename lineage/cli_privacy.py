"""`lineage erase` (GDPR Art. 17, with the Art. 19 recipients to notify) and `lineage erasures` (the tombstones)."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from graph.changes import Tombstone
from lineage.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2

WithStore = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def _settings(args: argparse.Namespace) -> Settings:
    policy = getattr(args, "policy", None)
    return Settings.from_env(store=getattr(args, "store", None), policy_file=Path(policy) if policy else None)


def _iso(text: str) -> datetime:
    from lineage.cli import _iso as parse  # one date syntax for every command

    return parse(text)


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


def _tombstone_json(t: Tombstone) -> dict[str, Any]:
    return {
        "event_id": t.event_id,
        "pseudonym": t.subject,
        "erased_at": t.erased_at.isoformat(),
        "applied_at": t.applied_at.isoformat(),
        "reason": t.reason,
        "recipients": list(t.recipients),
    }


# -- erase ----------------------------------------------------------------------------------------
def cmd_erase(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from graph.reports import art19_report
    from lineage.wiring import build_handler
    from schemas.events import EventError, validate_event

    settings = _settings(args)
    handler = build_handler(settings)
    try:
        try:
            event = validate_event(
                erasure_event(
                    args.subject,
                    subject_type=args.subject_type,
                    reason=args.reason,
                    at=args.at,
                    event_id=args.event_id,
                    emitted_by=args.emitted_by,
                ),
                handler.taxonomy,
            )
        except EventError as exc:
            err.write(f"lineage erase: {exc}\n")
            return EXIT_USAGE
        # the recipients to notify come from the graph as it is before the erasure deletes the evidence
        report = art19_report(handler.store, handler.pseudonym, args.subject, handler.policy)
        result = handler.handle([event])
        pseudonym = handler.pseudonym(args.subject)
        tombstone = next(
            (t for t in handler.store.erasures([pseudonym]).get(pseudonym, []) if t.event_id == event.event_id), None
        )
    finally:
        handler.store.close()
    if args.format == "json":
        doc = {
            "subject": args.subject,
            "event_id": event.event_id,
            "erased_at": event.occurred_at.astimezone(UTC).isoformat(),
            "applied": result.applied == 1,
            "tombstone": _tombstone_json(tombstone) if tombstone else None,
            "art19": report.model_dump(mode="json"),
        }
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    when = event.occurred_at.astimezone(UTC).isoformat()
    if result.applied:
        out.write(f"Erased {args.subject} as of {when} (event {event.event_id}); a tombstone records it.\n")
    else:
        out.write(f"Erasure event {event.event_id} was already applied; nothing changed.\n")
    if not report.data_found:
        out.write("No personal data of this person was recorded.\n")
    out.write(f"Art. 19: {report.recipients_statement}\n")
    for r in report.recipients:
        where = f", {r.country}" if r.country else ""
        out.write(
            f"  - {r.name} ({r.id}, {r.type_label}{where}): {r.contact_statement}\n"
            f"    received {', '.join(c.key for c in r.categories)} for {', '.join(p.key for p in r.purposes)}\n"
        )
    return EXIT_OK


def cmd_erasures(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import open_configured_store, pseudonymizer

    settings = _settings(args)
    key = pseudonymizer(settings)
    with open_configured_store(settings) as store:
        store.bind_key(key.fingerprint)
        tombstones = store.erasures([key(args.subject)]).get(key(args.subject), [])
    if args.format == "json":
        out.write(json.dumps([_tombstone_json(t) for t in tombstones], indent=2) + "\n")
        return EXIT_OK
    if not tombstones:
        out.write("No erasure is recorded for this person.\n")
    for t in tombstones:
        to_tell = ", ".join(t.recipients) if t.recipients else "none"
        out.write(
            f"erased as of {t.erased_at.isoformat()} (event {t.event_id}, applied {t.applied_at.isoformat()})"
            + (f", reason: {t.reason}" if t.reason else "")
            + f"; recipients to notify (Art. 19): {to_tell}\n"
        )
    return EXIT_OK


# -- registration ---------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], with_store: WithStore) -> None:
    """Add ``erase`` and ``erasures`` to the `lineage` parser."""
    sp = with_store(
        sub.add_parser(
            "erase",
            help="erase a person (GDPR Art. 17): forget their data, keep a tombstone, list the recipients to notify",
        )
    )
    sp.add_argument("subject", metavar="SUBJECT_ID")
    sp.add_argument("--reason", help="why (kept in the tombstone; no personal data), e.g. 'Art. 17(1)(a) request'")
    sp.add_argument("--at", type=_iso, help="the erasure's time (default: now); data that occurred later is kept")
    sp.add_argument("--event-id", help="id of the erasure event (default: a new UUID); the same id is applied once")
    sp.add_argument("--emitted-by", default="lineage-cli", help="the component recorded as emitting the erasure")
    sp.add_argument("--subject-type", default="customer", help="the person's data-subject key (default: customer)")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.set_defaults(func=cmd_erase)

    sp = with_store(sub.add_parser("erasures", help="a person's recorded erasures, with their Art. 19 recipients"))
    sp.add_argument("subject", metavar="SUBJECT_ID")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.set_defaults(func=cmd_erasures)
