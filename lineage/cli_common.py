"""What every `lineage` command shares: exit codes, usage errors, date and region syntax, settings from arguments."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO, TypeVar

from config import Settings
from reports.vocab import EEA

if TYPE_CHECKING:
    from streams.deadletter import FileDeadLetters

#: Exit codes of every command: 1 when some input was rejected (the rest applied) or the work is incomplete;
#: 2 when the command could not be used as called: bad arguments or settings, a store or broker it cannot use;
#: 3 for an internal error: input that could not be handled for a reason that is not the input's (dead-lettered
#: with the error's type, after the rest of the input), a dead letter that could not be written, or a failure of the
#: command itself (never a traceback, never the error's text: it could quote the input).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # the reader closed the pipe: what a shell reports for a writer ended by SIGPIPE

N = TypeVar("N", int, float)

#: A command: the parsed arguments, the settings read once from them and the environment, stdout, stderr.
Command = Callable[[argparse.Namespace, Settings, TextIO, TextIO], int]


class UsageError(Exception):
    """A problem with how the command was called (exit status 2)."""


class ArgumentsError(UsageError):
    """Arguments the parser refused: ``prog`` is the command they were given to (``lineage simulate``)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        quiet: tuple[object, ...] = (None, False, argparse.SUPPRESS, [])
        if action.option_strings and action.default not in quiet and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """The parser of every `lineage` command: a refused argument is one line naming the command, exit status 2
    (raised as :class:`ArgumentsError` for ``main`` to write), and help shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(self.prog, message)


def name_commands(parser: argparse.ArgumentParser) -> None:
    """Give every command's namespace its full name (``prog``: ``lineage deadletters purge``), for its messages."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(prog=sub.prog)
                name_commands(sub)


def positive_int(text: str) -> int:
    """A whole number of 1 or more (counts, sizes)."""
    return _bounded(int, text, 1, None, "a whole number of 1 or more")


def non_negative_int(text: str) -> int:
    """A whole number of 0 or more."""
    return _bounded(int, text, 0, None, "a whole number of 0 or more")


def positive_float(text: str) -> float:
    """A number above 0 (seconds)."""
    value = _bounded(float, text, 0.0, None, "a number above 0")
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1 (a rate)."""
    return _bounded(float, text, 0.0, 1.0, "a number from 0 to 1")


def _bounded(kind: Callable[[str], N], text: str, low: N, high: N | None, what: str) -> N:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < low or (high is not None and value > high) or value != value:  # NaN is no number of a range
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


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


def open_events_and_dead_letters(
    name: str, dead_letters: str | None
) -> tuple[BinaryIO, str, int | None, FileDeadLetters]:
    """:func:`open_events`, and the dead-letter file its rejected lines go to (``dead_letters`` or the default beside
    it), refused before anything is read when it cannot be written."""
    from streams.deadletter import FileDeadLetters

    fh, origin, total, default_path = open_events(name)
    dead = FileDeadLetters(Path(dead_letters) if dead_letters else default_path)
    problem = dead.problem()
    if problem is not None:
        if name != "-":
            fh.close()
        raise UsageError(f"cannot write dead letters: {problem} (choose another with --dead-letters)")
    return fh, origin, total, dead


def with_store(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --store and --policy to a command."""
    sp.add_argument("--store", metavar="URL", help="store URL (default: $LINEAGE_STORE or sqlite:///lineage.db)")
    sp.add_argument(
        "--policy", metavar="FILE", help="policy file (default: $LINEAGE_POLICY or the bundled S Plus policy)"
    )
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
