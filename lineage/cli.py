"""The `lineage` command line: who-has, alerts, stats, schema and completion here, the rest from the cli_* modules
(ingest, simulate and demo in cli_ingest), with one error handling for all of them in `main`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, TextIO

from config import Settings, SettingsError
from graph.pseudonym import PseudonymKeyError
from graph.store import StoreError
from lineage import (
    cli_ingest,
    cli_neo4j,
    cli_notify,
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
    iso,
    name_commands,
    settings_from,
    with_store,
)
from lineage.wiring import load_configured_policy, open_configured_store, pseudonymizer
from policies import PolicyFileError
from schemas.events import json_schema
from streams.handler import describe_error

if TYPE_CHECKING:
    pass


# -- queries --------------------------------------------------------------------------------------
def cmd_who_has(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from graph.concerning import person_alerts, person_lookup

    key = pseudonymizer(settings, create=False)
    pseudonym = key(args.subject)
    policy = load_configured_policy(settings)
    with open_configured_store(settings, existing=True) as store:
        if store.has_events():
            store.bind_key(key.fingerprint)  # checks the key (a store written by the handler holds its fingerprint)
        answer = person_lookup(store, pseudonym, args.subject, policy)  # the console's answer, opt-outs included
        alerts = person_alerts(store, pseudonym)
        erasures = store.erasures([pseudonym]).get(pseudonym, [])
    record_lookup(
        args,
        settings,
        action="who-has",
        pseudonym=pseudonym,
        returned={
            "categories": len(answer.categories),
            "recipients": len(answer.recipients),
            "opt_outs": len(answer.opt_outs),
        },
    )
    if args.format == "json":
        out.write(answer.model_dump_json(indent=2) + "\n")
    else:
        from reports.vocab import Vocabulary

        out.write(render.who_has_text(answer, alerts, erasures, Vocabulary(policy)))
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

    cli_ingest.register(sub)

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

    for register in (
        cli_ingest.register_simulation,
        cli_reports.register,
        cli_streams.register,
        cli_web.register,
        cli_privacy.register,
        cli_policy.register,
        cli_neo4j.register,
        cli_recipients.register,
        cli_retention.register,
        cli_notify.register,
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
