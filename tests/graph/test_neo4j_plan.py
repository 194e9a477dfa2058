"""The Neo4j write planning (pure): each data event its own evidence, aggregates per key, lock order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from graph import neo4j_plan as plan
from graph.changes import ChangeSet, EventRecord, RecipientNode, Rel, SubjectNode

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
    [row], data = plan.event_rows([shared("e1", "p_a", T0)])
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
    # each Data node once, looked up once per batch (the lineage edges name it by the element id found)
    assert data == [[f"p_a|{c}", "p_a", c] for c in ("user.contact.email", "user.name")]


def test_each_edge_is_merged_once_per_batch_and_carries_only_its_key() -> None:
    batch = [shared(f"e{i}", "p_a", T0 + timedelta(hours=i)) for i in (2, 0, 1)]
    statements = dict(plan.plan(batch))
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
    assert order[0] == plan.SUBJECTS  # first: its element ids go into the HOLDS rows
    shared_from = order.index(plan.SOURCES)
    assert order.index(plan.EDGES[Rel.HOLDS]) < shared_from < order.index(plan.EDGES[Rel.USED_FOR])
    assert order.index(plan.RECIPIENTS) > order.index(plan.EDGES[Rel.SHARED_WITH])
