"""What people expect of a command line: --version, python -m, completion, help with defaults, one-line usage
errors (exit 2), read commands that create nothing, results on stdout and diagnostics on stderr."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage.cli import build_parser, main, rule_ids
from tests.factories import BROKER, event

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    return f"sqlite:///{tmp_path / 'lineage.db'}"


def ingest(store: str, tmp_path: Path, *events: dict[str, object], name: str = "e.jsonl") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run("ingest", str(path), "--store", store)


def _leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for sub in subs:
        for child in sub.choices.values():
            yield from _leaves(child)


# -- conventions of the parser --------------------------------------------------------------------
def test_version_and_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version")[0] == 0
    printed = capsys.readouterr().out
    assert printed.startswith("lineage ") and printed.split()[1][0].isdigit()
    done = subprocess.run(
        [sys.executable, "-m", "lineage", "--version"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (done.returncode, done.stdout) == (0, printed)


def test_every_argument_has_help_and_every_default_is_shown() -> None:
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 25
    for parser in leaves:
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = action.option_strings or action.dest
            assert action.help, f"{parser.prog} {name}: no help text"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS, []):
                assert f"default: {action.default}" in text or "default" in action.help, (parser.prog, name)


def test_completion_script_and_completions(tmp_path: Path) -> None:
    code, out, _ = run("completion", "bash")
    assert code == 0 and "complete" in out and "lineage" in out and "_ARGCOMPLETE" in out

    def complete(line: str) -> set[str]:
        answer = tmp_path / "completions"
        env = os.environ | {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
        }
        subprocess.run([sys.executable, "-m", "lineage"], env=env, cwd=ROOT, capture_output=True, check=False)
        return {word.strip() for word in answer.read_text().split("\n")}

    assert {"who-has"} <= complete("lineage wh")
    assert complete("lineage alerts --rule undeclared-r") == {"undeclared-recipient-type"}
    assert {"access", "art19", "ropa"} <= complete("lineage report ")


def test_a_refused_argument_is_one_line_exit_2_without_a_traceback() -> None:
    code, out, err = run("simulate", "--people", "-5")
    assert (code, out) == (2, "")
    assert (
        err == "lineage simulate: argument --people: '-5' is not a whole number of 1 or more "
        "(see 'lineage simulate --help')\n"
    )
    for argv in (
        ["simulate", "--undeclared-rate", "1.5"],
        ["ingest", "x", "--batch-size", "0"],
        ["who-has"],
        ["frobnicate"],
        ["topics", "create", "--partitions", "many"],
    ):
        code, _, err = run(*argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_a_usage_error_names_the_command_once(tmp_path: Path) -> None:
    code, _, err = run("deadletters", "purge", str(tmp_path / "missing.jsonl"), "--subject", "x")
    assert code == 2
    assert (
        err == f"lineage deadletters purge: dead-letter file {tmp_path / 'missing.jsonl'} does not exist or is "
        "not a file\n"
    )
    code, _, err = run("ingest", str(tmp_path / "missing.jsonl"), "--store", f"sqlite:///{tmp_path / 'x.db'}")
    assert (code, err) == (2, f"lineage ingest: no such file: {tmp_path / 'missing.jsonl'}\n")


# -- read commands --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["stats"],
        ["who-has", "alice@example.com"],
        ["alerts"],
        ["report", "ropa"],
        ["report", "access", "a@b.c"],
        ["erasures", "a@b.c"],
        ["purge"],
        ["erase", "a@b.c", "--dry-run"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_read_commands_refuse_a_store_that_does_not_exist(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    path = tmp_path / "typo.db"
    code, out, err = run(*argv, "--store", f"sqlite:///{path}")
    assert (code, out) == (2, "")
    assert (
        err.endswith(
            f": there is no SQLite store at {path}: nothing has been ingested there (check --store or LINEAGE_STORE)\n"
        )
        and err.count("\n") == 1
    )
    assert list(tmp_path.iterdir()) == []  # no store, no key file


def test_a_lookup_creates_no_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY_FILE", str(tmp_path / "keys" / "pseudonym.key"))
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    assert ingest(store, tmp_path, event())[0] == 0
    (tmp_path / "keys" / "pseudonym.key").unlink()
    code, _, err = run("who-has", "alice@example.com", "--store", store)
    assert code == 2 and "there is no pseudonym key at" in err
    assert not (tmp_path / "keys" / "pseudonym.key").exists()


# -- alerts ---------------------------------------------------------------------------------------
def test_rule_is_checked_against_the_known_rules(store: str, tmp_path: Path) -> None:
    ingest(store, tmp_path, event("shared", recipient=BROKER))
    code, out, err = run("alerts", "--store", store, "--rule", "nonsense")
    assert (code, out) == (2, "") and "invalid choice: 'nonsense'" in err and "undeclared-recipient-type" in err
    code, out, _ = run("alerts", "--store", store, "--rule", "undeclared-recipient-type")
    assert code == 0 and "undeclared-recipient-type" in out
    from policies.compliance import RULES

    assert rule_ids() == [r.id for r in RULES]  # read from the rules, never a copy


def test_acknowledging_twice_says_so(store: str, tmp_path: Path) -> None:
    ingest(store, tmp_path, event("shared", recipient=BROKER))
    (alert,) = json.loads(run("alerts", "--store", store, "--format", "json", "--rule", "undeclared-recipient-type")[1])
    assert run("alerts", "ack", alert["alert_id"], "--store", store)[1] == f"acknowledged {alert['alert_id']}\n"
    code, out, _ = run("alerts", "ack", alert["alert_id"], "--store", store)
    assert (code, out) == (0, f"{alert['alert_id']} was already acknowledged; nothing changed\n")
    code, _, err = run("alerts", "ack", "a_nope", "--store", store)
    assert (code, err) == (1, "lineage alerts: no alert with id a_nope\n")


# -- who-has and erase ----------------------------------------------------------------------------
def test_who_has_marks_undeclared_flows_and_names_an_erasure(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "recipients.yaml"  # the affiliate's transfers rest on the group's BCR; the broker is in none
    registry.write_text(
        "recipients:\n  - {id: hk-affiliate, name: SOS Hong Kong Ltd, type: affiliate, country: HK, role: controller,"
        " safeguard: {kind: bcr, reference: SOS Group BCR, date: 2024-05-02}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(registry))
    ingest(
        store,
        tmp_path,
        event("collected"),
        event("shared", recipient=BROKER, purpose="marketing.advertising"),
        event("shared", event_id="fine-1"),
        event("collected", data_categories=["user.biometric.voice"]),  # a category the policy never declares
    )
    code, out, _ = run("who-has", "alice@example.com", "--store", store)
    assert code == 0
    broker = next(line for line in out.splitlines() if "DataBrokr Inc" in line)
    affiliate = next(line for line in out.splitlines() if "SOS Hong Kong Ltd" in line)
    assert broker.endswith("UNDECLARED") and "UNDECLARED" not in affiliate
    voice = next(line for line in out.splitlines() if "(user.biometric.voice)" in line)
    email = next(line for line in out.splitlines() if "(user.contact.email)  [" in line)
    assert voice.endswith("UNDECLARED") and "UNDECLARED" not in email  # the category's own line, not its neighbours
    # the voiceprint, and the broker's disclosure: an undeclared recipient type, a transfer to the US with no
    # safeguard, and the first disclosure to a recipient the registry does not list
    assert "Undeclared flows (4 alert(s); counts are this person's events):" in out
    assert "new-recipient" in out
    flows = out.split("Undeclared flows")[1].splitlines()[1:]
    # each alert names its data, purpose and recipient in words, as the lists above do
    assert all("-> DataBrokr Inc (" in line for line in flows if line.startswith("  - [") and "->" in line)
    assert any("(user.biometric.voice)" in line for line in flows if line.startswith("  - ["))
    assert "User Contact Email (user.contact.email)" in out  # a label, with its key

    code, out, _ = run(
        "erase",
        "alice@example.com",
        "--store",
        store,
        "--at",
        "2026-03-05T00:00:00Z",
        "--event-id",
        "erase-1",
        "--reason",
        "Art. 17 request",
    )
    assert code == 0
    code, out, _ = run("who-has", "alice@example.com", "--store", store)
    assert out.startswith("No data is recorded for alice@example.com: the person was erased.\n")
    assert "Erased as of 2026-03-05 00:00:00 UTC (erasure event erase-1, reason: Art. 17 request)" in out


def test_erase_dry_run_changes_nothing(store: str, tmp_path: Path) -> None:
    ingest(store, tmp_path, event("collected"), event("shared", recipient=BROKER))
    letters = tmp_path / "dead.jsonl"
    letters.write_text(
        json.dumps({"origin": "x", "line": 1, "reason": "r", "raw": '{"id": "alice@example.com"}'}) + "\n",
        encoding="utf-8",
    )
    before = run("stats", "--store", store)[1]
    code, out, err = run("erase", "alice@example.com", "--store", store, "--dry-run", "--dead-letters", str(letters))
    assert (code, err) == (0, "")
    assert out.startswith("Dry run: nothing was changed.\n")
    assert "DataBrokr Inc (brokr, " in out and f"Dead letters in {letters}: would remove 1 naming the person." in out
    assert run("stats", "--store", store)[1] == before
    assert run("erasures", "alice@example.com", "--store", store)[1] == "No erasure is recorded for this person.\n"
    assert len(letters.read_text().splitlines()) == 1


def test_erasing_someone_never_seen_says_so(store: str, tmp_path: Path) -> None:
    ingest(store, tmp_path, event())
    code, out, _ = run("erase", "nobody@example.com", "--store", store, "--event-id", "e-nobody")
    assert code == 0
    assert out.startswith("No personal data of this person was recorded, so none was erased. The erasure is recorded")
    assert "Erased the person" not in out


# -- ingest ---------------------------------------------------------------------------------------
def test_ingesting_a_file_again_adds_no_dead_letters(store: str, tmp_path: Path) -> None:
    bad = [event("used", event_id="bad-1", purpose="not.a.purpose"), event(event_id="ok-1")]
    code, out, err = ingest(store, tmp_path, *bad)
    assert code == 1 and "1 line(s) rejected" in out and ":1: rejected: purpose" in err
    letters = tmp_path / "e.jsonl.deadletter.jsonl"
    assert len(letters.read_text().splitlines()) == 1
    code, out, err = ingest(store, tmp_path, *bad)
    assert code == 1 and ":1: rejected: purpose" in err  # still reported
    assert "1 line(s) rejected (see " in out and "1 of them were there already" in out
    assert len(letters.read_text().splitlines()) == 1
