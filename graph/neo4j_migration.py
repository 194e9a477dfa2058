"""Bringing a Neo4j store written by an older version of privacy-lineage to this one's schema, one process at a time.

Every process that opens a store checks its version; when it is older, one of them migrates it and the others
wait. The one that migrates holds a lease on the store's ``(:Meta)`` node (``migrating_by``, ``migrating_until``),
renewed while it works; a lease that is not renewed (its process died) expires and another process takes over.
The migrations only convert what is not converted yet, so a take-over finishes the work without doing any twice.
Without this, two workers started together on a version 1 store each converted the same evidence (measured: 16
of 21,000 evidence relationships doubled).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from graph import neo4j_aggregates as aggregates
from graph.store import StoreConfigError

# -- schema version 1 -> 2: evidence written one relationship per lineage edge ({rel, target, purpose}) becomes one
# per (event, Data node) with the lists; an auto-commit query (its own transactions), run once when a store opens
MIGRATE_EVIDENCE = """
MATCH (e:Event) WHERE e.ns = $ns
CALL (e) {
  MATCH (e)-[x:EVIDENCE]->(d) WHERE x.rels IS NULL
  WITH e, d, collect(x) AS xs
  CREATE (e)-[:EVIDENCE {rels: [x IN xs | x.rel], targets: [x IN xs | x.target], purposes: [x IN xs | x.purpose]}]->(d)
  FOREACH (x IN xs | DELETE x)
} IN TRANSACTIONS OF 5000 ROWS
"""

# -- schema version 2 -> 3: events no longer keep the `batch` mark of the attempt that created them
MIGRATE_BATCH_MARK = """
MATCH (e:Event) WHERE e.ns = $ns AND e.batch IS NOT NULL
CALL (e) { REMOVE e.batch } IN TRANSACTIONS OF 10000 ROWS
"""


# -- schema version 4 -> 5: a data event carries its evidence (categories, source, purpose, recipient) and one ABOUT
# relationship to its person, instead of an EVIDENCE relationship to each of its Data nodes
MIGRATE_EVENT_EVIDENCE = """
MATCH (e:Event) WHERE e.ns = $ns AND e.categories IS NULL AND EXISTS { (e)-[:EVIDENCE]->() }
CALL (e) {
  MATCH (e)-[x:EVIDENCE]->(d:Data)
  WITH e, collect(x) AS xs, collect(d.category) AS categories
  WITH e, xs, categories,
       reduce(acc = [], x IN xs | acc + [i IN range(0, size(x.rels) - 1) | [x.rels[i], x.targets[i]]]) AS pairs
  SET e.categories = categories,
      e.source = head([p IN pairs WHERE p[0] = 'COLLECTED_FROM' | p[1]]),
      e.purpose = head([p IN pairs WHERE p[0] = 'USED_FOR' | p[1]]),
      e.recipient = head([p IN pairs WHERE p[0] = 'SHARED_WITH' | p[1]])
  FOREACH (x IN xs | DELETE x)
  WITH e
  MATCH (s:Subject {ns: e.ns, key: e.subject})
  MERGE (e)-[:ABOUT]->(s)
} IN TRANSACTIONS OF 5000 ROWS
"""
# ... and its lineage edges lose their counts and spans (read from the events since)
MIGRATE_EDGE_COUNTS = """
MATCH (d:Data) WHERE d.ns = $ns
CALL (d) {
  MATCH (d)-[e]-() WHERE e.count IS NOT NULL AND type(e) IN ['HOLDS', 'COLLECTED_FROM', 'USED_FOR', 'SHARED_WITH']
  REMOVE e.count, e.first_seen, e.last_seen
} IN TRANSACTIONS OF 5000 ROWS
"""

log = logging.getLogger(__name__)
T = TypeVar("T")

WriteRunner = Callable[[str, Callable[[Any], Any]], Any]  # (what, work in a write transaction) -> work's result
AutoRunner = Callable[[str], None]  # an auto-commit query with $ns


def rebuild_aggregates(namespace: str, write: WriteRunner, auto: AutoRunner, people_per_pass: int = 500) -> None:
    """Version 3 to 4: the flow aggregates, computed from the events (after any partial earlier attempt is dropped,
    so that a take-over after a crash does nothing twice), a few hundred people per transaction."""
    auto(aggregates.SET_SUBJECT_TYPES)
    auto(aggregates.DROP_AGGREGATES)
    people = write("list the people of", lambda tx: aggregates.all_people(tx, namespace))

    def page(part: list[str]) -> Callable[[Any], None]:
        return lambda tx: aggregates.rebuild_page(tx, namespace, part)

    for i in range(0, len(people), people_per_pass):
        write("rebuild the flow aggregates of", page(people[i : i + people_per_pass]))


def rebuild_steps(namespace: str, write: WriteRunner, auto: AutoRunner, people_per_pass: int = 1000) -> None:
    """Version 6 to 7: the steps a period's people are counted from (graph/aggregate_steps.py), computed from the
    months recorded per (person, unit) after any partial earlier attempt is dropped, a thousand people per
    transaction."""
    auto(aggregates.DROP_STEPS)
    people = write("list the people of", lambda tx: aggregates.all_people(tx, namespace))
    units = write("read the aggregate units of", lambda tx: aggregates.all_units(tx, namespace))

    def page(part: list[str]) -> Callable[[Any], None]:
        return lambda tx: aggregates.rebuild_steps_page(tx, namespace, part, units)

    for i in range(0, len(people), people_per_pass):
        write("rebuild the steps of", page(people[i : i + people_per_pass]))


Migration = str | Callable[[str, WriteRunner, AutoRunner], None]

# 2: one EVIDENCE per (event, Data node); 3: no `batch` on events; 4: events' subject_type, flow aggregates;
# 5: a data event carries its evidence as properties, with one ABOUT to its person (no EVIDENCE relationships), and
# the lineage edges no count, first_seen or last_seen; 6: a tombstone keeps what each recipient on its Art. 19 list
# received (``received``). A tombstone of an older store has none, and keeps none: its notices say "every category
# disclosed to you" (reports/notices.py), as they did. Nothing is converted, so the step to 6 is only the version
# recorded, which makes an older privacy-lineage refuse the store rather than write tombstones without them.
# 7: per key, the steps (:AggStep) from which a period's people are counted without reading its people.
SCHEMA_VERSION = "7"
_TO_5: tuple[Migration, ...] = (MIGRATE_EVENT_EVIDENCE, MIGRATE_EDGE_COUNTS)
#: what brings a store of each older version to SCHEMA_VERSION, in order (auto-commit queries, in batches, or
#: functions running their own transactions); the aggregates are rebuilt from the events' evidence, so after it moved
MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "1": (MIGRATE_EVIDENCE, MIGRATE_BATCH_MARK, *_TO_5, rebuild_aggregates),
    "2": (MIGRATE_BATCH_MARK, *_TO_5, rebuild_aggregates),
    "3": (*_TO_5, rebuild_aggregates),
    "4": (*_TO_5, rebuild_steps),
    "5": (rebuild_steps,),
    "6": (rebuild_steps,),
}
LEASE_SECONDS = 60
POLL_SECONDS = 0.5

# Setting a property takes the node's write lock before anything is read: of several processes claiming at once,
# each reads what the one before it committed (the Neo4j manual's way to avoid lost updates in Cypher).
_CLAIM = """
MATCH (m:Meta {ns: $ns, name: 'lineage'})
SET m.migration_lock = true REMOVE m.migration_lock
RETURN m.schema_version AS version, m.migrating_by AS owner, m.migrating_until AS until,
       coalesce(m.migrating_until < datetime(), true) AS expired
"""
_TAKE = """
MATCH (m:Meta {ns: $ns, name: 'lineage'})
SET m.migrating_by = $me, m.migrating_until = datetime() + duration({seconds: $lease})
"""
_RENEW = """
MATCH (m:Meta {ns: $ns, name: 'lineage'}) WHERE m.migrating_by = $me
SET m.migrating_until = datetime() + duration({seconds: $lease})
"""
_DONE = """
MATCH (m:Meta {ns: $ns, name: 'lineage'})
SET m.schema_version = $v
WITH m WHERE m.migrating_by = $me
REMOVE m.migrating_by, m.migrating_until
"""
_GIVE_UP = """
MATCH (m:Meta {ns: $ns, name: 'lineage'}) WHERE m.migrating_by = $me
REMOVE m.migrating_by, m.migrating_until
"""


def refuse(version: str, where: str) -> StoreConfigError:
    return StoreConfigError(
        f"the store in {where} has schema version {version}, which this version of privacy-lineage cannot read "
        f"(it reads versions {', '.join(sorted(MIGRATIONS))} and {SCHEMA_VERSION}); upgrade privacy-lineage"
    )


def bring_up_to_date(
    version: str,
    namespace: str,
    where: str,
    write: WriteRunner,
    auto: AutoRunner,
) -> None:
    """Migrate the store (found at ``version``) to SCHEMA_VERSION, or wait while another process does; refuse a
    version this module does not know (a newer privacy-lineage wrote it)."""
    if version == SCHEMA_VERSION:
        return
    if version not in MIGRATIONS:
        raise refuse(version, where)
    me = uuid.uuid4().hex
    waiting = False
    while True:

        def claim(tx: Any) -> tuple[str, str]:
            row = tx.run(_CLAIM, ns=namespace).single(strict=True)
            found = str(row["version"])
            if found == SCHEMA_VERSION or found not in MIGRATIONS:
                return "done" if found == SCHEMA_VERSION else "refuse", found
            # this process's own lease too: a claim whose commit landed but whose answer was lost is retried
            if row["owner"] in (None, me) or row["expired"]:
                tx.run(_TAKE, ns=namespace, me=me, lease=LEASE_SECONDS).consume()
                return "mine", found
            return "busy", found

        outcome, found = write("claim the migration of", claim)
        if outcome == "done":
            return
        if outcome == "refuse":
            raise refuse(found, where)
        if outcome == "mine":
            _migrate(found, namespace, me, write, auto)
            return
        if not waiting:
            log.info("another process is migrating the store in %s; waiting for it", where)
            waiting = True
        time.sleep(POLL_SECONDS)


def _migrate(version: str, namespace: str, me: str, write: WriteRunner, auto: AutoRunner) -> None:
    """Run the migrations of ``version`` while renewing this process's lease, then record SCHEMA_VERSION."""
    stop = threading.Event()

    def statement(query: str, **params: Any) -> Callable[[Any], Any]:
        return lambda tx: tx.run(query, ns=namespace, me=me, **params).consume()

    def renew() -> None:
        while not stop.wait(LEASE_SECONDS / 3):
            try:
                write("renew the migration lease of", statement(_RENEW, lease=LEASE_SECONDS))
            except Exception:  # noqa: BLE001 - the migration itself reports a lost server; a missed renewal can wait
                log.warning("could not renew the migration lease; another process may take the migration over")

    renewer = threading.Thread(target=renew, name="lineage-migration-lease", daemon=True)
    renewer.start()
    try:
        log.info("migrating the Neo4j store from schema version %s to %s", version, SCHEMA_VERSION)
        for migration in MIGRATIONS[version]:
            if isinstance(migration, str):
                auto(migration)
            else:
                migration(namespace, write, auto)
        write("record the schema version in", statement(_DONE, v=SCHEMA_VERSION))
    except BaseException:
        # let a waiting process try at once rather than after the lease runs out; if this fails too, the lease
        # expires by itself, and the first error is the one to report
        with contextlib.suppress(Exception):
            write("release the migration lease of", statement(_GIVE_UP))
        raise
    finally:
        stop.set()
        renewer.join()


def init_meta(tx: Any, namespace: str) -> str:
    """The store's schema version (a new store gets this module's)."""
    record = tx.run(
        "MERGE (m:Meta {ns: $ns, name: 'lineage'}) ON CREATE SET m.schema_version = $v RETURN m.schema_version AS v",
        ns=namespace,
        v=SCHEMA_VERSION,
    ).single(strict=True)
    return str(record["v"])


def bind_key(tx: Any, namespace: str, fingerprint: str) -> str:
    """Record the pseudonym key's fingerprint on a store that has none: the fingerprint the store holds after.

    The property is read inside the ``SET`` that writes it, so Cypher takes the node's write lock before reading
    (Neo4j's read-committed isolation: a read in a ``WITH`` before the ``SET`` let two first binds with different
    keys both read none, and both pass)."""
    record = tx.run(
        "MERGE (m:Meta {ns: $ns, name: 'lineage'})"
        " SET m.key_fingerprint = coalesce(m.key_fingerprint, $fp) RETURN m.key_fingerprint AS bound",
        ns=namespace,
        fp=fingerprint,
    ).single(strict=True)
    return str(record["bound"])
