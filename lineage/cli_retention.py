"""`lineage retention check`: each person's data held past the retention period the policy declares for it."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any, TextIO

from config import Settings
from lineage.cli_common import EXIT_FAILED, EXIT_OK, iso, with_store
from lineage.wiring import load_configured_policy, open_configured_store
from policies.retention import RetentionJudge
from policies.rules import RETENTION_EXCEEDED


def cmd_check(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """One finding per person and category held past its period on --as-of (exit 1 if any); the policy's lack of
    periods said plainly (exit 0)."""
    policy = load_configured_policy(settings)
    judge = RetentionJudge(policy)
    as_of: datetime = args.as_of or datetime.now(UTC)
    if not judge.active:
        err.write(
            "The policy declares no retention period in days, so nothing can be held past one: "
            f"{policy.retention.statement} This is a gap of the policy itself "
            "(GDPR Art. 5(1)(e), 13(2)(a), 30(1)(f)).\n"
        )
        if args.format == "json":
            out.write("[]\n")
        return EXIT_OK
    found: list[dict[str, Any]] = []
    with open_configured_store(settings, existing=True) as store:
        person: str | None = None
        held: dict[str, datetime] = {}

        def close() -> None:
            if person is None:
                return
            for category, limit in judge.held_past(held, as_of):
                assert limit.until is not None and limit.period is not None
                found.append(
                    {
                        "rule": RETENTION_EXCEEDED.id,
                        "severity": RETENTION_EXCEEDED.severity.value,
                        "subject": person,
                        "category": category,
                        "held_since": held[category].isoformat(),
                        "kept_until": limit.until.isoformat(),
                        "days_past": (as_of - limit.until).days,
                        "period": limit.period.id,
                    }
                )

        for facts in store.event_facts():  # person by person, each one's oldest first
            if facts.subject != person:
                close()
                person, held = facts.subject, {}
            for category in facts.categories:
                held.setdefault(category, facts.occurred_at)
        close()
    if args.format == "json":
        out.write(json.dumps(found, indent=2) + "\n")
    else:
        for f in found:
            out.write(
                f"{f['rule']} ({f['severity']}): {f['subject']} {f['category']}: held since {f['held_since'][:10]}, "
                f"kept until {f['kept_until'][:10]} ({f['period']}): {f['days_past']} day(s) past on "
                f"{as_of.date().isoformat()}\n"
            )
        err.write(f"{len(found)} finding(s): categories of people's data held past their period\n")
    return EXIT_FAILED if found else EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage retention ...` to the CLI's subparsers."""
    ret = subparsers.add_parser("retention", help="retention limits: find data held past its declared period")
    sub = ret.add_subparsers(dest="retention_command", required=True, metavar="COMMAND")
    sp = with_store(
        sub.add_parser(
            "check",
            help="each person's data held past the period the policy declares for it (rule retention-exceeded); "
            "exit 1 if any",
        )
    )
    sp.add_argument("--as-of", type=iso, metavar="DATE", help="judge as of this date or time (default: now)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    sp.set_defaults(func=cmd_check)
