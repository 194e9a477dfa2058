"""`lineage rekey`: a store rebuilt under a new pseudonym key from the source events, tombstones carried."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer, key_from_text, load_or_create_key_file
from graph.sqlite_store import SQLiteGraphStore
from lineage.cli import main
from tests.factories import AFFILIATE, BROKER, event

OLD_KEY = "ab" * 32


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", OLD_KEY)
    # the affiliate's transfers rest on the group's BCR; the broker's (alice's and bob's) on nothing
    registry = tmp_path / "recipients.yaml"
    registry.write_text(
        "recipients:\n  - {id: hk-affiliate, name: SOS Hong Kong Ltd, type: affiliate, country: HK, role: controller,"
        " safeguard: {kind: bcr, reference: SOS Group BCR, date: 2024-05-02}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(registry))
    return f"sqlite:///{tmp_path / 'old.db'}"


def source(tmp_path: Path) -> Path:
    lines = [
        event("collected", event_id="c1", occurred_at="2026-03-01T09:00:00Z"),
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z", recipient=AFFILIATE),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        event("collected", event_id="b1", subject_id="bob@example.com", occurred_at="2026-03-01T09:00:00Z"),
        event("shared", event_id="b2", subject_id="bob@example.com", occurred_at="2026-03-04T09:00:00Z",
              recipient=BROKER, purpose="marketing.advertising"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return path


def prepare(tmp_path: Path, old: str) -> Path:
    events = source(tmp_path)
    assert run("ingest", str(events), "--store", old)[0] == 0
    assert run("erase", "alice@example.com", "--store", old, "--at", "2026-03-10T00:00:00Z",
               "--event-id", "erase-alice", "--reason", "request")[0] == 0
    code, out, _ = run("alerts", "--store", old, "--format", "json")
    first = json.loads(out)[0]["alert_id"]
    assert run("alerts", "ack", first, "--store", old)[0] == 0
    return events


def test_rekey_rebuilds_the_store_under_the_new_key(tmp_path: Path, old: str, monkeypatch: pytest.MonkeyPatch) -> None:
    events = prepare(tmp_path, old)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("LINEAGE_AUDIT_HEAD", str(tmp_path / "audit.head"))
    monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / "outbox"))
    assert run("notify", "art19", "alice@example.com", "--store", old)[0] == 0  # two notices, by the old pseudonym
    new, key_file = f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "new.key"
    code, out, err = run("rekey", "--from", old, "--to", new, "--new-key-file", str(key_file),
                         "--events", str(events))
    assert (code, err) == (0, ""), out
    assert "Tombstones carried: 1; Art. 19 notices carried: 2; acknowledged alerts carried: 1." in out
    assert "Complete." in out
    assert key_file.stat().st_mode & 0o777 == 0o600
    old_store, new_store = SQLiteGraphStore(tmp_path / "old.db"), SQLiteGraphStore(tmp_path / "new.db")
    old_key, new_key = Pseudonymizer(key_from_text(OLD_KEY)), Pseudonymizer(load_or_create_key_file(key_file))
    assert new_store.stats() == old_store.stats()
    assert new_store.who_has(new_key("bob@example.com")) == old_store.who_has(old_key("bob@example.com")).model_copy(
        update={"subject": new_key("bob@example.com")})
    assert new_store.who_has(new_key("alice@example.com")) is None
    (tomb,) = new_store.erasures([new_key("alice@example.com")])[new_key("alice@example.com")]
    (was,) = old_store.erasures([old_key("alice@example.com")])[old_key("alice@example.com")]
    assert (tomb.event_id, tomb.erased_at, tomb.reason, tomb.recipients, tomb.received) == (
        was.event_id, was.erased_at, was.reason, was.recipients, was.received)
    assert [(n.notice_id, n.subject) for n in new_store.notices()] == [
        (n.notice_id, new_key("alice@example.com")) for n in old_store.notices()]
    assert [a.status for a in new_store.alerts()] == [a.status for a in old_store.alerts()]
    # nothing in the new store is under an old pseudonym
    assert new_store.who_has(old_key("bob@example.com")) is None
    old_store.close()
    new_store.close()
    # the new store refuses the old key; with the new key, who-has works
    code, _, err = run("who-has", "bob@example.com", "--store", new)
    assert code == 2 and "another pseudonym key" in err

    # running it again (an interrupted rotation) changes nothing
    code, out, _ = run("rekey", "--from", old, "--to", new, "--new-key-file", str(key_file), "--events", str(events),
                       "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["complete"] and doc["applied"] == 0 and doc["old"] == doc["new"]
    assert (doc["notices_carried"], doc["notices_lost"]) == (2, 0)


def test_a_tombstone_without_its_subject_id_is_reported_until_the_id_is_supplied(tmp_path: Path, old: str) -> None:
    events = prepare(tmp_path, old)
    assert run("erase", "carol@example.com", "--store", old)[0] == 0  # never in the events
    new, key_file = f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "new.key"
    code, out, _ = run("rekey", "--from", old, "--to", new, "--new-key-file", str(key_file), "--events", str(events))
    assert code == 1 and "1 tombstone(s) could not be carried" in out and "Complete." not in out
    ids = tmp_path / "subjects.txt"
    ids.write_text("# people erased directly\ncarol@example.com\n", encoding="utf-8")
    code, out, _ = run("rekey", "--from", old, "--to", new, "--new-key-file", str(key_file), "--events", str(events),
                       "--subjects", str(ids))
    assert code == 0 and "Tombstones carried: 2" in out


def test_incomplete_source_is_reported(tmp_path: Path, old: str) -> None:
    events = prepare(tmp_path, old)
    partial = tmp_path / "partial.jsonl"
    partial.write_text(events.read_text().splitlines()[0] + "\n", encoding="utf-8")
    code, out, _ = run("rekey", "--from", old, "--to", f"sqlite:///{tmp_path / 'new.db'}",
                       "--new-key-file", str(tmp_path / "new.key"), "--events", str(partial))
    assert code == 1 and "the source events are incomplete" in out


def test_rekey_refuses_the_same_key_and_the_same_store(tmp_path: Path, old: str) -> None:
    events = prepare(tmp_path, old)
    same = tmp_path / "same.key"
    same.write_text(OLD_KEY + "\n", encoding="utf-8")
    code, _, err = run("rekey", "--from", old, "--to", f"sqlite:///{tmp_path / 'new.db'}",
                       "--new-key-file", str(same), "--events", str(events))
    assert code == 2 and "nothing to rotate" in err
    code, _, err = run("rekey", "--from", old, "--to", old, "--new-key-file", str(tmp_path / "k"), "--events",
                       str(events))
    assert code == 2 and "must be different stores" in err
