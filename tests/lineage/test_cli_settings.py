"""A malformed LINEAGE_* value stops every command with a usage error (exit 2) that names the variable."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Every runnable command line of the parser, with its required arguments filled in."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subcommands:
        for name, sub in subcommands[0].choices.items():
            yield from _commands(sub, (*prefix, name))
        return
    argv = list(prefix)
    for action in parser._actions:
        value = str(action.choices[0]) if action.choices else "x"  # type: ignore[index]
        if not action.option_strings and action.nargs not in ("?", "*"):
            argv.append(value)
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], value]
    yield argv


COMMANDS = list(_commands(build_parser()))


def test_the_walk_finds_every_command() -> None:
    grouped = ("report", "policy", "topics", "tokens", "deadletters")
    names = {" ".join(c[: 2 if c[0] in grouped else 1]) for c in COMMANDS}
    assert {"ingest", "who-has", "report access", "report gaps", "worker", "alerter", "serve", "tokens add"} <= names
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_a_malformed_setting_is_a_usage_error_naming_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing a command might create lands in the source tree
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("LINEAGE_ALERT_TIMEOUT", "abc")
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out, err) == 2
    prog = build_parser().parse_args(argv).prog  # the whole command: `lineage report access`, not `lineage report`
    assert err.getvalue() == f"{prog}: LINEAGE_ALERT_TIMEOUT='abc': expected a number\n"
    assert out.getvalue() == "" and list(tmp_path.iterdir()) == []  # stopped before doing anything
