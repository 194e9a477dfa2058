"""`lineage policy ...`: check a policy file against its source text; write its sentence-by-sentence mapping.

Each subcommand is one entry of :data:`COMMANDS` (name, help, how it takes its arguments, what it runs), so a new
one is a function and a table line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from config import Settings
from lineage import cli_fides
from lineage.cli_common import EXIT_FAILED, EXIT_OK, Command
from policies import DEFAULT_POLICY_FILE, PolicyFileError, load_policy
from policies.fidelity import source_file
from policies.fides import needs_quote
from schemas.policy import Policy


def cmd_check(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Every problem of the file, in line order, on stderr; exit 1 if there is any."""
    try:
        policy = load_policy(args.file)
    except PolicyFileError as exc:
        for line in exc.lines():
            err.write(line + "\n")
        err.write(f"{exc.file}: {len(exc.problems)} problem(s)\n")
        return EXIT_FAILED
    missing = needs_quote(policy)  # a skeleton imported from Fides: clauses still to quote
    for where in missing:
        err.write(f"{args.file}: {where}.clause: needs a quote from the policy text (imported from Fides)\n")
    if missing:
        err.write(f"{args.file}: {len(missing)} problem(s)\n")
        return EXIT_FAILED
    source = _source_of(policy, Path(args.file))
    against = (
        f"; every quote, sentence and key checked against {source}"
        if source is not None
        else "; it names no source text, so its quotes were not checked"
    )
    out.write(
        f"{args.file}: OK — policy {policy.id} version {policy.version}: {len(policy.collections)} collection, "
        f"{len(policy.uses)} use and {len(policy.disclosures)} disclosure declaration(s){against}\n"
    )
    return EXIT_OK


def _source_of(policy: Policy, file: Path) -> Path | None:
    return source_file({"source": policy.source}, file)


def cmd_mapping(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """The mapping document of a policy: to stdout, to --output, or compared with --output (--check)."""
    from policies.mapping import policy_mapping
    from policies.source_text import read_source

    file = Path(args.policy) if args.policy else DEFAULT_POLICY_FILE
    try:
        policy = load_policy(file)
    except PolicyFileError as exc:
        for line in exc.lines():
            err.write(line + "\n")
        err.write(f"{exc.file}: {len(exc.problems)} problem(s): fix them first (lineage policy check)\n")
        return EXIT_FAILED
    source = _source_of(policy, file)
    if source is None:
        err.write(f"{file}: names no source text: there is nothing to map sentence by sentence\n")
        return EXIT_FAILED
    text = policy_mapping(policy, read_source(source), policy_name=_shown(file), source_name=_shown(source))
    target = Path(args.output) if args.output else None
    if args.check:
        if target is None:
            err.write("lineage policy mapping: --check needs --output FILE to compare with\n")
            return EXIT_FAILED
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            err.write(f"{target} is not what `lineage policy mapping` writes for {file}: regenerate it\n")
            return EXIT_FAILED
        out.write(f"{target}: current\n")
        return EXIT_OK
    if target is None:
        out.write(text)
    else:
        target.write_text(text, encoding="utf-8")
        out.write(f"wrote {target}\n")
    return EXIT_OK


def _shown(path: Path) -> str:
    """A path as the document names it: relative to the working folder when inside it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _check_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("file", help="the policy file (YAML or JSON)")


def _mapping_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--policy", help="policy file (default: the bundled S Plus policy)")
    sp.add_argument("--output", "-o", help="write to FILE (default: standard output)")
    sp.add_argument("--check", action="store_true", help="exit 1 unless --output already holds what would be written")


COMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None], Command], ...] = (
    (
        "check",
        "validate a policy file and hold it to its source text; every problem with its file and line",
        _check_args,
        cmd_check,
    ),
    (
        "mapping",
        "write the policy's mapping: every sentence of its source, what it declares, the rules fed, the choices made",
        _mapping_args,
        cmd_mapping,
    ),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage policy ...` to the CLI's subparsers."""
    pol = subparsers.add_parser(
        "policy", help="policy files: check them against their source text, map them, exchange them with Fides"
    )
    sub = pol.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    for name, help_text, arguments, func in COMMANDS:
        sp = sub.add_parser(name, help=help_text)
        arguments(sp)
        sp.set_defaults(func=func)
    cli_fides.register(sub)  # export-fides, import-fides
