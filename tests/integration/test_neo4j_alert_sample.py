"""An alert's sample entry is written twice, by design: in Python (graph.neo4j_plan.sample_entry, for a batch's new
triggers) and in Cypher (graph.neo4j_plan.SAMPLE_OF, for an older alert's scan and the refresh after an erasure). The
two must give the same string for the same event, or an alert's ten latest events would be chosen and shown
differently depending on which path wrote them; and the strings must sort as (time, event id) do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_neo4j_store import cypher

pytestmark = pytest.mark.integration

neo4j = pytest.importorskip("neo4j")
from graph.neo4j_plan import SAMPLE_OF, _dt, epoch, sample_entry  # noqa: E402 - needs the driver

INSTANTS = [
    datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # before 1970, a fraction: negative seconds
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1900, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # one microsecond
    datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC),
    datetime(2999, 12, 31, 23, 59, 59, 123_456, tzinfo=UTC),
    datetime(2026, 3, 1, 14, 0, tzinfo=UTC) - timedelta(hours=2),  # the same instant twice: the event id decides
]
ENTRIES = [(at, f"ev-{i % 3}", f"p{i}") for i, at in enumerate(INSTANTS)] + [(INSTANTS[-1], "ev-0", "p9")]

QUERY = f"""
UNWIND $rows AS r
WITH r, {{occurred_at: {_dt("r[0]", "r[1]")}, event_id: r[2]}} AS e, {{subject: r[3]}} AS t
RETURN r[4] AS i, {SAMPLE_OF.format(e="e", t="t")} AS entry
"""


def test_the_python_and_cypher_sample_entries_are_the_same_string() -> None:
    rows = [[*epoch(at), event_id, subject, i] for i, (at, event_id, subject) in enumerate(ENTRIES)]
    on_server = {r["i"]: r["entry"] for r in cypher(QUERY, rows=rows)}
    in_python = {i: sample_entry(at, event_id, subject) for i, (at, event_id, subject) in enumerate(ENTRIES)}
    assert on_server == in_python


def test_the_entries_sort_as_time_then_event_id() -> None:
    entries = [(at, event_id, sample_entry(at, event_id, subject)) for at, event_id, subject in ENTRIES]
    by_text = [(at, event_id) for at, event_id, _ in sorted(entries, key=lambda x: x[2])]
    assert by_text == sorted((at, event_id) for at, event_id, _ in entries)
