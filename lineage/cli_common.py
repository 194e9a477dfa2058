"""What every `lineage` command shares: exit codes, usage errors, date and region syntax, settings from arguments."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from config import Settings
from reports.vocab import EEA

#: Exit codes of every command: 1 when some input was rejected (the rest applied) or the work is incomplete;
#: 2 when the command could not be used as called: bad arguments or settings, a store or broker it cannot use;
#: 3 for an internal error: input that could not be handled for a reason that is not the input's (dead-lettered
#: with the error's type, after the rest of the input), a dead letter that could not be written, or a failure of the
#: command itself (never a traceback, never the error's text: it could quote the input).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

#: A command: the parsed arguments, the settings read once from them and the environment, stdout, stderr.
Command = Callable[[argparse.Namespace, Settings, TextIO, TextIO], int]


class UsageError(Exception):
    """A problem with how the command was called (exit status 2)."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of a command: the environment's, with the command's --store, --policy and --bootstrap.

    Raises :class:`config.SettingsError` (naming the variable) for a malformed LINEAGE_* value.
    """
    policy = getattr(args, "policy", None)
    return Settings.from_env(
        store=getattr(args, "store", None),
        policy_file=Path(policy) if policy else None,
        kafka_bootstrap=getattr(args, "bootstrap", None),
    )


def open_events(name: str) -> tuple[BinaryIO, str, int | None, Path]:
    """The JSON Lines events of FILE or - (stdin), in binary (the reader decides what is UTF-8): the stream, its name
    for messages, its size when known and its default dead-letter path. The caller closes a file it opened."""
    if name == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:  # a text stream stands in for stdin (tests)
            stdin = io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
        return stdin, "<stdin>", None, Path("stdin.deadletter.jsonl")
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    return path.open("rb"), str(path), path.stat().st_size, path.with_name(path.name + ".deadletter.jsonl")


def with_store(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --store and --policy to a command."""
    sp.add_argument("--store", help="store URL (default: $LINEAGE_STORE or sqlite:///lineage.db)")
    sp.add_argument("--policy", help="policy file (default: $LINEAGE_POLICY or the bundled S Plus policy)")
    return sp


def iso(text: str) -> datetime:
    """An ISO 8601 date or time (UTC when it has no zone): the one date syntax of every command."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def region(text: str) -> frozenset[str]:
    """A person's region: ISO 3166 country codes and/or ``EEA``, comma-separated (the CLI's and the API's syntax)."""
    codes: set[str] = set()
    for part in text.split(","):
        code = part.strip().upper()
        if code == "EEA":
            codes |= EEA
        elif len(code) == 2 and code.isalpha():
            codes.add(code)
        elif code:
            raise argparse.ArgumentTypeError(f"not a country code or 'EEA': {part.strip()!r}")
    return frozenset(codes)
