"""The core commands end to end on the embedded store: ingest, who-has, alerts, stats, schema, demo."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.factories import AFFILIATE, BROKER, event


def run(*argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    return f"sqlite:///{tmp_path / 'lineage.db'}"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ingest_applies_valid_lines_and_dead_letters_the_rest(tmp_path: Path, store: str) -> None:
    lines = [
        json.dumps(event("collected", event_id="ok-1")),
        "{truncated",
        json.dumps(event("shared", event_id="ok-2", recipient=AFFILIATE)),
        "",
        json.dumps(event("used", event_id="bad-1", purpose="not.a.purpose")),
        json.dumps(event("used", event_id="ok-3", purpose="analytics.reporting", data_categories=["user.behavior"])),
    ]
    src = write_lines(tmp_path / "events.jsonl", lines)
    code, out, err = run("ingest", str(src), "--store", store)
    assert code == 1
    assert f"{src}:2: rejected: not valid JSON" in err
    assert f"{src}:5: rejected: purpose: unknown data use (purpose): not in the fideslang" in err
    assert "not.a.purpose" not in err  # the value is not quoted: it could be anything, a person's id included
    assert "3 event(s) applied" in out and "2 line(s) rejected" in out  # the summary is the result: stdout
    assert "applied" not in err
    assert "alice@example.com" not in err  # personal identifiers never in messages
    letters = [json.loads(x) for x in (tmp_path / "events.jsonl.deadletter.jsonl").read_text().splitlines()]
    assert [(d["line"], d["event_id"]) for d in letters] == [(2, None), (5, "bad-1")]
    assert letters[1]["problems"][0]["field"] == "purpose"
    assert json.loads(letters[1]["raw"])["event_id"] == "bad-1"  # the original line is kept

    code, out, _ = run("stats", "--store", store)
    assert json.loads(out)["events"] == 3


def test_ingest_exit_zero_when_all_valid_and_replay_is_idempotent(tmp_path: Path, store: str) -> None:
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event("collected")), json.dumps(event("shared"))])
    assert run("ingest", str(src), "--store", store)[0] == 0
    first = run("stats", "--store", store)[1]
    code, out, err = run("ingest", str(src), "--store", store)
    assert code == 0 and "0 event(s) applied, 2 already present" in out and err == ""
    assert run("stats", "--store", store)[1] == first
    assert not (tmp_path / "e.jsonl.deadletter.jsonl").exists()


def test_ingest_from_stdin(store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("ingest", "-", "--store", store, stdin=json.dumps(event()) + "\n", monkeypatch=monkeypatch)
    assert code == 0 and "1 event(s) applied" in out


def test_usage_errors_exit_2(tmp_path: Path, store: str) -> None:
    assert run("ingest", str(tmp_path / "missing.jsonl"), "--store", store)[0] == 2
    assert run("ingest")[0] == 2
    assert run("who-has", "x", "--store", "mysql://nope")[0] == 2
    assert run("frobnicate")[0] == 2


def test_who_has_json(tmp_path: Path, store: str) -> None:
    src = write_lines(
        tmp_path / "e.jsonl",
        [
            json.dumps(event("collected", event_id="c1", source={"type": "customer", "name": "acme-hr"})),
            json.dumps(event("shared", event_id="s1", recipient=AFFILIATE, occurred_at="2026-04-01T08:00:00Z")),
            json.dumps(event("shared", event_id="s2", recipient=BROKER, purpose="marketing.advertising")),
        ],
    )
    run("ingest", str(src), "--store", store)
    code, out, _ = run("who-has", "alice@example.com", "--store", store, "--format", "json")
    assert code == 0
    answer = json.loads(out)
    assert answer["subject"] == "alice@example.com"
    (cat,) = answer["categories"]
    assert cat["category"] == "user.contact.email"
    assert cat["sources"] == [{"type": "customer", "name": "acme-hr"}]
    assert cat["purposes"] == ["essential.service.operations.support", "marketing.advertising"]
    by_id = {r["id"]: r for r in answer["recipients"]}
    assert by_id["hk-affiliate"] | {} == {
        "id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK", "contact": None,
        "categories": ["user.contact.email"], "purposes": ["essential.service.operations.support"],
        "first_shared_at": "2026-04-01T08:00:00Z", "last_shared_at": "2026-04-01T08:00:00Z", "event_ids": ["s1"],
    }
    code, out, _ = run("who-has", "alice@example.com", "--store", store)
    assert "SOS Hong Kong Ltd (affiliate, HK)" in out


def test_unknown_subject_is_an_empty_answer(store: str, tmp_path: Path) -> None:
    run("ingest", str(write_lines(tmp_path / "e.jsonl", [json.dumps(event())])), "--store", store)
    code, out, _ = run("who-has", "nobody@example.com", "--store", store, "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "subject": "nobody@example.com", "subject_type": None, "categories": [], "recipients": [], "flows": [],
        "opt_outs": [],
    }


def test_alerts_listed_and_acknowledged(tmp_path: Path, store: str) -> None:
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event("shared", event_id="b1", recipient=BROKER))])
    run("ingest", str(src), "--store", store)
    code, out, _ = run("alerts", "--store", store, "--format", "json", "--rule", "undeclared-recipient-type")
    (alert,) = json.loads(out)
    assert alert["rule"] == "undeclared-recipient-type" and alert["event_ids"] == ["b1"]
    assert alert["subject"].startswith("p_") and alert["subjects"] == [alert["subject"]]
    assert run("alerts", "ack", alert["alert_id"], "--store", store)[0] == 0
    still_open = json.loads(run("alerts", "--store", store, "--format", "json", "--status", "open")[1])
    # the broker is in the US, uncertified and in no registry: its transfer stays open, and so does its first
    # disclosure (no registry: every recipient is new once)
    assert alert["alert_id"] not in {a["alert_id"] for a in still_open}
    assert {a["rule"] for a in still_open} == {"transfer-without-safeguard", "new-recipient"}
    assert run("alerts", "ack", "a_nope", "--store", store)[0] == 1


def test_schema_command_prints_json_schema() -> None:
    code, out, _ = run("schema")
    schema = json.loads(out)
    assert code == 0 and schema["$schema"].endswith("2020-12/schema")
    assert {m["$ref"].rsplit("/", 1)[-1] for m in schema["oneOf"]} >= {"DataCollected", "DataUsed", "DataShared"}


def test_key_mismatch_is_refused(tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event())])
    run("ingest", str(src), "--store", store)
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "cd" * 32)
    code, _, err = run("who-has", "alice@example.com", "--store", store)
    assert code == 2 and "another pseudonym key" in err


# -- exit codes, and nothing of the input in any message -----------------------------------------------------------
def test_an_unwritable_dead_letter_path_is_a_usage_error_before_anything_is_applied(tmp_path: Path, store: str) -> None:
    src = write_lines(tmp_path / "e.jsonl", ["{bad", json.dumps(event(event_id="after-the-bad-one"))])
    (tmp_path / "letters").mkdir()
    code, _, err = run("ingest", str(src), "--store", store, "--dead-letters", str(tmp_path / "letters"))
    assert code == 2 and "cannot write dead letters" in err and "Traceback" not in err
    code, out, err = run("stats", "--store", store)  # nothing was applied: the store was not even created
    assert code == 2 and "there is no SQLite store at" in err


def test_an_internal_error_on_one_line_exits_3_after_the_whole_file(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.ingest_chunks as ingest_chunks

    parse = ingest_chunks.parse_event

    def buggy(raw, taxonomy=None, window=None):  # type: ignore[no-untyped-def]
        if b"bug" in raw:
            raise KeyError("victim@example.com")
        return parse(raw, taxonomy, window)

    monkeypatch.setattr(ingest_chunks, "parse_event", buggy)
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event(event_id=i)) for i in ("a", "bug", "c", "d")] + ["{x"])
    code, out, err = run("ingest", str(src), "--store", store)
    assert code == 3
    assert "3 event(s) applied" in out and "1 line(s) met an internal error" in err and "victim" not in err + out
    letters = [json.loads(x) for x in (tmp_path / "e.jsonl.deadletter.jsonl").read_text().splitlines()]
    assert [(x["line"], x["reason"]) for x in letters][0] == (2, "internal error while reading the line (KeyError)")


def test_a_failure_of_the_command_itself_exits_3_without_its_text(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("victim@example.com")

    monkeypatch.setattr("lineage.cli_ingest.ingest_lines", broken)
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event())])
    code, _, err = run("ingest", str(src), "--store", store)
    assert code == 3 and err.startswith("lineage: internal error: TypeError at test_cli_core.py:")
    assert "victim" not in err and "Traceback" not in err


def test_the_event_time_window_is_configurable(tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_lines(tmp_path / "e.jsonl", [json.dumps(event(event_id="y2099", occurred_at="2099-06-01T00:00:00Z"))])
    monkeypatch.setenv("LINEAGE_EVENT_TIME_MAX", "2030-01-01")
    code, _, err = run("ingest", str(src), "--store", store)
    assert code == 1
    assert "occurred_at: outside the accepted window of event times, from 1970-01-01T00:00:00Z (included) to " \
           "2030-01-01T00:00:00Z (excluded)" in err
    monkeypatch.delenv("LINEAGE_EVENT_TIME_MAX")
    assert run("ingest", str(src), "--store", store)[0] == 0  # the default window: up to 2100
    monkeypatch.setenv("LINEAGE_EVENT_TIME_MIN", "2200-01-01")
    code, _, err = run("ingest", str(src), "--store", store)
    assert code == 2 and "LINEAGE_EVENT_TIME_MIN/MAX: the event time window's earliest bound" in err
