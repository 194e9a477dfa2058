"""The Neo4j store's schema: the uniqueness constraints behind every MERGE key, the indexes of its reads, and the
relationship types and property keys its Cypher names (graph/neo4j_store.py creates what is missing at open)."""

from __future__ import annotations

import contextlib

import neo4j
from neo4j import exceptions as neo4j_errors

# (name, label, key property): every MERGE key, (ns, key), is backed by a uniqueness constraint
CONSTRAINTS = (
    ("lineage_event", "Event", "event_id"),
    ("lineage_subject", "Subject", "key"),
    ("lineage_data", "Data", "id"),
    ("lineage_source", "Source", "id"),
    ("lineage_purpose", "Purpose", "key"),
    ("lineage_recipient", "Recipient", "id"),
    ("lineage_alert", "Alert", "alert_id"),
    ("lineage_consent", "Consent", "event_id"),
    ("lineage_meta", "Meta", "name"),
    ("lineage_tombstone", "Tombstone", "event_id"),
    ("lineage_agg_unit", "AggUnit", "id"),
    ("lineage_agg_key", "AggKey", "ref"),
    ("lineage_agg_month", "AggMonth", "id"),
    ("lineage_agg_step", "AggStep", "id"),
    ("lineage_art19_notice", "Art19Notice", "notice_id"),
)
INDEXES = (
    ("lineage_data_subject", "Data", "subject"),  # who_has: all data of one person
    ("lineage_event_subject", "Event", "subject"),  # erasure: all events of one person
    ("lineage_tombstone_subject", "Tombstone", "subject"),  # erasure cut-offs of the people in a batch
    ("lineage_agg_month_month", "AggMonth", "month"),  # flow aggregates of a period
    ("lineage_agg_step_month", "AggStep", "month"),  # people of a period
    ("lineage_art19_notice_subject", "Art19Notice", "subject"),  # a person's Art. 19 notices
)
# Indexes earlier versions created that no query uses any more: dropped at open, when present (each cost an index
# entry per node written). lineage_event_time (Event (ns, occurred_at)): the reports read periods from the flow
# aggregates, and every read of events goes by (ns, subject).
RETIRED_INDEXES = ("lineage_event_time",)
# Every relationship type and property key the store's Cypher names, created with the schema (the constraints
# create the labels): on a new database a query naming one that nothing has written yet makes the server warn
# ("relationship type does not exist", "property key does not exist"). Kept complete by a test against what a
# full workload writes.
RELATIONSHIP_TYPES = (
    "HOLDS", "COLLECTED_FROM", "USED_FOR", "SHARED_WITH", "ABOUT", "TRIGGERED", "RECORDED", "COUNTS_IN", "IN_UNIT",
    "EVIDENCE",  # read only by the migration of a store older than version 5
)  # fmt: skip
PROPERTY_KEYS = (
    "ns", "key", "type", "seen_at", "lock", "id", "subject", "category", "name", "country", "contact", "seen_event",
    "event_id", "kind", "emitted_by", "role", "customer", "occurred_at", "applied_at", "batch", "rels", "targets",
    "purposes", "purpose", "first_seen", "last_seen", "count", "alert_id", "rule", "severity", "recipient",
    "recipient_type", "reason", "clause_section", "clause_text", "policy_version", "status", "categories",
    "erased_at", "recipients", "schema_version", "key_fingerprint", "migration_lock", "migrating_by",
    "migrating_until", "subject_type", "fields", "events", "first_day", "last_day", "ref", "rollup", "people",
    "unit", "month", "days", "months", "source", "notice_id", "request", "channel", "sent_at", "acknowledged_at",
    "acknowledged_by", "created", "received", "recent", "prev",
)  # fmt: skip
CREATE_TOKENS = """
UNWIND $types AS t CALL db.createRelationshipType(t)
WITH count(*) AS done UNWIND $keys AS k CALL db.createProperty(k)
RETURN count(*) AS n
"""

#: What Neo4j answers a schema statement when another client created the same rule meanwhile
ALREADY_THERE = (
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
)


def statements() -> list[tuple[str, str]]:
    """(name, statement) of every constraint and index: created when missing (``IF NOT EXISTS`` decides races)."""
    return [
        (name, f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE (n.ns, n.{key}) IS UNIQUE")
        for name, label, key in CONSTRAINTS
    ] + [
        (name, f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.ns, n.{prop})")
        for name, label, prop in INDEXES
    ]


def create_missing(driver: neo4j.Driver, database: str, bookmarks: neo4j.BookmarkManager) -> None:
    """Create the constraints and indexes that are missing (schema changes run outside data transactions)."""
    try:
        records, _, _ = driver.execute_query(
            "SHOW INDEXES YIELD name RETURN collect(name) AS names", database_=database, bookmark_manager_=bookmarks
        )
        present = set(records[0]["names"])
    except neo4j_errors.ClientError:  # no SHOW privilege: let IF NOT EXISTS decide
        present = set()
    for name in RETIRED_INDEXES:
        if name in present:
            # without the schema privilege the index stays: unused, and harmless but for its cost per write
            with contextlib.suppress(neo4j_errors.ClientError):
                driver.execute_query(f"DROP INDEX {name} IF EXISTS", database_=database, bookmark_manager_=bookmarks)
    for name, statement in statements():
        if name not in present:
            try:
                driver.execute_query(statement, database_=database, bookmark_manager_=bookmarks)
            except neo4j_errors.ClientError as exc:
                # several workers starting together on a new database: another one created it meanwhile
                if exc.code not in ALREADY_THERE:
                    raise
