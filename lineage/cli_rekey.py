"""`lineage rekey`: rotate the pseudonym key by rebuilding a new store under the new key from the source events,
carrying tombstones and acknowledged alerts across (lineage/rekey.py does the work)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from config import Settings
from lineage.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def cmd_rekey(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from graph.pseudonym import Pseudonymizer, load_or_create_key_file
    from graph.registry import open_store
    from lineage.rekey import read_subject_list, rekey
    from lineage.wiring import event_window, load_configured_policy, load_configured_registry, pseudonymizer
    from policies.transfers import RecipientRules
    from streams.deadletter import FileDeadLetters

    settings = replace(settings, store=args.source)
    if args.source == args.target:
        err.write("lineage rekey: --from and --to must be different stores (rotation rebuilds into a new one)\n")
        return EXIT_USAGE
    files = [Path(f) for f in args.events]
    for path in files:
        if not path.is_file():
            err.write(f"lineage rekey: no such file: {path}\n")
            return EXIT_USAGE
    subjects = list(read_subject_list(Path(args.subjects))) if args.subjects else []
    new_key = Pseudonymizer(load_or_create_key_file(Path(args.new_key_file)))
    dlq = Path(args.dead_letters) if args.dead_letters else Path(args.new_key_file).with_name("rekey.deadletter.jsonl")
    dead = FileDeadLetters(dlq)
    old = open_store(args.source, settings)
    try:
        new = open_store(args.target, settings)
        try:
            report = rekey(
                old, pseudonymizer(settings), new, new_key, load_configured_policy(settings), files, dead,
                subjects=subjects, window=event_window(settings),
                recipients=RecipientRules(load_configured_registry(settings)),
            )
        finally:
            new.close()
    finally:
        old.close()
        dead.close()
    if args.format == "json":
        doc = {
            "complete": report.complete,
            "old": report.old.model_dump(),
            "new": report.new.model_dump(),
            "applied": report.ingest.applied,
            "duplicates": report.ingest.duplicates,
            "rejected": report.ingest.rejected,
            "suppressed": report.ingest.suppressed,
            "tombstones_carried": report.tombstones_carried,
            "tombstones_lost": report.tombstones_lost,
            "notices_carried": report.notices_carried,
            "notices_lost": report.notices_lost,
            "acknowledgements_carried": report.acknowledgements_carried,
            "acknowledgements_pending": report.acknowledgements_pending,
            "new_key_fingerprint": new_key.fingerprint,
        }
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        i = report.ingest
        out.write(
            f"Rebuilt {args.target} under key {new_key.fingerprint} from {len(files)} file(s): {i.applied} event(s) "
            f"applied, {i.duplicates} already present, {i.suppressed} about erased people dropped, {i.rejected} "
            f"line(s) rejected" + (f" (see {dlq})" if i.rejected else "") + ".\n"
            f"Tombstones carried: {report.tombstones_carried}; Art. 19 notices carried: {report.notices_carried}; "
            f"acknowledged alerts carried: {report.acknowledgements_carried}.\n"
            f"Old store: {report.old.events} events, {report.old.subjects} people; "
            f"new store: {report.new.events} events, {report.new.subjects} people.\n"
        )
        if report.tombstones_lost:
            out.write(
                f"WARNING: {report.tombstones_lost} tombstone(s) could not be carried: the subject ids behind them are "
                "in neither the events nor --subjects. Add them to a --subjects file and run again.\n"
            )
        if report.notices_lost:
            out.write(
                f"WARNING: {report.notices_lost} Art. 19 notice(s) could not be carried: the subject ids of their "
                "people are in neither the events nor --subjects. Add them to a --subjects file and run again.\n"
            )
        if report.acknowledgements_pending:
            out.write(
                f"WARNING: {report.acknowledgements_pending} acknowledged alert(s) are not in the new store (yet); "
                "run again once it holds the events that raise them.\n"
            )
        if report.new.events < report.old.events or report.new.subjects < report.old.subjects:
            out.write("WARNING: the new store holds less than the old one: the source events are incomplete.\n")
        if report.complete:
            out.write(
                f"Complete. Switch LINEAGE_STORE to {args.target} and LINEAGE_PSEUDONYM_KEY_FILE to "
                f"{args.new_key_file}, then destroy the old store and key (see docs/privacy.md).\n"
            )
    return EXIT_OK if report.complete else EXIT_FAILED


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rekey`` to the `lineage` parser."""
    sp = sub.add_parser(
        "rekey",
        help="rotate the pseudonym key: rebuild a new store under a new key from the source events",
        description="Pseudonyms cannot be recomputed without the subject ids, so rotation rebuilds a new store from "
        "the source events (files, or a dump of the events topic) under the new key, carrying tombstones and "
        "acknowledged alerts across. The old key comes from LINEAGE_PSEUDONYM_KEY / LINEAGE_PSEUDONYM_KEY_FILE.",
    )
    sp.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to rotate (old key)")
    sp.add_argument("--to", dest="target", required=True, metavar="URL", help="a new, empty store (new key)")
    sp.add_argument("--new-key-file", required=True, help="the new key (created, mode 0600, when it does not exist)")
    sp.add_argument("--events", nargs="*", default=[], metavar="FILE",
                    help="JSON Lines event files (none: carry tombstones and acknowledgements only, e.g. when a "
                    "worker with a new consumer group rebuilds the new store from the events topic)")
    sp.add_argument("--subjects", metavar="FILE", help="extra subject ids, one a line, to carry tombstones of people "
                    "whose events are no longer in the source")
    sp.add_argument("--dead-letters", help="where rejected lines go (default: rekey.deadletter.jsonl beside the key)")
    sp.add_argument("--policy", help="policy file (default: $LINEAGE_POLICY or the bundled S Plus policy)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.set_defaults(func=cmd_rekey)
