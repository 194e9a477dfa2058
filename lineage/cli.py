"""The `lineage` command line: ingest, who-has, simulate, demo, schema, policy check and Fides files, alerts, stats."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from config import Settings, SettingsError
from graph.pseudonym import PseudonymKeyError
from graph.store import StoreError
from lineage import (
    cli_neo4j,
    cli_policy,
    cli_privacy,
    cli_recipients,
    cli_reports,
    cli_retention,
    cli_streams,
    cli_web,
    render,
)
from lineage.cli_audit import add_actor, record_lookup
from lineage.cli_common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    ArgumentsError,
    Parser,
    UsageError,
    fraction,
    iso,
    name_commands,
    non_negative_int,
    open_events,
    positive_int,
    settings_from,
    with_store,
)
from lineage.wiring import build_handler, load_configured_policy, open_configured_store, pseudonymizer
from policies import PolicyFileError
from policies.retention import RetentionJudge
from schemas.answers import WhoHas
from schemas.events import json_schema
from streams.alerts.dispatcher import AlertDispatcher
from streams.deadletter import DeadLetter, DeadLetterSink, FileDeadLetters
from streams.embedded import BATCH_SIZE, IngestReport, ingest_lines, read_lines
from streams.handler import describe_error
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
    fh, origin, total, default_dlq = open_events(args.file)
    dlq_path = Path(args.dead_letters) if args.dead_letters else default_dlq
    dead = FileDeadLetters(dlq_path)
    problem = dead.problem()
    if problem is not None:
        if args.file != "-":
            fh.close()
        raise UsageError(f"cannot write dead letters: {problem} (choose another with --dead-letters)")
    shown = _Shown(dead)
    progress = _Progress(total, args.progress or (err.isatty() and (total or 0) > 5_000_000), err)
    handler = build_handler(settings)
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
        + f", {len(report.findings)} undeclared-flow finding(s)\n"
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
    return EXIT_FAILED if report.rejected else EXIT_OK


def _alerting(dispatcher: AlertDispatcher, then: Callable[[IngestReport], None]) -> Callable[[IngestReport], None]:
    """After each batch: hand its new findings to the alert sinks, then report progress."""
    published = 0

    def on_batch(report: IngestReport) -> None:
        nonlocal published
        dispatcher.publish(report.findings[published:])
        published = len(report.findings)
        then(report)

    return on_batch


# -- queries --------------------------------------------------------------------------------------
def cmd_who_has(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from graph.concerning import person_alerts

    key = pseudonymizer(settings, create=False)
    pseudonym = key(args.subject)
    with open_configured_store(settings, existing=True) as store:
        if store.has_events():
            store.bind_key(key.fingerprint)  # checks the key (a store written by the handler holds its fingerprint)
        found = store.who_has(pseudonym)
        alerts = person_alerts(store, pseudonym)
        erasures = store.erasures([pseudonym]).get(pseudonym, [])
    answer = (
        RetentionJudge(load_configured_policy(settings)).with_kept_until(
            found.model_copy(update={"subject": args.subject})
        )
        if found
        else WhoHas(subject=args.subject, categories=[], recipients=[])
    )
    record_lookup(
        args,
        settings,
        action="who-has",
        pseudonym=pseudonym,
        returned={"categories": len(answer.categories), "recipients": len(answer.recipients)},
    )
    if args.format == "json":
        out.write(answer.model_dump_json(indent=2) + "\n")
    else:
        from reports.vocab import Vocabulary

        vocab = Vocabulary(load_configured_policy(settings))
        out.write(render.who_has_text(answer, alerts, erasures, vocab))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    with open_configured_store(settings, existing=True) as store:
        if args.action == "ack":
            if not args.alert_id:
                raise UsageError("give the alert's id: lineage alerts ack ALERT_ID")
            known = {a.alert_id: a for a in store.alerts()}.get(args.alert_id)
            if known is None:
                err.write(f"{args.prog}: no alert with id {args.alert_id}\n")
                return EXIT_FAILED
            if known.status == "acknowledged":
                out.write(f"{args.alert_id} was already acknowledged; nothing changed\n")
                return EXIT_OK
            store.acknowledge_alert(args.alert_id)
            out.write(f"acknowledged {args.alert_id}\n")
            return EXIT_OK
        if args.alert_id:
            raise UsageError(f"an alert id goes with ack only: lineage alerts ack {args.alert_id}")
        alerts = store.alerts(status=args.status, rule=args.rule, since=args.since)
    if args.format == "json":
        out.write(json.dumps([a.model_dump(mode="json") for a in alerts], indent=2) + "\n")
    else:
        out.write(render.alerts_text(alerts))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    with open_configured_store(settings, existing=True) as store:
        out.write(store.stats().model_dump_json(indent=2) + "\n")
    return EXIT_OK


# -- contract and policy --------------------------------------------------------------------------
def cmd_schema(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    out.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


# -- simulate and demo ----------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.simulator import registry_yaml, simulate, write_jsonl

    events = simulate(args.people, args.days, args.seed, undeclared_rate=args.undeclared_rate)
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
    with events_file.open("w", encoding="utf-8") as fh, truth_file.open("w", encoding="utf-8") as th:
        sims = list(simulate(args.people, args.days, args.seed))
        write_jsonl(sims, fh, th)
    out.write(
        f"1. Simulated S Plus Helpdesk traffic: {len(sims)} events for {args.people} people over {args.days} days"
        f" -> {events_file}\n"
    )
    handler = build_handler(settings)
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


# -- shell completion ---------------------------------------------------------------------------
COMPLETION_SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def cmd_completion(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from argcomplete.shell_integration import shellcode

    out.write(shellcode(["lineage"], shell=args.shell))
    return EXIT_OK


# -- parser ---------------------------------------------------------------------------------------
def rule_ids() -> list[str]:
    """The ids of the compliance rules an alert can carry, as the policy judgement defines them."""
    from policies.compliance import RULES

    return [rule.id for rule in RULES]


def build_parser() -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = Parser(prog="lineage", description="Personal-data lineage and disclosure tracker.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    sp = with_store(sub.add_parser("who-has", help="what is known of one person's data, and who received it"))
    sp.add_argument("subject", metavar="SUBJECT_ID", help="the person's id, as the events carry it")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_actor(sp)
    sp.set_defaults(func=cmd_who_has)

    sp = with_store(sub.add_parser("alerts", help="list undeclared flows found, or acknowledge one"))
    sp.add_argument("action", nargs="?", choices=("list", "ack"), default="list", help="list them, or ack one")
    sp.add_argument("alert_id", nargs="?", metavar="ALERT_ID", help="the alert to acknowledge (with ack)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    sp.add_argument("--status", choices=("open", "acknowledged"), help="only alerts of this status (default: any)")
    sp.add_argument(
        "--rule",
        choices=rule_ids(),
        metavar="RULE",
        help="only alerts of this rule: " + ", ".join(rule_ids()) + " (default: any)",
    )
    sp.add_argument("--since", type=iso, metavar="WHEN", help="only alerts last seen at or after this ISO 8601 time")
    sp.set_defaults(func=cmd_alerts)

    sp = with_store(sub.add_parser("stats", help="counts of what the store holds"))
    sp.set_defaults(func=cmd_stats)

    sp = sub.add_parser("schema", help="print the event contract as JSON Schema")
    sp.set_defaults(func=cmd_schema)

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
    for register in (
        cli_reports.register,
        cli_streams.register,
        cli_web.register,
        cli_privacy.register,
        cli_policy.register,
        cli_neo4j.register,
        cli_recipients.register,
        cli_retention.register,
    ):
        register(sub)

    sp = sub.add_parser(
        "completion",
        help="print the shell code that completes lineage commands and options",
        description='Completion for bash: eval "$(lineage completion bash)" (add it to ~/.bashrc); zsh: the same '
        "in ~/.zshrc; fish: lineage completion fish | source.",
    )
    sp.add_argument("shell", choices=COMPLETION_SHELLS, nargs="?", default="bash", help="the shell")
    sp.set_defaults(func=cmd_completion)
    name_commands(p)
    return p


def _version() -> str:
    try:
        return version("privacy-lineage")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "unknown"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see `lineage completion`): answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    prog = "lineage"
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit 0
            return int(exc.code or 0)
        prog = args.prog
        settings = settings_from(args)  # read once, for every command: a malformed LINEAGE_* value stops it here
        return int(args.func(args, settings, out, err))
    except ArgumentsError as exc:
        err.write(f"{exc.prog}: {exc} (see '{exc.prog} --help')\n")
        return EXIT_USAGE
    except (SettingsError, UsageError, StoreError, PolicyFileError, PseudonymKeyError) as exc:
        err.write(f"{prog}: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader went away (`lineage evidence REF | head`): stop quietly, as `cat` would
        if out is sys.stdout:  # and keep Python's flush at exit from failing on it again
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: say where, never what (an exception's text may quote the input)
        err.write(f"lineage: internal error: {describe_error(exc)}; nothing of its text is shown, it may quote input\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
