"""The raw per-person write: the least a per-person graph with idempotent events asks of Neo4j.

Per event, ``MERGE`` its person and ``CREATE`` the event node (a uniqueness constraint on its id, every field of
the event as a property) and one relationship from the person to it; batches of ``UNWIND`` rows, one write
transaction per batch, the rows built beforehand (untimed). Measurement 1 compares the pipeline with it, on the same
events (the store's own pseudonyms and fields), the same server and as many writer threads as workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.infra import delete_namespace, neo4j_driver, threaded_writes
from bench.services import Services
from graph.changes import ChangeSet
from graph.neo4j_plan import epoch

LABELS = (("RawPerson", "key"), ("RawEvent", "event_id"))

WRITE = """
UNWIND $rows AS r
MERGE (p:RawPerson {ns: $ns, key: r[0]})
CREATE (e:RawEvent {ns: $ns, event_id: r[1]})
SET e += r[4], e.occurred_at = datetime({epochSeconds: r[2], nanosecond: r[3]})
CREATE (p)-[:HAD]->(e)
"""


def rows(changes: Sequence[ChangeSet]) -> list[list[Any]]:
    """One row per event: [person (pseudonym), event id, seconds, nanoseconds, every other field of the event]."""
    out = []
    for cs in changes:
        ev = cs.event
        props: dict[str, Any] = {
            "kind": ev.kind,
            "emitted_by": ev.emitted_by,
            "role": ev.role,
            "subject_type": cs.subject.type,
            "categories": list(cs.categories),
        }
        for name, value in (
            ("customer", ev.customer),
            ("purpose", cs.purpose),
            ("source", cs.source.id if cs.source is not None else None),
            ("recipient", cs.recipient.id if cs.recipient is not None else None),
        ):
            if value is not None:
                props[name] = value
        out.append([ev.subject, ev.event_id, *epoch(ev.occurred_at), props])
    return out


def create_constraints(services: Services) -> None:
    with neo4j_driver(services) as driver:
        for label, key in LABELS:
            driver.execute_query(
                f"CREATE CONSTRAINT bench_{label.lower()} IF NOT EXISTS"
                f" FOR (n:{label}) REQUIRE (n.ns, n.{key}) IS UNIQUE",
                database_="neo4j",
            )


def write(services: Services, namespace: str, shares: Sequence[Sequence[list[list[Any]]]]) -> list[tuple[float, int]]:
    """Write each share's batches of rows from a thread of its own; (time, done so far) marks."""
    create_constraints(services)

    def batch(session: Any, rows: list[list[Any]]) -> int:
        session.execute_write(lambda tx: tx.run(WRITE, rows=rows, ns=namespace).consume())
        return len(rows)

    return threaded_writes(services, shares, batch)


def drop(services: Services, namespace: str) -> None:
    """Delete the raw write's nodes (its constraints stay for the next run, as the store's do)."""
    delete_namespace(services, namespace, [label for label, _ in LABELS])
