"""The reference a team would write by hand: a kafka-python consumer running one Cypher write transaction per event.

It does less than the product does (no contract validation, no policy, no pseudonyms, no evidence per event, no
idempotence record), and it gets what a careful team would give it: uniqueness constraints behind every MERGE key,
the database name on every session, one session reused, auto-committed offsets.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.services import PASSWORD, Services

LABELS = (
    ("NaivePerson", "id"),
    ("NaiveData", "id"),
    ("NaivePurpose", "key"),
    ("NaiveSource", "id"),
    ("NaiveRecipient", "id"),
)

WRITE = """
MERGE (p:NaivePerson {ns: $ns, id: $subject}) ON CREATE SET p.type = $subject_type
WITH p
UNWIND $categories AS category
MERGE (d:NaiveData {ns: $ns, id: $subject + '|' + category}) ON CREATE SET d.category = category
MERGE (p)-[h:HAS]->(d) ON CREATE SET h.first_seen = $at, h.count = 0
SET h.last_seen = $at, h.count = h.count + 1
FOREACH (_ IN CASE WHEN $source IS NULL THEN [] ELSE [1] END |
  MERGE (s:NaiveSource {ns: $ns, id: $source.type + ':' + coalesce($source.name, '')})
  MERGE (d)-[:COLLECTED_FROM]->(s))
FOREACH (_ IN CASE WHEN $purpose IS NULL THEN [] ELSE [1] END |
  MERGE (u:NaivePurpose {ns: $ns, key: $purpose})
  MERGE (d)-[:USED_FOR]->(u))
FOREACH (_ IN CASE WHEN $recipient IS NULL THEN [] ELSE [1] END |
  MERGE (r:NaiveRecipient {ns: $ns, id: $recipient.id})
  SET r.name = $recipient.name, r.type = $recipient.type, r.country = $recipient.country
  MERGE (d)-[x:SHARED_WITH {purpose: $purpose}]->(r) ON CREATE SET x.first_seen = $at
  SET x.last_seen = $at)
"""


def create_constraints(services: Services) -> None:
    import neo4j

    with neo4j.GraphDatabase.driver(services.neo4j_uri, auth=("neo4j", PASSWORD)) as driver:
        for label, key in LABELS:
            driver.execute_query(
                f"CREATE CONSTRAINT bench_{label.lower()} IF NOT EXISTS"
                f" FOR (n:{label}) REQUIRE (n.ns, n.{key}) IS UNIQUE",
                database_="neo4j",
            )


def consume(services: Services, topic: str, namespace: str, total: int, seconds: float) -> list[tuple[float, int]]:
    """Consume ``topic`` from the start for at most ``seconds`` or ``total`` events; return (time, done) marks."""
    import neo4j
    from kafka import KafkaConsumer  # type: ignore[import-untyped]

    create_constraints(services)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=services.kafka_bootstrap,
        group_id=f"{namespace}-naive",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    marks: list[tuple[float, int]] = [(time.perf_counter(), 0)]
    done = 0
    try:
        with (
            neo4j.GraphDatabase.driver(services.neo4j_uri, auth=("neo4j", PASSWORD)) as driver,
            driver.session(database="neo4j") as session,
        ):

            def write(tx: Any, e: dict[str, Any]) -> None:
                tx.run(
                    WRITE,
                    ns=namespace,
                    subject=e["subject"]["id"],
                    subject_type=e["subject"]["type"],
                    categories=e.get("data_categories", []),
                    at=e["occurred_at"],
                    source=e.get("source"),
                    purpose=e.get("purpose"),
                    recipient=e.get("recipient"),
                ).consume()

            deadline = time.perf_counter() + seconds
            while done < total and time.perf_counter() < deadline:
                for records in consumer.poll(timeout_ms=500, max_records=500).values():
                    for message in records:
                        session.execute_write(write, json.loads(message.value))
                        done += 1
                        if done % 100 == 0:
                            marks.append((time.perf_counter(), done))
    finally:
        consumer.close()
    marks.append((time.perf_counter(), done))
    return marks


def drop(services: Services, namespace: str) -> None:
    """Delete the naive consumer's nodes and constraints."""
    import neo4j

    from bench.infra import delete_namespace

    delete_namespace(services, namespace, [label for label, _ in LABELS])
    with neo4j.GraphDatabase.driver(services.neo4j_uri, auth=("neo4j", PASSWORD)) as driver:
        for label, _ in LABELS:
            driver.execute_query(f"DROP CONSTRAINT bench_{label.lower()} IF EXISTS", database_="neo4j")
