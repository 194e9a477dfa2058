"""`lineage erase` and `lineage erasures` end to end on the embedded store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.factories import AFFILIATE, BROKER, event


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    return f"sqlite:///{tmp_path / 'lineage.db'}"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    lines = [
        event("collected", event_id="c1", occurred_at="2026-03-01T09:00:00Z"),
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z",
              recipient=AFFILIATE | {"contact": "privacy@sos-hk.example"}),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        event("collected", event_id="b1", subject_id="bob@example.com", occurred_at="2026-03-01T09:00:00Z"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return path


def test_erase_lists_the_recipients_then_forgets_the_person(store: str, events: Path) -> None:
    assert run("ingest", str(events), "--store", store)[0] == 0
    code, out, err = run("erase", "alice@example.com", "--store", store, "--reason", "Art. 17(1)(a) request",
                         "--at", "2026-03-10T00:00:00Z", "--event-id", "erase-alice")
    assert (code, err) == (0, "")
    assert "Erased the person as of 2026-03-10T00:00:00+00:00 (event erase-alice)" in out
    assert "alice@example.com" not in out
    assert "2 recipient(s) to notify" in out
    assert "SOS Hong Kong Ltd (hk-affiliate, " in out and "privacy@sos-hk.example" in out
    assert "DataBrokr Inc (brokr, " in out and "no contact details are recorded" in out.lower()

    code, out, _ = run("who-has", "alice@example.com", "--store", store, "--format", "json")
    answer = json.loads(out)
    assert (answer["categories"], answer["recipients"]) == ([], [])
    assert json.loads(run("who-has", "bob@example.com", "--store", store, "--format", "json")[1])["categories"]

    code, out, err = run("ingest", str(events), "--store", store)  # the old events again
    assert code == 0 and "3 about erased people dropped" in out and "1 already present" in out
    assert json.loads(run("who-has", "alice@example.com", "--store", store, "--format", "json")[1])["categories"] == []

    code, out, _ = run("erasures", "alice@example.com", "--store", store, "--format", "json")
    (tomb,) = json.loads(out)
    assert tomb["event_id"] == "erase-alice" and tomb["recipients"] == ["brokr", "hk-affiliate"]
    assert tomb["reason"] == "Art. 17(1)(a) request" and tomb["erased_at"].startswith("2026-03-10T00:00:00")
    assert tomb["pseudonym"].startswith("p_")
    assert tomb["received"] == {"brokr": ["user.contact.email"], "hk-affiliate": ["user.contact.email"]}
    code, out, _ = run("erasures", "alice@example.com", "--store", store)
    assert "recipients to notify (Art. 19): brokr, hk-affiliate" in out
    assert "what each received: brokr: user.contact.email; hk-affiliate: user.contact.email" in out
    assert "No erasure is recorded" in run("erasures", "bob@example.com", "--store", store)[1]


def test_erase_json_carries_the_art19_report_and_is_idempotent_by_event_id(store: str, events: Path) -> None:
    run("ingest", str(events), "--store", store)
    code, out, _ = run("erase", "alice@example.com", "--store", store, "--format", "json", "--event-id", "e-1")
    doc = json.loads(out)
    assert code == 0 and doc["applied"] is True and doc["event_id"] == "e-1"
    assert doc["art19"]["kind"] == "art19" and doc["art19"]["data_found"] is True
    assert [r["id"] for r in doc["art19"]["recipients"]] == ["brokr", "hk-affiliate"]
    assert doc["tombstone"]["recipients"] == ["brokr", "hk-affiliate"]
    again = json.loads(run("erase", "alice@example.com", "--store", store, "--format", "json", "--event-id", "e-1")[1])
    assert again["applied"] is False
    code, out, _ = run("erase", "alice@example.com", "--store", store, "--event-id", "e-1")
    assert "already applied" in out


def test_erasing_an_unknown_person_says_so(store: str) -> None:
    code, out, _ = run("erase", "nobody@example.com", "--store", store)
    assert code == 0 and "No personal data of this person was recorded" in out
    assert "Art. 19: No recipient to notify, as no disclosure" in out


def test_erase_rejects_a_bad_reason(store: str) -> None:
    code, _, err = run("erase", "alice@example.com", "--store", store, "--reason", "x" * 201)
    assert code == 2 and "reason" in err


def _dead_letters(tmp_path: Path) -> Path:
    """A dead-letter file as `lineage ingest` writes it: two of alice's rejected lines and one of bob's."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(event("collected", event_id="x1", data_categories=["user.nonsense"])) + "\n"
        + '{"schema_version": 1, "subject": {"id": "alice@example.com", "type": "customer"}\n'
        + json.dumps(event("collected", subject_id="bob@example.com", data_categories=["user.nonsense"])) + "\n",
        encoding="utf-8",
    )
    return bad


def test_erase_also_purges_the_named_dead_letter_files(store: str, events: Path, tmp_path: Path) -> None:
    bad = _dead_letters(tmp_path)
    code, _, err = run("ingest", str(bad), "--store", store)
    dlq = Path(str(bad) + ".deadletter.jsonl")
    assert code == 1 and len(dlq.read_text().splitlines()) == 3, err
    code, out, err = run("erase", "alice@example.com", "--store", store, "--dead-letters", str(dlq))
    assert (code, err) == (0, "")
    assert f"Dead letters in {dlq}: removed 2 naming the person, kept 1." in out
    assert "alice@example.com" not in out and "alice@example.com" not in dlq.read_text()
    assert "bob@example.com" in dlq.read_text()

    code, out, _ = run("erase", "bob@example.com", "--store", store, "--dead-letters", str(dlq), "--format", "json")
    assert code == 0 and json.loads(out)["dead_letters"] == [{"file": str(dlq), "removed": 1, "kept": 0}]


def test_erase_with_a_missing_dead_letter_file_changes_nothing(store: str, events: Path, tmp_path: Path) -> None:
    run("ingest", str(events), "--store", store)
    code, out, err = run("erase", "alice@example.com", "--store", store, "--dead-letters", str(tmp_path / "nope"))
    assert code == 2 and "dead-letter file" in err and "does not exist" in err and out == ""
    assert json.loads(run("who-has", "alice@example.com", "--store", store, "--format", "json")[1])["categories"]


def test_deadletters_purge_takes_ids_from_a_file_and_prints_no_ids(store: str, tmp_path: Path) -> None:
    dlq = tmp_path / "bad.jsonl.deadletter.jsonl"
    run("ingest", str(_dead_letters(tmp_path)), "--store", store)
    ids = tmp_path / "erased.txt"
    ids.write_text("# erased this month\nalice@example.com\n\nbob@example.com\n", encoding="utf-8")
    code, out, err = run("deadletters", "purge", str(dlq), "--subjects", str(ids))
    assert (code, err) == (0, "") and out == f"{dlq}: removed 3 dead letter(s), kept 0.\n"
    assert dlq.read_text() == ""

    code, _, err = run("deadletters", "purge", str(dlq))
    assert code == 2 and "--subject ID or --subjects FILE" in err
    code, _, err = run("deadletters", "purge", str(tmp_path / "missing.jsonl"), "--subject", "x")
    assert code == 2 and "does not exist" in err
