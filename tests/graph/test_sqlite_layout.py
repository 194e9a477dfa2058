"""The SQLite store's layout: each event is one row, and the edges are expanded from those rows when read. Each edge
comes out once with all its evidence whoever wrote it (two connections), after an erasure, after a rollback; a store
of the first layout (edges and evidence stored) is converted on open and answers as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_layout import EDGES, SCHEMA_VERSION
from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreConfigError, StoreError
from policies import default_policy, load_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)


def handle(store: SQLiteGraphStore, *events: dict[str, object]) -> int:
    return Handler(store, POLICY, KEY).handle([validate_event(e) for e in events]).applied


def evidence(store: SQLiteGraphStore) -> list[tuple[str, str, str, int, str]]:
    """(rel, category, target, count, event ids) of every edge, as the store expands them from the file."""
    rows = store._db.execute(
        "SELECT rel, category, target, count(DISTINCT event_id), group_concat(event_id, ',')"  # noqa: S608 - fixed
        f" FROM ({EDGES.format(events='events', where='1 = 1')})"
        " GROUP BY rel, subject, category, target, purpose ORDER BY 1, 2"
    )
    return [(r[0], r[1], r[2], r[3], ",".join(sorted((r[4] or "").split(",")))) for r in rows]


def test_edges_written_by_two_connections_are_one_edge_each(tmp_path: Path) -> None:
    a, b = SQLiteGraphStore(tmp_path / "l.db"), SQLiteGraphStore(tmp_path / "l.db")
    handle(a, event(event_id="e1"))
    handle(b, event(event_id="e2"), event("used", event_id="e3"))  # a new USED_FOR edge that ``a`` has not seen
    handle(a, event("used", event_id="e4"), event(event_id="e5"))
    assert evidence(a) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 3, "e1,e2,e5"),
        ("HOLDS", "user.contact.email", "controller", 5, "e1,e2,e3,e4,e5"),
        ("USED_FOR", "user.contact.email", "essential.service.operations.support", 2, "e3,e4"),
    ]
    a.close()
    b.close()


def test_an_edge_deleted_by_an_erasure_is_created_again_by_a_later_event(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    handle(store, event(event_id="e1", occurred_at="2026-03-01T10:00:00Z"))
    handle(
        store,
        event(
            "erased",
            event_id="gone",
            occurred_at="2026-03-02T10:00:00Z",
            data_categories=None,
            role=None,
            reason="request",
        ),
    )
    assert evidence(store) == []
    handle(store, event(event_id="e2", occurred_at="2026-03-03T10:00:00Z"))
    assert evidence(store) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 1, "e2"),
        ("HOLDS", "user.contact.email", "controller", 1, "e2"),
    ]
    store.close()


def test_a_rolled_back_batch_leaves_no_evidence(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    handle(store, event(event_id="e1"))
    store._db.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON consents BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(StoreError, match="boom"):  # the new USED_FOR edge is written, then the batch fails
        handle(
            store,
            event("used", event_id="e2"),
            event(
                "consent_withdrawn", event_id="e3", data_categories=None, role=None, purposes=["marketing.advertising"]
            ),
        )
    store._db.execute("DROP TRIGGER boom")
    handle(store, event("used", event_id="e4"))
    assert evidence(store) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 1, "e1"),
        ("HOLDS", "user.contact.email", "controller", 2, "e1,e4"),
        ("USED_FOR", "user.contact.email", "essential.service.operations.support", 1, "e4"),
    ]
    store.close()


def test_the_unused_indexes_of_events_are_dropped_when_an_old_store_is_converted(tmp_path: Path) -> None:
    v1 = sqlite3.connect(tmp_path / "l.db")
    v1.executescript(V1_DUMP.read_text(encoding="utf-8"))
    v1.execute("CREATE INDEX events_time ON events(occurred_at)")  # as stores before it was dropped had it
    v1.close()
    again = SQLiteGraphStore(tmp_path / "l.db")
    indexes = {r[0] for r in again._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    # the time index is unused (periods read the aggregates; events are read person by person), and the person's
    # index has the time too (an erasure's, a period edge's and evidence's reads)
    assert "events_time" not in indexes and "events_subject" not in indexes and "events_person" in indexes
    assert again.processed(["v1-after"]) == {"v1-after"}
    again.close()


def test_opening_a_current_store_does_not_wait_for_another_connections_write(tmp_path: Path) -> None:
    SQLiteGraphStore(tmp_path / "l.db").close()
    writer = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # e.g. an ingest's batch in progress
    reader = SQLiteGraphStore(tmp_path / "l.db", busy_timeout=0.2)  # raised StoreUnavailable when it had to write
    assert reader.stats().events == 0
    reader.close()
    writer.execute("ROLLBACK")
    writer.close()


# -- the first layout (schema version 1) --------------------------------------------------------------------------
V1_DUMP = Path(__file__).parent / "data" / "sqlite_v1.sql"
# What the dump was written from: the simulated events of that time (the simulator has moved on) and the policy its
# alerts were judged against (version 2024.1; the policy has moved on too).
V1_EVENTS = Path(__file__).parent / "data" / "sqlite_v1_events.jsonl"
V1_POLICY = load_policy(Path(__file__).parent / "data" / "s-plus-helpdesk-chatbot-2024.1.yaml")


def layout_events() -> list[dict[str, object]]:
    """The events of tests/graph/data/sqlite_v1.sql: simulated traffic with undeclared flows, plus a withdrawal,
    an opt-out, and an erasure followed by new data about the erased person and by a late event it covers.

    The dump was written by the version 1 store (commit 71963e0) from exactly these events, applied in batches
    of 50 through the Handler with TEST_KEY; regenerate it only from that store. The simulated ones are kept in
    V1_EVENTS, as ``simulate(8, 4, 11, undeclared_rate=0.1)`` wrote them then.
    """
    lines = V1_EVENTS.read_text(encoding="utf-8").splitlines()
    out: list[dict[str, object]] = [json.loads(line) for line in lines]
    who = out[0]["subject"]
    out.append(
        event(
            "consent_withdrawn",
            event_id="v1-withdrawn",
            subject=who,
            data_categories=None,
            role=None,
            occurred_at="2026-01-02T00:00:00Z",
            purposes=["marketing.advertising"],
        )
    )
    out.append(
        event(
            "opted_out",
            event_id="v1-opted-out",
            subject=who,
            data_categories=None,
            role=None,
            occurred_at="2026-01-02T00:00:01Z",
        )
    )
    erased = next(e["subject"] for e in out if e["subject"] != who)
    out.append(
        event(
            "erased",
            event_id="v1-erased",
            subject=erased,
            data_categories=None,
            role=None,
            occurred_at="2026-01-03T00:00:00Z",
            reason="request",
        )
    )
    out.append(event("shared", event_id="v1-after", subject=erased, occurred_at="2026-01-04T00:00:00Z"))
    out.append(event("shared", event_id="v1-late", subject=erased, occurred_at="2026-01-02T12:00:00Z"))  # suppressed
    return out


def apply_in_batches(store: SQLiteGraphStore, events: list[dict[str, object]]) -> None:
    handler = Handler(store, V1_POLICY, KEY)
    for i in range(0, len(events), 50):
        handler.handle([validate_event(e) for e in events[i : i + 50]])


def answers(store: SQLiteGraphStore, *, wording: bool = True) -> dict[str, object]:
    """What the store answers; without the alerts' wording (reason, clause) when ``wording`` is false, as the
    reasons of today's evaluator are not worded as those the dump holds."""
    people = sorted(r[0] for r in store._db.execute("SELECT key FROM subjects"))
    alerts = store.alerts()
    return {
        "who_has": [store.who_has(p) for p in people],
        "flows": store.flow_summary(),
        "stats": store.stats(),
        "alerts": alerts
        if wording
        else [a.model_copy(update={"reason": "", "clause_section": "", "clause_text": ""}) for a in alerts],
        "erasures": [  # all but applied_at, which is when each store applied it
            (t.event_id, t.subject, t.erased_at, t.reason, t.recipients)
            for ts in store.erasures(None).values()
            for t in ts
        ],
        "consent": store.consent_state(people),
        "processed": store.processed([str(e["event_id"]) for e in layout_events()]),
    }


def test_a_version_1_store_is_converted_on_open_and_answers_as_before(tmp_path: Path) -> None:
    v1 = sqlite3.connect(tmp_path / "old.db")
    v1.executescript(V1_DUMP.read_text(encoding="utf-8"))
    v1.close()
    old = SQLiteGraphStore(tmp_path / "old.db")
    tables = {r[0] for r in old._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "edges" not in tables and "edge_events" not in tables
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    fresh = SQLiteGraphStore(tmp_path / "new.db")
    apply_in_batches(fresh, layout_events())
    converted = answers(old)
    assert converted["stats"].evidence > 1000 and converted["alerts"]  # type: ignore[attr-defined]
    assert answers(old, wording=False) == answers(fresh, wording=False)
    # and it goes on as a version 2 store: a replay changes nothing, a new event is added
    apply_in_batches(old, layout_events())
    assert answers(old) == converted
    old.close()
    fresh.close()
    again = SQLiteGraphStore(tmp_path / "old.db")  # opening a converted store again converts nothing
    assert answers(again) == converted
    again.close()


def test_a_version_2_store_gets_its_flow_aggregates_once_on_open(tmp_path: Path) -> None:
    fresh = SQLiteGraphStore(tmp_path / "new.db")
    apply_in_batches(fresh, layout_events())
    fresh.close()
    shutil.copy(tmp_path / "new.db", tmp_path / "old.db")
    v2 = sqlite3.connect(tmp_path / "old.db", isolation_level=None)  # as version 2 left it: no aggregates
    for table in ("agg_steps", "agg_people", "agg_days", "agg_keys", "agg_unit_keys", "agg_units"):
        v2.execute(f"DROP TABLE {table}")  # noqa: S608 - the tests' own table names
    v2.execute("DROP INDEX events_person")
    v2.execute("DROP INDEX alert_events_latest")
    v2.execute("ALTER TABLE events DROP COLUMN subject_type")
    v2.execute("ALTER TABLE consents DROP COLUMN signal")
    v2.execute("CREATE INDEX events_subject ON events(subject)")
    v2.execute("UPDATE meta SET v = '2' WHERE k = 'schema_version'")
    v2.close()
    old, fresh = SQLiteGraphStore(tmp_path / "old.db"), SQLiteGraphStore(tmp_path / "new.db")
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    converted = answers(old)
    assert converted["flows"].flows and converted == answers(fresh)  # type: ignore[attr-defined]
    apply_in_batches(old, layout_events())  # and goes on as a current store
    assert answers(old) == converted
    old.close()
    fresh.close()


def test_a_version_3_store_records_signals_from_then_on_and_reads_its_opt_outs_as_requests(tmp_path: Path) -> None:
    person = {"subject_id": "gpc@example.com"}
    consent = {"data_categories": None, "role": None, "emitted_by": "web-app", **person}
    fresh = SQLiteGraphStore(tmp_path / "old.db")
    handle(fresh, event("opted_out", event_id="old-opt-out", occurred_at="2026-01-01T00:00:00Z", **consent))
    fresh.close()
    v3 = sqlite3.connect(tmp_path / "old.db", isolation_level=None)  # as version 3 left it: no signal column
    v3.execute("ALTER TABLE consents DROP COLUMN signal")
    v3.execute("UPDATE meta SET v = '3' WHERE k = 'schema_version'")
    v3.close()
    old = SQLiteGraphStore(tmp_path / "old.db")
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    gpc = {"scope": "sale_and_sharing", "signal": "gpc"}
    handle(old, event("opted_out", event_id="gpc-opt-out", occurred_at="2026-02-01T00:00:00Z", **gpc, **consent))
    (state,) = old.consent_state([KEY("gpc@example.com")]).values()
    assert [(r.event_id, r.purposes, r.signal) for r in state.records] == [
        ("old-opt-out", ("marketing",), "user_request"),
        ("gpc-opt-out", ("sale_and_sharing",), "gpc"),
    ]
    old.close()


def test_a_version_4_stores_tombstones_keep_no_categories_and_later_ones_do(tmp_path: Path) -> None:
    from tests.contract.test_art19_notices import check_older_store, older_store

    fresh = SQLiteGraphStore(tmp_path / "old.db")
    older_store(fresh)
    fresh.close()
    v4 = sqlite3.connect(tmp_path / "old.db", isolation_level=None)  # as version 4 left it: no received column
    v4.execute("ALTER TABLE tombstones DROP COLUMN received")
    v4.execute("UPDATE meta SET v = '4' WHERE k = 'schema_version'")
    v4.close()
    old = SQLiteGraphStore(tmp_path / "old.db")
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,) == ("7",)
    check_older_store(old)
    old.close()


def test_a_version_5_store_gets_the_steps_of_its_people_once_on_open(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.contract.test_aggregates import handle as handle_all
    from tests.contract.test_aggregates import history

    store = SQLiteGraphStore(tmp_path / "old.db")
    handle_all(store, history())
    steps = store._db.execute("SELECT * FROM agg_steps ORDER BY 1, 2, 3").fetchall()
    march_on = {"since": datetime(2026, 3, 1, tzinfo=UTC), "until": datetime(2026, 5, 1, tzinfo=UTC)}
    answer = store.flow_summary(**march_on)
    assert steps and any(f.subjects for f in answer.flows)
    store.close()
    v5 = sqlite3.connect(tmp_path / "old.db", isolation_level=None)  # as version 5 left it: no steps
    v5.execute("DROP TABLE agg_steps")
    v5.execute("UPDATE meta SET v = '5' WHERE k = 'schema_version'")
    v5.close()
    old = SQLiteGraphStore(tmp_path / "old.db")
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    assert old._db.execute("SELECT * FROM agg_steps ORDER BY 1, 2, 3").fetchall() == steps
    assert old.flow_summary(**march_on) == answer
    old.close()


def test_a_version_6_store_counts_its_writes_from_then_on_and_answers_as_before(tmp_path: Path) -> None:
    from tests.contract.test_aggregates import check, history
    from tests.contract.test_aggregates import handle as handle_all

    events = history()
    store = SQLiteGraphStore(tmp_path / "old.db")
    handle_all(store, events[:10])
    store.close()
    v6 = sqlite3.connect(tmp_path / "old.db", isolation_level=None)  # as version 6 left it: no count of writes
    v6.execute("DELETE FROM meta WHERE k = 'writes'")
    v6.execute("UPDATE meta SET v = '6' WHERE k = 'schema_version'")
    v6.close()
    old = SQLiteGraphStore(tmp_path / "old.db")
    assert old._db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() == (SCHEMA_VERSION,) == ("7",)
    handle_all(old, events[10:])
    assert old._db.execute("SELECT v FROM meta WHERE k = 'writes'").fetchone() == ("1",)
    check(old, events)
    old.close()


def test_a_store_of_a_newer_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    store._db.execute("UPDATE meta SET v = '99' WHERE k = 'schema_version'")
    store.close()
    with pytest.raises(StoreConfigError, match="schema version 99.*upgrade privacy-lineage"):
        SQLiteGraphStore(tmp_path / "l.db")


def test_stats_count_the_edges_and_evidence_that_the_reads_expand(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    apply_in_batches(store, layout_events())
    expanded = store._db.execute(
        "SELECT count(*), count(DISTINCT rel || '|' || subject || '|' || category || '|' || target || '|' || purpose)"  # noqa: S608
        f" FROM ({EDGES.format(events='events', where='1 = 1')})"
    ).fetchone()
    stats = store.stats()
    assert (stats.evidence, stats.edges) == expanded
    assert stats.edges > 400 and stats.evidence > 1000  # the fixture's traffic, not an empty store
    store.close()


def test_stats_are_counted_again_only_after_a_write_by_this_connection_or_another(tmp_path: Path) -> None:
    """stats() scans the events; a console asking again and again gets the remembered counts until a write."""
    store = SQLiteGraphStore(tmp_path / "l.db")
    other = SQLiteGraphStore(tmp_path / "l.db")
    events = layout_events()
    apply_in_batches(store, events[:100])
    scans: list[str] = []
    store._db.set_trace_callback(lambda sql: scans.append(sql) if "count(" in sql else None)
    first = store.stats()
    assert len(scans) > 0
    scans.clear()
    assert store.stats() == first and scans == []  # nothing written: nothing counted

    apply_in_batches(other, events[100:200])  # another connection (another process, say) writes
    after_other = store.stats()
    assert scans and after_other.events > first.events
    assert after_other == other.stats()

    scans.clear()
    handle(store, event("collected", event_id="late-1", subject_id="zed@example.com"))  # this connection writes
    mine = store.stats()
    assert scans and (mine.events, mine.subjects) == (after_other.events + 1, after_other.subjects + 1)
    other.close()
    store.close()
