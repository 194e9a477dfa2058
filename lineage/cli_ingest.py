"""Events in: `lineage ingest` (validate and apply JSON Lines, rejected lines to a dead-letter file with the
reason), `lineage simulate` (S Plus Helpdesk traffic with a truth file) and `lineage demo` (both, then one person's
answer and the alerts)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from config import Settings
from lineage import render
from lineage.cli_common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    fraction,
    non_negative_int,
    open_events_and_dead_letters,
    positive_int,
    with_store,
)
from lineage.wiring import build_handler, load_configured_policy
from schemas.answers import WhoHas
from streams.alerts.dispatcher import AlertDispatcher
from streams.deadletter import DeadLetter, DeadLetterSink, FileDeadLetters
from streams.embedded import BATCH_SIZE, IngestReport, ingest_lines, read_lines
from streams.ingest_chunks import Oversized

if TYPE_CHECKING:
    from lineage.simulator import SimulatedEvent


# -- ingest ---------------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal or --progress is given."""

    def __init__(self, total_bytes: int | None, enabled: bool, err: TextIO) -> None:
        self.total, self.enabled, self.err, self.done_bytes = total_bytes, enabled, err, 0

    def lines(self, lines: Iterable[bytes | Oversized]) -> Iterator[bytes | Oversized]:
        for line in lines:
            self.done_bytes += line.size if isinstance(line, Oversized) else len(line)
            yield line

    def __call__(self, report: IngestReport) -> None:
        if not self.enabled:
            return
        if self.total:
            frac = min(1.0, self.done_bytes / self.total)
            bar = "#" * int(frac * 30)
            self.err.write(f"\r[{bar:<30}] {frac:6.1%}  {report.lines} lines, {report.rejected} rejected")
        else:
            self.err.write(f"\r{report.lines} lines, {report.rejected} rejected")
        self.err.flush()

    def finish(self) -> None:
        if self.enabled:
            self.err.write("\n")


class _Shown:
    """Passes dead letters on, keeping the place and reason of the first ``limit`` for stderr."""

    def __init__(self, sink: DeadLetterSink, limit: int = 50) -> None:
        self.sink, self.limit = sink, limit
        self.first: list[tuple[str, int | None, str]] = []

    def put(self, letter: DeadLetter) -> None:
        if len(self.first) < self.limit:
            self.first.append((letter.origin, letter.line, letter.reason))
        self.sink.put(letter)

    def close(self) -> None:
        self.sink.close()


def cmd_ingest(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    fh, origin, total, dead = open_events_and_dead_letters(args.file, args.dead_letters)
    dlq_path = dead.path
    shown = _Shown(dead)
    progress = _Progress(total, args.progress or (err.isatty() and (total or 0) > 5_000_000), err)
    handler = build_handler(settings, notify=True)
    dispatcher = AlertDispatcher.from_settings(handler.store, settings)
    try:
        report = ingest_lines(
            progress.lines(read_lines(fh)),
            handler,
            shown,
            origin=origin,
            batch_size=args.batch_size,
            on_progress=_alerting(dispatcher, progress),
            processes=args.processes,
        )
    finally:
        progress.finish()
        dead.close()
        dispatcher.close()
        handler.store.close()
        if args.file != "-":
            fh.close()
    for where, line, reason in shown.first:
        err.write(f"{where}:{line}: rejected: {reason}\n")
    if len(shown.first) < report.rejected:
        err.write(f"... and {report.rejected - len(shown.first)} more in {dlq_path}\n")
    kept = f" (see {dlq_path}" + (f"; {dead.repeated} of them were there already" if dead.repeated else "") + ")"
    out.write(  # the summary is the command's result: stdout; the rejections above are diagnostics: stderr
        f"{report.applied} event(s) applied, {report.duplicates} already present, {report.rejected} line(s) rejected"
        + (kept if report.rejected else "")
        + (f", {report.suppressed} about erased people dropped" if report.suppressed else "")
        + f", {len(report.findings)} undeclared-flow finding(s)"
        + (f", {report.notices_sent} Art. 19 notice(s) sent" if report.notices_sent else "")
        + "\n"
    )
    if report.notices_unsent:
        err.write(
            f"lineage ingest: {report.notices_unsent} Art. 19 notice(s) of the erasures applied could not be sent (the "
            "log says which recipients and erasure events); lineage notify art19 PERSON sends them\n"
        )
    if report.failed:
        err.write(
            f"lineage ingest: {report.failed} line(s) met an internal error and were not applied; they are in "
            f"{dlq_path} with the error's type, for a bug report and a replay\n"
        )
    if report.unwritten:
        err.write(
            f"lineage ingest: {report.unwritten} rejected line(s) could not be written to {dlq_path} "
            f"({report.unwritten_error}): they are not kept anywhere\n"
        )
    if report.failed or report.unwritten:
        return EXIT_INTERNAL
    return EXIT_FAILED if report.rejected or report.notices_unsent else EXIT_OK


def _alerting(dispatcher: AlertDispatcher, then: Callable[[IngestReport], None]) -> Callable[[IngestReport], None]:
    """After each batch: hand its new findings to the alert sinks, then report progress."""
    published = 0

    def on_batch(report: IngestReport) -> None:
        nonlocal published
        dispatcher.publish(report.findings[published:])
        published = len(report.findings)
        then(report)

    return on_batch


# -- simulate and demo ----------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.simulator import registry_yaml, simulate, write_jsonl

    periods = load_configured_policy(settings).retention.periods  # what the truth file's retention marks rest on
    events = simulate(args.people, args.days, args.seed, undeclared_rate=args.undeclared_rate, retention=periods)
    target = out if args.output in (None, "-") else Path(args.output).open("w", encoding="utf-8")  # noqa: SIM115
    if args.truth:
        truth_path: Path | None = Path(args.truth)
    else:
        truth_path = Path(args.output + ".truth.jsonl") if args.output not in (None, "-") else None
    truth = truth_path.open("w", encoding="utf-8") if truth_path else None
    try:
        summary = write_jsonl(events, target, truth)
    finally:
        if target is not out:
            target.close()
        if truth:
            truth.close()
    registry = Path(args.output + ".recipients.yaml") if args.output not in (None, "-") else None
    if registry is not None:  # the world's recipient registry, which the truth file's transfer rules rest on
        registry.write_text(registry_yaml(), encoding="utf-8")
    err.write(
        f"simulated {summary}"
        + (f"; truth file: {truth_path}" if truth_path else "")
        + (f"; recipient registry: {registry} (LINEAGE_RECIPIENTS)" if registry else "")
        + "\n"
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.simulator import registry_yaml, simulate, write_jsonl

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lineage-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    events_file, truth_file = workdir / "events.jsonl", workdir / "truth.jsonl"
    store_url = args.store or f"sqlite:///{workdir / 'lineage.db'}"
    registry = workdir / "recipients.yaml"  # the simulated world's recipients, with their transfer safeguards
    registry.write_text(registry_yaml(), encoding="utf-8")
    settings = replace(settings, store=store_url, recipients_file=settings.recipients_file or registry)
    if not settings.pseudonym_key and not args.store:
        # a fresh demo store gets its own key beside it, so the demo never touches the user's key file
        settings = replace(settings, pseudonym_key_file=workdir / "pseudonym.key")
    handler = build_handler(settings)
    with events_file.open("w", encoding="utf-8") as fh, truth_file.open("w", encoding="utf-8") as th:
        sims = list(simulate(args.people, args.days, args.seed, retention=handler.policy.retention.periods))
        write_jsonl(sims, fh, th)
    out.write(
        f"1. Simulated S Plus Helpdesk traffic: {len(sims)} events for {args.people} people over {args.days} days"
        f" -> {events_file}\n"
    )
    dead = FileDeadLetters(workdir / "events.deadletter.jsonl")
    # simulated alerts go to the configured sinks (Teams, Slack, ...) only when asked: never by surprise
    dispatcher = AlertDispatcher.from_settings(handler.store, settings) if args.send_alerts else None
    with events_file.open("rb") as raw:
        on_batch = _alerting(dispatcher, lambda report: None) if dispatcher else None
        report = ingest_lines(read_lines(raw), handler, dead, origin=str(events_file), on_progress=on_batch)
    if dispatcher is not None:
        dispatcher.close()
    dead.close()
    out.write(f"2. Ingested into {store_url}: {report.applied} applied, {report.rejected} rejected\n\n")
    person = _demo_person(sims)
    found = handler.store.who_has(handler.pseudonymizer(person))

    if found:
        answer = found.model_copy(update={"subject": person})
    else:
        answer = WhoHas(subject=person, categories=[], recipients=[])
    out.write("3. Who has this person's data?  (lineage who-has " + person + ")\n\n")
    out.write(render.who_has_text(answer) + "\n")
    alerts = handler.store.alerts()
    planted = sum(1 for s in sims if s.undeclared)
    out.write(
        f"4. Undeclared flows: {len(alerts)} alert(s) from {len(report.findings)} finding(s); "
        f"the simulator planted {planted} undeclared event(s) (see {truth_file})\n\n"
    )
    out.write(render.alerts_text(alerts[: args.show_alerts]))
    if len(alerts) > args.show_alerts:
        out.write(f"... and {len(alerts) - args.show_alerts} more: lineage alerts --store {store_url}\n")
    key_env = (
        f"LINEAGE_PSEUDONYM_KEY_FILE={settings.pseudonym_key_file} "
        if not settings.pseudonym_key and not args.store
        else ""
    )
    out.write(f"\nTry: {key_env}lineage who-has '{person}' --store {store_url} --format json\n")
    handler.store.close()
    return EXIT_OK


def _demo_person(sims: Sequence[SimulatedEvent]) -> str:
    """Someone whose data went to a recipient the policy does not declare, else to any recipient, else anyone."""
    shares = [s for s in sims if s.event["kind"] == "shared"]
    chosen = next((s for s in shares if s.undeclared), shares[0] if shares else sims[0])
    return str(chosen.event["subject"]["id"])


# -- the parsers ----------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """`lineage ingest` (first among the commands, as it is the first a user runs)."""
    sp = with_store(sub.add_parser("ingest", help="validate and apply JSON Lines events from FILE or - (stdin)"))
    sp.add_argument("file", metavar="FILE|-", help="a JSON Lines file of events, or - for standard input")
    sp.add_argument("--dead-letters", metavar="FILE", help="where rejected lines go (default: FILE.deadletter.jsonl)")
    sp.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE, help="lines per transaction")
    sp.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        default=2 if (os.cpu_count() or 1) > 1 else 1,
        help="2: a second process prepares every other batch while this one stores (a SQLite file store, more than "
        "one batch of input); 1: this process alone",
    )
    sp.add_argument("--progress", action="store_true", help="show a progress bar even when stderr is not a terminal")
    sp.set_defaults(func=cmd_ingest)


def register_simulation(sub: Any) -> None:
    """`lineage simulate` and `lineage demo`."""
    sp = sub.add_parser("simulate", help="write simulated S Plus Helpdesk traffic as JSON Lines")
    sp.add_argument("--people", type=positive_int, default=100, help="how many people")
    sp.add_argument("--days", type=positive_int, default=30, help="how many days of traffic")
    sp.add_argument("--seed", type=int, default=1, help="random seed (the same seed gives the same events)")
    sp.add_argument(
        "--undeclared-rate",
        type=fraction,
        default=0.02,
        metavar="RATE",
        help="share of events planted as flows the policy does not declare, from 0 to 1",
    )
    sp.add_argument("--output", "-o", metavar="FILE", help="events file (default: stdout)")
    sp.add_argument(
        "--truth",
        metavar="FILE",
        help="truth file listing undeclared event ids (default: OUTPUT.truth.jsonl; none on stdout)",
    )
    sp.add_argument(
        "--policy",
        metavar="FILE",
        help="policy whose retention periods the world keeps to, but for planted uses past them (default: "
        "$LINEAGE_POLICY or the bundled S Plus policy, which declares none); the other truth marks are the S Plus "
        "policy's",
    )
    sp.set_defaults(func=cmd_simulate)

    sp = sub.add_parser("demo", help="simulate, ingest and show one person's lineage and the undeclared flows")
    sp.add_argument("--store", metavar="URL", help="store URL (default: a fresh SQLite file in the work folder)")
    sp.add_argument("--policy", metavar="FILE", help="policy file (default: $LINEAGE_POLICY or the bundled one)")
    sp.add_argument("--workdir", metavar="DIR", help="where to write the demo files (default: a new temporary folder)")
    sp.add_argument("--people", type=positive_int, default=50, help="how many simulated people")
    sp.add_argument("--days", type=positive_int, default=30, help="how many days of traffic")
    sp.add_argument("--seed", type=int, default=7, help="random seed")
    sp.add_argument("--show-alerts", type=non_negative_int, default=8, metavar="N", help="alerts to print")
    sp.add_argument("--send-alerts", action="store_true", help="also send its alerts to the LINEAGE_ALERT_* sinks")
    sp.set_defaults(func=cmd_demo)
