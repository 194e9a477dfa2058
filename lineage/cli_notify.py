"""`lineage notify art19 PERSON` (send each recipient on the person's Art. 19 lists a notice of the erasure, through
a sink), `notify ack NOTICE_ID` (record the recipient's acknowledgement), `notify list [PERSON]`. Lookups of a person
and acknowledgements are on the audit trail, as `report art19` and the console's acknowledgement are; output names
recipients and notice ids, never the person."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from config import Settings
from lineage.cli_audit import actor_name, add_actor, record_lookup
from lineage.cli_common import EXIT_FAILED, EXIT_OK, UsageError, with_store
from reports.escaping import printable

if TYPE_CHECKING:
    from schemas.notices import NoticeRecord
    from streams.handler import Handler
    from streams.notice_sinks import NoticeSink
    from streams.notify import NoticeOutcome


def _record_json(r: NoticeRecord) -> dict[str, Any]:
    return r.model_dump(mode="json")


def outcome_json(o: NoticeOutcome) -> dict[str, Any]:
    return {
        "outcome": o.outcome,
        "recipient": o.recipient,
        "request": o.request,
        "notice_id": (o.notice.notice_id if o.notice else o.record.notice_id if o.record else None),
        "error": o.error,
        "notice": o.notice.model_dump(mode="json") if o.notice else None,
        "record": o.record.model_dump(mode="json") if o.record else None,
    }


_WORDS = {
    "sent": "sent",
    "already-sent": "already notified (use --resend to send again)",
    "would-send": "would send",
    "failed": "NOT SENT",
}


def chosen_sink(settings: Settings, name: str | None) -> NoticeSink:
    """The notice sink named (or the first configured); a usage error saying what to set when there is none."""
    from streams.notice_sinks import NoSink, notice_sink

    try:
        return notice_sink(settings, name)
    except NoSink as exc:
        raise UsageError(str(exc)) from None


def write_outcomes(out: TextIO, outcomes: list[NoticeOutcome]) -> None:
    """One line per recipient: what became of its notice (recipients and notice ids, never the person)."""
    for o in outcomes:
        nid = o.notice.notice_id if o.notice else o.record.notice_id if o.record else "-"
        via = f" via {o.record.channel}" if o.record and o.outcome == "sent" else ""
        why = f": {o.error}" if o.error else ""
        out.write(printable(f"{o.recipient}: {_WORDS[o.outcome]}{via} (notice {nid}, request {o.request}){why}") + "\n")


def notify_erased(handler: Handler, subject: str, sink: NoticeSink, settings: Settings) -> list[NoticeOutcome]:
    """`erase --notify`: the notices of the erasure just applied, each listing what its recipient had received up to
    the erasure, as the erasure recorded it with its tombstone (the Art. 19 report read before the erasure would
    also count what was disclosed after an erasure back-dated with --at, which that erasure leaves)."""
    from lineage.wiring import load_configured_registry
    from streams.notify import notice_controller, send_art19_notices

    return send_art19_notices(
        handler.store, handler.pseudonymizer(subject), subject, handler.policy, sink,
        registry=load_configured_registry(settings),
        controller=notice_controller(handler.policy, settings.notice_contact),
    )  # fmt: skip


def cmd_art19(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import load_configured_policy, load_configured_registry, open_configured_store, pseudonymizer
    from streams.notify import NothingToNotify, notice_controller, send_art19_notices

    key = pseudonymizer(settings, create=False)
    policy = load_configured_policy(settings)
    registry = load_configured_registry(settings)
    sink = None if args.dry_run else chosen_sink(settings, args.sink)
    controller = notice_controller(policy, args.controller_contact or settings.notice_contact)
    pseudonym = key(args.subject)
    with open_configured_store(settings, existing=True) as store:
        if store.has_events():
            store.bind_key(key.fingerprint)
        # the person's Art. 19 list is read and shown: a lookup, on the audit trail before anything is sent
        listed = len(store.erasures([pseudonym]).get(pseudonym, []))
        record_lookup(args, settings, action="notify-art19", pseudonym=pseudonym, returned={"erasures": listed})
        try:
            outcomes = send_art19_notices(
                store, pseudonym, args.subject, policy, sink, registry=registry, resend=args.resend,
                controller=controller,
            )  # fmt: skip
        except NothingToNotify as exc:
            err.write(f"{args.prog}: {exc}\n")
            return EXIT_FAILED
        finally:
            if sink is not None:
                sink.close()
    failed = [o for o in outcomes if o.outcome == "failed"]
    if args.format == "json":
        out.write(json.dumps([outcome_json(o) for o in outcomes], indent=2, ensure_ascii=False) + "\n")
    else:
        if args.dry_run:
            out.write("Dry run: nothing was sent or recorded.\n")
        if not outcomes:
            out.write("The person's erasure found nothing disclosed to anyone: there is nobody to notify.\n")
        write_outcomes(out, outcomes)
    if failed:
        err.write(f"{args.prog}: {len(failed)} notice(s) could not be sent; run again to retry them\n")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_ack(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import open_configured_store

    with open_configured_store(settings, existing=True) as store:
        known = store.notices(notice_id=args.notice_id)
        if not known:
            err.write(f"{args.prog}: no notice with id {printable(args.notice_id)}\n")
            return EXIT_FAILED
        # on the audit trail like the console's acknowledgement (action notice-ack, the notice, the person's
        # pseudonym), before anything changes: a trail that cannot be written refuses the acknowledgement
        record_lookup(args, settings, action="notice-ack", pseudonym=known[0].subject, returned={"notices": 1},
                      target=args.notice_id, refusing="acknowledgement")  # fmt: skip
        if known[0].acknowledged_at is not None:
            when = known[0].acknowledged_at.isoformat()
            out.write(f"{args.notice_id} was already acknowledged ({when}); nothing changed\n")
            return EXIT_OK
        store.acknowledge_notice(args.notice_id, args.at or datetime.now(UTC), args.by or actor_name(args))
    out.write(f"acknowledged {args.notice_id}\n")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import open_configured_store, pseudonymizer
    from reports.notices import statuses

    with open_configured_store(settings, existing=True) as store:
        if args.subject is None:
            records = store.notices()
            if args.format == "json":
                out.write(json.dumps([_record_json(r) for r in records], indent=2) + "\n")
                return EXIT_OK
            for r in records:
                ack = f", acknowledged {r.acknowledged_at.isoformat()}" if r.acknowledged_at else ", not acknowledged"
                out.write(f"{r.notice_id} {r.recipient}: {r.kind.value} {r.request}, sent {r.sent_at.isoformat()} "
                          f"via {r.channel}{ack}\n")  # fmt: skip
            if not records:
                out.write("No notice has been sent.\n")
            return EXIT_OK
        from lineage.wiring import load_configured_registry

        key = pseudonymizer(settings, create=False)
        if store.has_events():
            store.bind_key(key.fingerprint)
        pseudonym = key(args.subject)
        items = statuses(store, pseudonym, load_configured_registry(settings))
    record_lookup(args, settings, action="notify-list", pseudonym=pseudonym, returned={"notices": len(items)})
    if args.format == "json":
        out.write(json.dumps([i.model_dump(mode="json") for i in items], indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    if not items:
        out.write("No notice is due: no erasure of this person lists a recipient.\n")
    for i in items:
        line = f"{i.recipient_name} ({i.recipient_id}), {i.kind.value} {i.request}: {i.status}"
        if i.sent_at:
            line += f", sent {i.sent_at.isoformat()} via {i.channel} (notice {i.notice_id})"
        if i.acknowledged_at:
            line += f", acknowledged {i.acknowledged_at.isoformat()}" + (
                f" by {i.acknowledged_by}" if i.acknowledged_by else ""
            )
        out.write(printable(line) + "\n")
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage notify art19|ack|list` to the CLI's subparsers."""
    from lineage.cli_common import iso
    from streams.notice_sinks import NOTICE_SINKS

    notify = sub.add_parser("notify", help="Art. 19 notices to the recipients of an erased person's data")
    cmds = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    sp = with_store(
        cmds.add_parser(
            "art19",
            help="send each recipient on the person's Art. 19 lists a notice of the erasure; exit 1 if one failed",
            description="One notice per recipient and erasure, naming the person only by the recipient's own "
            "reference (registry: person_reference) or the pseudonym; each is recorded (sent, when, through "
            "what). A recipient already notified of the same erasure is skipped unless --resend.",
        )
    )
    sp.add_argument("subject", metavar="SUBJECT_ID", help="the person's id, as the events carry it")
    sp.add_argument("--sink", choices=tuple(NOTICE_SINKS),
                    help="where notices go (default: the first configured of LINEAGE_NOTICE_DIR, "
                    "LINEAGE_NOTICE_WEBHOOK_URL, LINEAGE_NOTICE_TEAMS_URL)")  # fmt: skip
    sp.add_argument("--dry-run", action="store_true", help="show the notices that would be sent; send nothing")
    sp.add_argument("--resend", action="store_true", help="send again to recipients already notified")
    sp.add_argument("--controller-contact", help="where recipients answer (default: $LINEAGE_NOTICE_CONTACT, else "
                    "the policy's controller contact)")  # fmt: skip
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_actor(sp)
    sp.set_defaults(func=cmd_art19)

    sp = with_store(cmds.add_parser("ack", help="record that a recipient acknowledged a notice"))
    sp.add_argument("notice_id", metavar="NOTICE_ID", help="the notice's id (n_...)")
    sp.add_argument("--by", metavar="NAME", help="who records the acknowledgement, kept with it (default: --as NAME, "
                    "else the OS user)")  # fmt: skip
    sp.add_argument("--at", type=iso, metavar="TIME", help="when it was acknowledged (default: now)")
    add_actor(sp)
    sp.set_defaults(func=cmd_ack)

    sp = with_store(cmds.add_parser("list", help="every notice sent, or a person's recipients and their notices"))
    sp.add_argument("subject", metavar="SUBJECT_ID", nargs="?", help="the person's id (a lookup: on the audit trail)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_actor(sp)
    sp.set_defaults(func=cmd_list)
