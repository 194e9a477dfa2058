"""`lineage notify art19 | ack | list` end to end on the embedded store, through the file sink."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.factories import AFFILIATE, BROKER, event

ALICE, BOB = "alice@example.com", "bob@example.com"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / "outbox"))
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    lines = [
        event("collected", event_id="c1", occurred_at="2026-03-01T09:00:00Z"),
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z",
              recipient=AFFILIATE | {"contact": "privacy@sos-hk.example"}),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        event("collected", event_id="b1", subject_id=BOB, occurred_at="2026-03-01T09:00:00Z"),
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    assert run("ingest", str(path), "--store", url)[0] == 0
    code, _, err = run("erase", ALICE, "--store", url, "--at", "2026-03-10T00:00:00Z", "--event-id", "erase-1")
    assert (code, err) == (0, "")
    return url


def test_notify_sends_once_records_and_lists(store: str, tmp_path: Path) -> None:
    code, out, err = run("notify", "art19", ALICE, "--store", store, "--controller-contact", "privacy@sos.example")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [x.split(":")[0] for x in lines] == ["brokr", "hk-affiliate"]
    assert all("sent via file (notice n_" in x and "request erase-1" in x for x in lines)
    files = sorted((tmp_path / "outbox").glob("n_*.json"))
    assert len(files) == 2
    doc = json.loads(files[0].read_text())
    assert doc["notice"]["controller_contact"] == "privacy@sos.example"
    for f in files:
        text = f.read_text()
        assert ALICE not in text and "alice" not in text.lower()
    assert ALICE not in out

    code, out, _ = run("notify", "art19", ALICE, "--store", store)  # again: nothing new
    assert code == 0 and out.count("already notified (use --resend to send again)") == 2
    assert len(list((tmp_path / "outbox").glob("n_*.json"))) == 2

    code, out, _ = run("notify", "list", ALICE, "--store", store, "--format", "json")
    items = json.loads(out)
    assert [(i["recipient_id"], i["status"], i["channel"]) for i in items] == [
        ("brokr", "sent", "file"), ("hk-affiliate", "sent", "file"),
    ]  # fmt: skip
    nid = items[0]["notice_id"]
    code, out, _ = run("notify", "ack", nid, "--store", store, "--by", "dpo-desk")
    assert (code, out) == (0, f"acknowledged {nid}\n")
    assert "already acknowledged" in run("notify", "ack", nid, "--store", store)[1]
    code, out, _ = run("notify", "list", ALICE, "--store", store)
    assert "DataBrokr Inc (brokr), erasure erase-1: acknowledged" in out and "by dpo-desk" in out
    assert "SOS Hong Kong Ltd (hk-affiliate), erasure erase-1: sent" in out

    code, out, _ = run("report", "art19", ALICE, "--store", store, "--format", "json")
    report = json.loads(out)
    assert [(n["recipient_id"], n["status"]) for n in report["notices"]] == [
        ("brokr", "acknowledged"), ("hk-affiliate", "sent"),
    ]  # fmt: skip
    assert "1 sent and awaiting acknowledgement, 1 acknowledged" in report["notices_statement"]
    code, out, _ = run("report", "art19", ALICE, "--store", store, "--format", "csv", "--table", "notices")
    assert code == 0 and out.splitlines()[0].startswith("recipient_id,name,request,kind,requested_at,status")

    code, out, _ = run("notify", "art19", ALICE, "--store", store, "--resend", "--format", "json")
    assert [o["outcome"] for o in json.loads(out)] == ["sent", "sent"]
    assert len(list((tmp_path / "outbox").glob("n_*.json"))) == 4
    code, out, _ = run("notify", "list", "--store", store, "--format", "json")
    assert len(json.loads(out)) == 4 and all(r["subject"].startswith("p_") for r in json.loads(out))


def test_dry_run_sends_nothing(store: str, tmp_path: Path) -> None:
    code, out, _ = run("notify", "art19", ALICE, "--store", store, "--dry-run")
    assert code == 0 and out.startswith("Dry run: nothing was sent or recorded.\n") and out.count("would send") == 2
    assert not (tmp_path / "outbox").exists()
    assert "No notice has been sent." in run("notify", "list", "--store", store)[1]


def test_clear_errors(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run("notify", "art19", BOB, "--store", store)
    assert (code, out) == (1, "")
    assert err == "lineage notify art19: no erasure is recorded for this person, so there is nothing to notify\n"
    code, _, err = run("notify", "art19", "nobody@example.com", "--store", store)
    assert code == 1 and err.endswith("this person is unknown to the store: no data and no erasure is recorded\n")
    code, _, err = run("notify", "ack", "n_0000", "--store", store)
    assert (code, err) == (1, "lineage notify ack: no notice with id n_0000\n")
    monkeypatch.delenv("LINEAGE_NOTICE_DIR")
    code, _, err = run("notify", "art19", ALICE, "--store", store)
    assert code == 2 and "no notice sink is configured: set one of LINEAGE_NOTICE_DIR" in err
    code, _, err = run("notify", "art19", ALICE, "--store", store, "--sink", "teams")
    assert code == 2 and "the teams notice sink is not configured: set LINEAGE_NOTICE_TEAMS_URL" in err
    for e in (err,):
        assert "alice" not in e and "bob" not in e


def test_lookups_are_on_the_audit_trail(store: str, tmp_path: Path) -> None:
    from config import Settings
    from lineage.web.console import WebSettings

    assert run("notify", "art19", ALICE, "--store", store, "--dry-run", "--as", "dpo-desk")[0] == 0
    assert run("notify", "list", ALICE, "--store", store)[0] == 0
    assert run("notify", "list", "--store", store)[0] == 0  # everyone's notices, by pseudonym: not a person's lookup
    entries = WebSettings.from_env(Settings.from_env()).audit_trail().entries()
    notify = [e for e in reversed(entries) if e.action.startswith("notify")]  # the trail answers newest first
    assert [(e.action, e.endpoint, e.client) for e in notify] == [
        ("notify-art19", "lineage notify art19", "cli"), ("notify-list", "lineage notify list", "cli"),
    ]  # fmt: skip
    assert notify[0].actor == "dpo-desk" and all(e.subject and e.subject.startswith("p_") for e in notify)
    assert ALICE not in (tmp_path / "audit.jsonl").read_text()


def test_erase_notify_lists_what_each_recipient_received(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    lines = [
        event("collected", event_id="c1", occurred_at="2026-03-01T09:00:00Z"),
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z", recipient=AFFILIATE),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising", data_categories=["user.name"]),
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    assert run("ingest", str(path), "--store", url)[0] == 0
    code, _, err = run("erase", ALICE, "--store", url, "--notify")  # no sink: said before anything is done
    assert code == 2 and "no notice sink is configured" in err
    assert json.loads(run("who-has", ALICE, "--store", url, "--format", "json")[1])["categories"]  # not erased

    monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / "outbox"))
    code, out, err = run("erase", ALICE, "--store", url, "--event-id", "erase-1", "--notify", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [(n["recipient"], n["outcome"]) for n in doc["notices"]] == [("brokr", "sent"), ("hk-affiliate", "sent")]
    got = {n["recipient"]: n["notice"]["categories"] for n in doc["notices"]}
    assert got == {"brokr": ["user.name"], "hk-affiliate": ["user.contact.email"]}
    files = {
        json.loads(f.read_text())["notice"]["recipient_id"]: f.read_text() for f in (tmp_path / "outbox").iterdir()
    }
    assert "up to " in files["brokr"] and ": user.name (as recorded before the erasure)" in files["brokr"]
    assert all(ALICE not in text for text in files.values())
    # the same erasure's notices again, afterwards: already sent; resent, they name what the erasure recorded
    code, out, _ = run("notify", "art19", ALICE, "--store", url)
    assert code == 0 and out.count("already notified") == 2
    code, out, _ = run("notify", "art19", ALICE, "--store", url, "--resend", "--format", "json")
    assert {o["recipient"]: o["notice"]["categories"] for o in json.loads(out)} == got


def test_an_acknowledgement_is_recorded_before_it_is_done(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from config import Settings
    from lineage.web.console import WebSettings

    code, out, _ = run("notify", "art19", ALICE, "--store", store, "--format", "json")
    first, second = (o["notice_id"] for o in json.loads(out))
    assert run("notify", "ack", first, "--store", store, "--as", "dpo-desk")[0] == 0
    trail = WebSettings.from_env(Settings.from_env()).audit_trail()
    [entry] = [e for e in trail.entries() if e.action == "notice-ack"]  # as the console's acknowledgement
    assert (entry.actor, entry.endpoint, entry.client, entry.target, entry.returned) == (
        "dpo-desk", "lineage notify ack", "cli", first, {"notices": 1},
    )  # fmt: skip
    pseudonym = json.loads(run("notify", "list", "--store", store, "--format", "json")[1])[0]["subject"]
    assert entry.subject == pseudonym and ALICE not in (tmp_path / "audit.jsonl").read_text() and trail.verify().ok
    listed = {
        i["notice_id"]: i for i in json.loads(run("notify", "list", ALICE, "--store", store, "--format", "json")[1])
    }
    assert listed[first]["acknowledged_by"] == "dpo-desk"  # --by defaults to who acts, as the console's token name

    # a trail that cannot be written refuses the acknowledgement: nothing changes
    (tmp_path / "blocked").write_text("a file where the trail's folder should be")
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "blocked" / "audit.jsonl"))
    code, out, err = run("notify", "ack", second, "--store", store, "--by", "dpo-desk")
    assert (code, out) == (2, "") and "so the acknowledgement is refused" in err and "alice" not in err
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    listed = {
        i["notice_id"]: i for i in json.loads(run("notify", "list", ALICE, "--store", store, "--format", "json")[1])
    }
    assert listed[second]["status"] == "sent" and listed[second]["acknowledged_at"] is None


def test_notify_after_erase_names_what_erase_notify_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Erased today and notified tomorrow sends the notices that erasing and notifying at once sends (twin stores,
    the same events and erasure)."""
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    lines = [
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z", recipient=AFFILIATE),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising", data_categories=["user.name", "user.contact.email"]),
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    erase = ("--event-id", "erase-1", "--at", "2026-03-10T00:00:00Z")
    notices = {}
    for twin in ("at-once", "later"):
        url = f"sqlite:///{tmp_path / twin}.db"
        monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / twin))
        assert run("ingest", str(path), "--store", url)[0] == 0
        if twin == "at-once":
            assert run("erase", ALICE, "--store", url, *erase, "--notify")[0] == 0
        else:
            assert run("erase", ALICE, "--store", url, *erase)[0] == 0
            assert run("notify", "art19", ALICE, "--store", url)[0] == 0
        notices[twin] = {
            doc["notice"]["recipient_id"]: {k: v for k, v in doc["notice"].items() if k != "sent_at"}
            for doc in (json.loads(f.read_text()) for f in (tmp_path / twin).glob("n_*.json"))
        }
    assert notices["later"] == notices["at-once"]
    assert {r: n["categories"] for r, n in notices["later"].items()} == {
        "brokr": ["user.contact.email", "user.name"], "hk-affiliate": ["user.contact.email"],
    }  # fmt: skip


def test_erase_notify_back_dated_names_only_what_the_erasure_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure back-dated with --at leaves what was disclosed after it: its notices do not name that."""
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / "outbox"))
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    lines = [
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        event("shared", event_id="s2", occurred_at="2026-03-20T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising", data_categories=["user.name"]),
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    assert run("ingest", str(path), "--store", url)[0] == 0
    code, out, err = run("erase", ALICE, "--store", url, "--at", "2026-03-10T00:00:00Z", "--notify", "--format", "json")
    assert (code, err) == (0, "")
    assert [(n["recipient"], n["notice"]["categories"]) for n in json.loads(out)["notices"]] == [
        ("brokr", ["user.contact.email"])
    ]
    assert json.loads(run("who-has", ALICE, "--store", url, "--format", "json")[1])["categories"]  # the later data


def _events_with_an_erasure(tmp_path: Path) -> Path:
    lines = [
        event("shared", event_id="s1", occurred_at="2026-03-02T09:00:00Z", recipient=AFFILIATE),
        event("shared", event_id="s2", occurred_at="2026-03-03T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        {"schema_version": 1, "event_id": "erase-9", "kind": "erased", "occurred_at": "2026-03-10T00:00:00Z",
         "emitted_by": "privacy-desk", "subject": {"id": ALICE, "type": "customer"}},
    ]  # fmt: skip
    path = tmp_path / "erasing.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return path


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key, an audit trail and the file sink's folder, for a store in ``tmp_path``."""
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("LINEAGE_NOTICE_DIR", str(tmp_path / "outbox"))
    return tmp_path / "outbox"


def test_ingest_sends_the_notices_of_an_erasure_event_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    url, path = f"sqlite:///{tmp_path / 'lineage.db'}", _events_with_an_erasure(tmp_path)

    monkeypatch.setenv("LINEAGE_NOTIFY_ERASURES", "1")
    code, out, err = run("ingest", str(path), "--store", url)
    assert (code, err) == (0, "")
    assert out.rstrip().endswith(", 2 Art. 19 notice(s) sent")
    files = sorted(outbox.glob("n_*.json"))
    assert len(files) == 2 and all(ALICE not in f.read_text() for f in files)
    code, out, _ = run("notify", "list", ALICE, "--store", url, "--format", "json")
    assert code == 0
    assert [(i["recipient_id"], i["status"], i["request"]) for i in json.loads(out)] == [
        ("brokr", "sent", "erase-9"), ("hk-affiliate", "sent", "erase-9"),
    ]  # fmt: skip

    code, out, err = run("ingest", str(path), "--store", url)  # the same file again: nothing is sent twice
    assert (code, err) == (0, "") and "Art. 19" not in out and len(list(outbox.glob("n_*"))) == 2


def test_ingest_without_the_switch_leaves_the_notices_to_notify_art19(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    monkeypatch.delenv("LINEAGE_NOTIFY_ERASURES", raising=False)
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    code, out, _ = run("ingest", str(_events_with_an_erasure(tmp_path)), "--store", url)
    assert code == 0 and "Art. 19" not in out and not outbox.exists()
    code, out, _ = run("notify", "art19", ALICE, "--store", url)
    assert code == 0 and out.count("sent via file") == 2


@pytest.mark.parametrize(
    ("switch", "said"),
    [
        ("on", "no notice sink is configured: set one of LINEAGE_NOTICE_DIR"),
        ("teams", "the teams notice sink is not configured: set LINEAGE_NOTICE_TEAMS_URL"),
        ("fax", "unknown notice sink 'fax'"),
    ],
)  # fmt: skip
def test_the_switch_without_a_usable_sink_is_refused_before_anything_is_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str, said: str
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    for name in ("LINEAGE_NOTICE_DIR", "LINEAGE_NOTICE_WEBHOOK_URL", "LINEAGE_NOTICE_TEAMS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINEAGE_NOTIFY_ERASURES", switch)
    db = tmp_path / "lineage.db"
    code, out, err = run("ingest", str(_events_with_an_erasure(tmp_path)), "--store", f"sqlite:///{db}")
    assert code == 2 and out == "" and "LINEAGE_NOTIFY_ERASURES" in err and said in err
    assert not db.exists()
