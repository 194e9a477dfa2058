"""The Neo4j write planning (pure): each data event its own evidence, aggregates per key, lock order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph import neo4j_plan as plan
from graph.changes import ChangeSet, EdgeKey, EventRecord, RecipientNode, Rel, SubjectNode

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
AFFILIATE = RecipientNode("hk-affiliate", "SOS Asia", "affiliate", "HK", None)


def shared(event_id: str, subject: str, at: datetime, purpose: str = "marketing.advertising") -> ChangeSet:
    return ChangeSet(
        event=EventRecord(event_id, "shared", at, "crm", subject, "controller", None),
        subject=SubjectNode(subject, "customer"),
        categories=("user.contact.email", "user.name"),
        purpose=purpose,
        recipient=AFFILIATE,
    )


def test_a_data_event_carries_what_its_lineage_edges_follow_from() -> None:
    [row] = plan.event_rows([shared("e1", "p_a", T0)])
    event_id, seconds, nanos, props, data_event = row
    assert (event_id, seconds, nanos) == ("e1", int(T0.timestamp()), 0)
    # no None; the data-subject type the event gave; its evidence: what its lineage edges follow from
    assert props == {
        "kind": "shared",
        "emitted_by": "crm",
        "subject": "p_a",
        "role": "controller",
        "subject_type": "customer",
        "categories": ["user.contact.email", "user.name"],
        "purpose": "marketing.advertising",
        "recipient": "hk-affiliate",
    }
    assert data_event is True


def test_each_edge_is_merged_once_per_batch_and_carries_only_its_key() -> None:
    batch = [shared(f"e{i}", "p_a", T0 + timedelta(hours=i)) for i in (2, 0, 1)]
    statements = dict(plan.plan(batch))
    # each Data node once, looked up once per batch (the lineage edges name it by the element id found)
    assert statements[plan.DATA] == [[f"p_a|{c}", "p_a", c] for c in ("user.contact.email", "user.name")]
    holds = statements[plan.EDGES[Rel.HOLDS]]
    assert holds == [[f"p_a|{c}", "p_a", "controller"] for c in ("user.contact.email", "user.name")]  # for 3 events
    nodes = {"p_a|user.contact.email": "4:x:1", "p_a|user.name": "4:x:2"}
    resolved = dict(plan.resolve(list(statements.items()), nodes, {"p_a": "4:x:9"}))
    assert resolved[plan.EDGES[Rel.HOLDS]][0] == ["4:x:1", "4:x:9", "controller"]
    [(target, shares)] = resolved[plan.EDGES[Rel.SHARED_WITH]]  # one row per target, its edges inside
    assert target == "hk-affiliate"
    assert shares == [[node, "marketing.advertising"] for node in ("4:x:1", "4:x:2")]
    assert "count" not in plan.EDGES[Rel.SHARED_WITH] and "SET" not in plan.EDGES[Rel.HOLDS]
    [recipient] = statements[plan.RECIPIENTS]
    assert recipient[0] == "hk-affiliate" and recipient[4] == "e2"  # the latest event's properties


def test_rows_on_shared_nodes_are_ordered_by_the_shared_node_then_the_person() -> None:
    batch = [shared("e1", "p_b", T0, "marketing.advertising"), shared("e2", "p_a", T0, "analytics.reporting")]
    uses = dict(plan.plan(batch))[plan.EDGES[Rel.USED_FOR]]
    assert [(target, [x[0] for x in edges]) for target, edges in uses] == [
        ("analytics.reporting", ["p_a|user.contact.email", "p_a|user.name"]),
        ("marketing.advertising", ["p_b|user.contact.email", "p_b|user.name"]),
    ]
    order = [q for q, _ in plan.plan(batch)]
    assert order[:2] == [plan.SUBJECTS, plan.DATA]  # first: their element ids go into the lineage edges' rows
    shared_from = order.index(plan.SOURCES)
    assert order.index(plan.EDGES[Rel.HOLDS]) < shared_from < order.index(plan.EDGES[Rel.USED_FOR])
    assert order.index(plan.RECIPIENTS) > order.index(plan.EDGES[Rel.SHARED_WITH])


def test_edges_written_before_are_not_planned_again_nor_their_data_nodes() -> None:
    first = [shared("e1", "p_a", T0)]
    new: dict[str, set[EdgeKey]] = {}
    plan.plan(first, {}, new)
    assert new == {"p_a": set(first[0].edges)}  # 2 HOLDS, 2 USED_FOR, 2 SHARED_WITH
    written = plan.Written()
    written.add(new)
    # the same flows again, and one new purpose for p_a; p_b is new
    later = [shared("e2", "p_a", T0 + timedelta(hours=1)), shared("e3", "p_a", T0, "analytics.reporting")]
    later.append(shared("e4", "p_b", T0))
    again: dict[str, set[EdgeKey]] = {}
    statements = dict(plan.plan(later, {p: written.known(p) for p in ("p_a", "p_b")}, again))
    assert [row[0] for row in statements[plan.DATA]] == [  # p_a's Data nodes only for its new edges
        "p_a|user.contact.email", "p_a|user.name", "p_b|user.contact.email", "p_b|user.name",
    ]  # fmt: skip
    assert [row[1] for row in statements[plan.EDGES[Rel.HOLDS]]] == ["p_b", "p_b"]
    uses = statements[plan.EDGES[Rel.USED_FOR]]
    assert [(target, len(edges)) for target, edges in uses] == [
        ("analytics.reporting", 2),
        ("marketing.advertising", 2),
    ]
    assert {e.rel for e in again["p_a"]} == {Rel.USED_FOR, Rel.SHARED_WITH} and len(again["p_a"]) == 4
    assert statements[plan.SUBJECTS] and len(statements[plan.SUBJECTS]) == 2  # people's rows are always written
    # a person left out of ``known`` (as one with a tombstone is) gets every edge planned again
    full = dict(plan.plan(later[:1], {}, {}))
    assert len(full[plan.EDGES[Rel.HOLDS]]) == 2


def test_the_memory_of_written_edges_is_bounded_and_forgets_the_least_recent_people() -> None:
    written = plan.Written(limit=8)
    edges = {p: set(shared(f"e-{p}", p, T0).edges) for p in ("p_a", "p_b", "p_c")}  # 6 edges each
    written.add({"p_a": edges["p_a"]})
    assert len(written) == 6 and written.known("p_a") == edges["p_a"]
    written.add({"p_b": edges["p_b"]})  # 12 > 8: p_a, written least recently, is forgotten
    assert len(written) == 6 and not written.known("p_a") and written.known("p_b") == edges["p_b"]
    written.add({"p_b": edges["p_b"]})  # nothing new: still 6
    assert len(written) == 6
    written.forget(["p_b", "p_c"])
    assert len(written) == 0 and not written.known("p_b")
