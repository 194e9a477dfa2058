"""`lineage recipients ...`: check a recipient registry file, and list what transfers to each recipient rest on."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TextIO

from config import Settings
from lineage.cli_common import EXIT_FAILED, EXIT_OK
from policies.adequacy import adequacy_list, transfer_basis
from policies.recipients import read_registry


def cmd_check(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Every problem of the file with its line and field on stderr (exit 1); else what transfers rest on."""
    path = Path(args.file)
    registry, problems = read_registry(path)
    if problems or registry is None:
        for p in problems:
            err.write(f"{path}: {p}\n")
        err.write(f"{path}: {len(problems)} problem(s)\n")
        return EXIT_FAILED
    adequacy = adequacy_list()
    bases = [(r, transfer_basis(r.country, r, r.type.value)) for r in registry.recipients]
    counts = Counter(b.status for _, b in bases)
    out.write(
        f"{path}: OK — {len(registry.recipients)} recipient(s): {counts['home']} in the {adequacy.home_area}, "
        f"{counts['adequacy']} on an adequacy decision, {counts['safeguard']} on a safeguard, {counts['none']} with "
        f"nothing to rest a transfer on (adequacy decisions as of {adequacy.as_of.isoformat()})\n"
    )
    if args.verbose:
        for r, b in bases:
            out.write(f"  {r.id} ({r.type.value}, {r.country}, {r.role.value}): {b.words}\n")
    else:
        for r, b in bases:
            if b.status == "none":
                out.write(f"  {r.id} ({r.country}): {b.words}\n")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lineage recipients ...` to the CLI's subparsers."""
    rec = subparsers.add_parser("recipients", help="the recipient registry: check a registry file")
    sub = rec.add_subparsers(dest="recipients_command", required=True, metavar="COMMAND")
    sp = sub.add_parser(
        "check",
        help="validate a registry file (YAML or CSV): every problem with its line and field; exit 1 if any",
    )
    sp.add_argument("file", help="the registry file (.csv: CSV with a header row; otherwise YAML)")
    sp.add_argument("--verbose", "-v", action="store_true", help="say what a transfer to each recipient rests on")
    sp.set_defaults(func=cmd_check)
