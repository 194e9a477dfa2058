"""Large synthetic lineage graphs for the latency measurements (who-has, reports), built without the full ingest.

Every person gets two events: a collection of their email address and name from their single sign-on, then a
disclosure of the email address to one of a few recipients for one of a few purposes. That is the graph
:func:`changesets` describes, and what the stores' ``apply()`` would make of it:

* SQLite: ``apply()`` itself, with those ChangeSets in batches of 20,000 events.
* Neo4j: running the full write path for 2 million events is too slow on this machine, so the same nodes,
  relationships and properties are CREATEd by a Cypher statement that generates them on the server
  (:data:`GENERATE`), 10,000 people per transaction. :func:`check_neo4j_generator` proves it equivalent: it builds a
  few people both ways and compares every who-has answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.changes import ChangeSet, EventRecord, RecipientNode, SourceNode, SubjectNode
from graph.store import GraphStore

BASE = datetime(2025, 6, 1, tzinfo=UTC)
SPREAD = 30 * 86_400  # first events spread over 30 days
SOURCE = SourceNode("data_subject:office365-sso", "data_subject", "office365-sso")
EMAIL, NAME = "user.contact.email", "user.name"
PURPOSES = ("essential.service.operations.support", "marketing.advertising", "analytics.reporting")
RECIPIENTS = tuple(
    RecipientNode(f"bench-recipient-{k}", f"Bench recipient {k}", t, c, f"privacy@r{k}.example")
    for k, (t, c) in enumerate(
        [
            ("affiliate", "HK"),
            ("service_provider", "US"),
            ("business_partner", "SG"),
            ("advertiser", "US"),
            ("affiliate", "DE"),
            ("service_provider", "IE"),
            ("investor", "GB"),
            ("data_broker", "US"),
        ]
    )
)


def subject_key(i: int) -> str:
    return f"p_bench{i:010d}"


def changesets(lo: int, hi: int) -> Iterator[ChangeSet]:
    """The two events of each person in [lo, hi), as the projection would make them."""
    ctrl = "controller"
    for i in range(lo, hi):
        key = subject_key(i)
        t1 = BASE + timedelta(seconds=i % SPREAD)
        t2 = t1 + timedelta(hours=1)
        purpose, rec = PURPOSES[i % len(PURPOSES)], RECIPIENTS[i % len(RECIPIENTS)]
        subject = SubjectNode(key, "customer")
        yield ChangeSet(
            event=EventRecord(f"{key}-c", "collected", t1, "bench", key, ctrl, "acme-corp"),
            subject=subject,
            categories=(EMAIL, NAME),
            source=SOURCE,
        )
        yield ChangeSet(
            event=EventRecord(f"{key}-s", "shared", t2, "bench", key, ctrl, "acme-corp"),
            subject=subject,
            categories=(EMAIL,),
            purpose=purpose,
            recipient=rec,
        )


def apply_people(store: GraphStore, lo: int, hi: int, batch_people: int = 10_000) -> None:
    """People [lo, hi) through ``store.apply()``."""
    for start in range(lo, hi, batch_people):
        store.apply(list(changesets(start, min(hi, start + batch_people))))


# -- Neo4j: the same graph generated on the server -----------------------------------------------------------------
SETUP = """
UNWIND $recipients AS r
MERGE (x:Recipient {ns: $ns, id: r.id})
  ON CREATE SET x.name = r.name, x.type = r.type, x.country = r.country, x.contact = r.contact,
                x.seen_at = $base, x.seen_event = ''
WITH count(*) AS _
MERGE (s:Source {ns: $ns, id: $source.id}) ON CREATE SET s.type = $source.type, s.name = $source.name
WITH count(*) AS _
UNWIND $purposes AS p
MERGE (:Purpose {ns: $ns, key: p})
"""
GENERATE = """
MATCH (src:Source {ns: $ns, id: $source})
UNWIND range($lo, $hi - 1) AS i
WITH src, i, 'p_bench' + right('0000000000' + toString(i), 10) AS key,
     $base + duration({seconds: i % $spread}) AS t1,
     $purposes[i % size($purposes)] AS purpose, $recipients[i % size($recipients)] AS rid
WITH src, i, key, t1, t1 + duration({hours: 1}) AS t2, purpose, rid
MATCH (pur:Purpose {ns: $ns, key: purpose})
MATCH (rec:Recipient {ns: $ns, id: rid})
CREATE (s:Subject {ns: $ns, key: key, type: 'customer', seen_at: t2})
CREATE (de:Data {ns: $ns, id: key + '|' + $email, subject: key, category: $email})
CREATE (dn:Data {ns: $ns, id: key + '|' + $name, subject: key, category: $name})
CREATE (s)-[:HOLDS {role: 'controller'}]->(de)
CREATE (s)-[:HOLDS {role: 'controller'}]->(dn)
CREATE (de)-[:COLLECTED_FROM]->(src)
CREATE (dn)-[:COLLECTED_FROM]->(src)
CREATE (de)-[:USED_FOR]->(pur)
CREATE (de)-[:SHARED_WITH {purpose: purpose}]->(rec)
CREATE (e1:Event {ns: $ns, event_id: key + '-c', kind: 'collected', occurred_at: t1, emitted_by: 'bench',
                  subject: key, role: 'controller', customer: 'acme-corp', applied_at: $now, subject_type: 'customer',
                  categories: [$email, $name], source: $source})
CREATE (e2:Event {ns: $ns, event_id: key + '-s', kind: 'shared', occurred_at: t2, emitted_by: 'bench',
                  subject: key, role: 'controller', customer: 'acme-corp', applied_at: $now, subject_type: 'customer',
                  categories: [$email], purpose: purpose, recipient: rid})
CREATE (e1)-[:ABOUT]->(s)
CREATE (e2)-[:ABOUT]->(s)
"""


def _params(namespace: str) -> dict[str, Any]:
    return {
        "ns": namespace,
        "base": BASE,
        "spread": SPREAD,
        "source": SOURCE.id,
        "email": EMAIL,
        "name": NAME,
        "purposes": list(PURPOSES),
        "recipients": [r.id for r in RECIPIENTS],
        "now": datetime.now(UTC),
    }


def neo4j_generate(driver: Any, namespace: str, lo: int, hi: int, batch_people: int = 10_000) -> None:
    """People [lo, hi) generated on the server, ``batch_people`` per transaction."""
    params = _params(namespace)
    driver.execute_query(
        SETUP,
        ns=namespace,
        base=BASE,
        source={"id": SOURCE.id, "type": SOURCE.type, "name": SOURCE.name},
        purposes=list(PURPOSES),
        recipients=[
            {"id": r.id, "name": r.name, "type": r.type, "country": r.country, "contact": r.contact} for r in RECIPIENTS
        ],
        database_="neo4j",
    )
    for start in range(lo, hi, batch_people):
        driver.execute_query(GENERATE, params | {"lo": start, "hi": min(hi, start + batch_people)}, database_="neo4j")


def check_neo4j_generator(services: Any, people: int = 24) -> None:
    """Build ``people`` both ways (apply() and the generator) and require identical who-has answers."""
    from bench.common import KEY
    from bench.infra import delete_namespace, neo4j_driver, open_neo4j_store, run_id
    from graph.pseudonym import Pseudonymizer, key_from_text

    rid = run_id()
    applied_ns, generated_ns = f"bench-check-a-{rid}", f"bench-check-g-{rid}"
    fingerprint = Pseudonymizer(key_from_text(KEY)).fingerprint
    a = open_neo4j_store(services, applied_ns)
    g = open_neo4j_store(services, generated_ns)
    try:
        a.bind_key(fingerprint)
        apply_people(a, 0, people)
        with neo4j_driver(services) as driver:
            neo4j_generate(driver, generated_ns, 0, people)
        for i in range(people):
            want, got = a.who_has(subject_key(i)), g.who_has(subject_key(i))
            if want is None or got is None or want.model_dump() != got.model_dump():
                raise RuntimeError(f"the Neo4j graph generator differs from apply() for person {i}:\n{want}\n{got}")
    finally:
        a.close()
        g.close()
        delete_namespace(services, applied_ns)
        delete_namespace(services, generated_ns)
