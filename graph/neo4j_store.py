"""GraphStore on Neo4j: uniqueness constraints, one batched UNWIND ... MERGE transaction per batch, named queries.

The graph model is documented in docs/graph-model.md. In short (every node also has ``ns``, its namespace)::

    (:Subject {key})-[:HOLDS {role}]->(:Data {id, subject, category})
    (:Data)-[:COLLECTED_FROM]->(:Source {id})   (:Data)-[:USED_FOR]->(:Purpose {key})
    (:Data)-[:SHARED_WITH {purpose}]->(:Recipient {id})
    (:Event {event_id, categories, source, purpose, recipient})-[:ABOUT]->(:Subject)
                                        a data event, the evidence of the lineage edges its fields give
                                        (graph.changes.edge_keys)
    (:Event)-[:TRIGGERED {subject}]->(:Alert {alert_id})                alert evidence
    (:Subject)-[:RECORDED]->(:Consent {event_id})                       consent withdrawals and opt-outs
    (:Tombstone {event_id, subject, erased_at, recipients, received})   an erasure (no relationships); received:
                                        "<recipient id> <category>" of what each recipient on its Art. 19 list got
    (:Art19Notice {notice_id, subject, request, recipient, ...})        a notice sent (graph/neo4j_notices.py)
    (:Meta {name: 'lineage'})                                           schema version, pseudonym-key fingerprint

Lineage edges are written once each and carry nothing but their key (HOLDS its role, SHARED_WITH its purpose): how
often and when a flow occurred is read from its evidence, the person's data events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import neo4j
from neo4j import exceptions as neo4j_errors

from config import Settings
from graph import neo4j_aggregates as aggregates
from graph import neo4j_connection as connection
from graph import neo4j_migration as migration
from graph import neo4j_notices as notice_nodes
from graph import neo4j_plan as plan
from graph import neo4j_reads as reads
from graph import neo4j_schema as schema
from graph import neo4j_transfer as transfer
from graph import neo4j_writes as writes
from graph.aggregate_reads import AggregateQueries
from graph.aggregator import Aggregator, Pending
from graph.changes import ChangeSet, EdgeKey, EventFacts, Tombstone
from graph.erasure import tombstones_by_person
from graph.neo4j_connection import DEFAULT_NAMESPACE
from graph.store import (
    ALERT_SAMPLE,
    AggregateRow,
    ApplyResult,
    Catalogue,
    ConsentLedger,
    GraphStore,
    PurgeResult,
    StoreConfigError,
    StoreUnavailable,
)
from policies.consent import ConsentRecord, ConsentState, consent_by_person
from schemas.answers import (
    Alert,
    StoreStats,
    WhoHas,
)
from schemas.notices import NoticeRecord

T = TypeVar("T")


class Neo4jGraphStore(AggregateQueries, GraphStore):
    """GraphStore on a Neo4j 5+ server (Community or Enterprise) through the official driver.

    Each :meth:`apply` is one managed write transaction, retried by the driver on transient errors: its first
    statement MERGEs the (:Event) nodes and reports which were created by this attempt, so events already
    processed (earlier, or concurrently by another writer) are skipped and a redelivered batch changes nothing.

    ``namespace`` (the ``ns`` property of every node) lets several lineage graphs share one database, which is
    how tests isolate on Community Edition (one user database); production keeps the default.
    """

    def __init__(
        self,
        uri: str,
        auth: tuple[str, str] | None,
        *,
        database: str = "neo4j",
        namespace: str = DEFAULT_NAMESPACE,
        connection_timeout: float = 10.0,
        max_retry_time: float = 30.0,
        trusted_ca: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        if not namespace:
            raise StoreConfigError("the Neo4j namespace must not be empty")
        self.uri, self.database, self.namespace = uri, database, namespace
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connection_timeout,
                max_transaction_retry_time=max_retry_time,
                user_agent="privacy-lineage",
                # the server sends no notifications: a query's warnings are the code's to fix, not a user's to read
                # (the driver logs each one on `neo4j.notifications`, which reached the terminal and the worker's log)
                notifications_min_severity="OFF",
                **connection.tls_config(uri, trusted_ca, client_cert, client_key),
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreConfigError(f"bad Neo4j store URL {uri!r}: {exc}") from exc
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        self._unsettled: dict[str, datetime] = {}  # batch -> applied_at of an attempt whose commit may have landed
        self._aggregator = Aggregator()
        self._registered: set[str] = set()  # aggregate units known to be recorded (a unit, once recorded, stays)
        self._written = plan.Written()  # lineage edges known to be written, per person (graph/neo4j_plan.py)
        try:
            with self._translated("connect to"):
                self._driver.verify_connectivity()
            self._ensure_schema()
        except BaseException:
            self._driver.close()
            raise

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Neo4jGraphStore:
        """Open ``neo4j[+s|+ssc]://`` or ``bolt[+s|+ssc]://[user:password@]host[:port][/database][?namespace=ns]``
        (graph.neo4j_connection.from_url: what the URL gives wins over ``settings``; TLS from the scheme or the
        ``neo4j_trusted_ca``, ``neo4j_client_cert`` and ``neo4j_client_key`` settings)."""
        c = connection.from_url(url, settings)
        return cls(
            c.uri,
            c.auth,
            database=c.database,
            namespace=c.namespace,
            connection_timeout=c.connection_timeout,
            max_retry_time=c.max_retry_time,
            trusted_ca=c.trusted_ca,
            client_cert=c.client_cert,
            client_key=c.client_key,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"Neo4j at {self.uri} (database {self.database!r})"

    def _translated(self, what: str) -> AbstractContextManager[None]:
        return connection.translated(self._where(), what)

    def _run(self, what: str, work: Callable[[neo4j.ManagedTransaction], T], *, write: bool = False) -> T:
        with (
            self._translated(what),
            self._driver.session(database=self.database, bookmark_manager=self._bookmarks) as s,
        ):
            return s.execute_write(work) if write else s.execute_read(work)

    def _ensure_schema(self) -> None:
        """Create the constraints and indexes that are missing (schema changes run outside data transactions)."""
        with self._translated("create constraints in"):
            schema.create_missing(self._driver, self.database, self._bookmarks)
        self._run(
            "create the relationship types and property keys in",
            lambda tx: tx.run(
                schema.CREATE_TOKENS, types=list(schema.RELATIONSHIP_TYPES), keys=list(schema.PROPERTY_KEYS)
            ).consume(),
            write=True,
        )
        version = self._run("initialise", lambda tx: migration.init_meta(tx, self.namespace), write=True)
        migration.bring_up_to_date(  # returns at once when the store is of this version
            version,
            self.namespace,
            f"{self._where()}, namespace {self.namespace!r}",
            lambda what, work: self._run(what, work, write=True),
            self._auto_commit,
        )

    def _auto_commit(self, query: str) -> None:
        """Run an auto-commit query with $ns (a migration, which commits in batches of its own)."""
        with (
            self._translated("migrate"),
            self._driver.session(database=self.database, bookmark_manager=self._bookmarks) as session,
        ):
            session.run(query, ns=self.namespace).consume()

    # -- writes -----------------------------------------------------------------------------------
    def bind_key(self, fingerprint: str) -> None:
        bound = self._run(
            "bind the pseudonym key in", lambda tx: migration.bind_key(tx, self.namespace, fingerprint), write=True
        )
        if bound != fingerprint:
            raise StoreConfigError(
                f"the store {self.uri} (database {self.database!r}, namespace {self.namespace!r}) was written with"
                f" another pseudonym key (fingerprint {bound}, this key's is {fingerprint}); use the same"
                " LINEAGE_PSEUDONYM_KEY or re-key the store"
            )

    def _write_batch(self, erasures: list[ChangeSet], others: list[ChangeSet]) -> ApplyResult:
        ids = [cs.event.event_id for cs in (*erasures, *others)]
        # A batch whose commit may have landed unseen (the connection lost during COMMIT) is retried with the same
        # applied_at: its events found with that stamp are then the earlier attempt's, reported as applied (their
        # findings too) instead of as duplicates, and nothing is written again.
        key = writes.batch_key(ids)
        unsettled = self._unsettled.pop(key, None)
        now = unsettled or datetime.now(UTC)
        attempts = 0
        keys = sorted({cs.event.subject for cs in others})
        people = sorted({cs.event.subject for cs in (*erasures, *others)})

        attempt: list[tuple[Pending, set[str]]] = []  # the last attempt's, remembered once it commits
        new: dict[str, set[EdgeKey]] = {}  # the lineage edges the last attempt wrote, per person

        def work(tx: neo4j.ManagedTransaction) -> tuple[list[str], list[str]]:
            nonlocal attempts
            attempts += 1
            attempt.clear()
            new.clear()
            check = unsettled is not None or attempts > 1
            batch = writes.Batch(erasures, others, ids, keys, people, now, check)
            return writes.apply_batch(
                tx, self.namespace, batch, self._aggregator, self._registered, attempt, self._written, new
            )

        try:
            applied, suppressed = self._run("write to", work, write=True)
        except StoreUnavailable:
            self._unsettled[key] = now
            while len(self._unsettled) > _UNSETTLED_KEPT:
                self._unsettled.pop(next(iter(self._unsettled)))
            raise
        for pending, units in attempt:
            self._aggregator.committed(pending)
            self._registered.update(units)
        self._written.add(new)
        self._written.forget(cs.erasure.subject for cs in erasures if cs.erasure is not None)
        erased = tuple(cs.event.event_id for cs in erasures if cs.event.event_id in applied)
        return ApplyResult(
            len(applied),
            len(ids) - len(applied) - len(suppressed),
            tuple(suppressed),
            frozenset(applied),
            erased,
            retries=attempts - 1,  # the driver runs `work` again after a transient error (a deadlock, say)
        )

    def purge(self) -> PurgeResult:
        # the server's files are out of reach of a client, and Neo4j frees nothing while it runs: see the text
        return PurgeResult(False, NEO4J_RESIDUE)

    def export_graph(self, out: TextIO) -> transfer.TransferCounts:
        """This namespace's nodes and relationships to ``out`` (graph/neo4j_transfer.py)."""
        return transfer.export_graph(self._query, self.namespace, out)

    def import_graph(self, lines: Callable[[], Iterable[str]]) -> transfer.TransferCounts:
        """An export of this namespace into it, which must be empty; ``lines`` opens the export (it is read twice:
        checked, then written; graph/neo4j_transfer.py)."""
        labels = frozenset(label for _, label, _ in schema.CONSTRAINTS)
        return transfer.import_graph(self._query, self.namespace, lines, labels, frozenset(schema.RELATIONSHIP_TYPES))

    def _query(self, query: str, params: dict[str, Any]) -> list[neo4j.Record]:
        with self._translated("copy the graph of"):
            records, _, _ = self._driver.execute_query(
                query, params, database_=self.database, bookmark_manager_=self._bookmarks
            )
        return list(records)

    def acknowledge_alert(self, alert_id: str) -> bool:
        def work(tx: neo4j.ManagedTransaction) -> int:
            record = tx.run(
                "OPTIONAL MATCH (a:Alert {ns: $ns, alert_id: $id}) SET a.status = 'acknowledged' RETURN count(a) AS n",
                ns=self.namespace,
                id=alert_id,
            ).single(strict=True)
            return int(record["n"])

        return self._run("acknowledge an alert in", work, write=True) > 0

    def record_notice(self, notice: NoticeRecord) -> bool:
        return self._run(
            "keep an Art. 19 notice in", lambda tx: notice_nodes.record(tx, self.namespace, notice), write=True
        )

    def notices(self, subject: str | None = None, *, notice_id: str | None = None) -> list[NoticeRecord]:
        return self._run(
            "read Art. 19 notices from", lambda tx: notice_nodes.read(tx, self.namespace, subject, notice_id)
        )

    def acknowledge_notice(self, notice_id: str, at: datetime, by: str | None) -> NoticeRecord | None:
        return self._run(
            "acknowledge an Art. 19 notice in",
            lambda tx: notice_nodes.acknowledge(tx, self.namespace, notice_id, at, by),
            write=True,
        )

    # -- reads ------------------------------------------------------------------------------------
    def occurred(self, event_ids: Sequence[str]) -> dict[str, datetime]:
        ids = sorted(set(event_ids))
        return self._run("read events from", lambda tx: reads.occurred(tx, self.namespace, ids)) if ids else {}

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(event_ids))
        return (
            self._run("read processed events from", lambda tx: reads.processed(tx, self.namespace, ids))
            if ids
            else set()
        )

    def first_recorded(
        self, subjects: Sequence[str], categories: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, dict[str, datetime]]:
        asked = categories or {}
        rows = [[s, sorted(set(asked[s])) if s in asked else None] for s in sorted(set(subjects))]
        if not rows:
            return {}
        return self._run(
            "read when data was first recorded from", lambda tx: reads.first_recorded(tx, self.namespace, rows)
        )

    def consent_state(self, subjects: Sequence[str]) -> dict[str, ConsentState]:
        keys = sorted(set(subjects))
        if not keys:
            return {}

        def work(tx: neo4j.ManagedTransaction) -> list[ConsentRecord]:
            return [reads.consent_record(r["c"]) for r in tx.run(reads.CONSENT_STATE, keys=keys, ns=self.namespace)]

        return consent_by_person(self._run("read consent records from", work))

    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        keys = sorted(set(subjects)) if subjects is not None else None
        if keys == []:
            return {}

        def work(tx: neo4j.ManagedTransaction) -> list[Tombstone]:
            query = reads.TOMBSTONES if keys is not None else reads.ALL_TOMBSTONES
            return [reads.tombstone(r["t"]) for r in tx.run(query, keys=keys, ns=self.namespace)]

        return tombstones_by_person(self._run("read tombstones from", work))

    def consent_and_erasures(self, applied_since: datetime | None = None) -> ConsentLedger:
        since = applied_since.astimezone(UTC) if applied_since is not None else None

        if since is None:
            consent_query, tombstone_query = reads.ALL_CONSENT, reads.ALL_TOMBSTONES
        else:
            consent_query, tombstone_query = reads.CONSENT_SINCE, reads.TOMBSTONES_SINCE

        def work(tx: neo4j.ManagedTransaction) -> tuple[list[ConsentRecord], list[Tombstone]]:
            consent = [reads.consent_record(r["c"]) for r in tx.run(consent_query, since=since, ns=self.namespace)]
            return consent, [reads.tombstone(r["t"]) for r in tx.run(tombstone_query, since=since, ns=self.namespace)]

        consent, tombstones = self._run("read consent records and tombstones from", work)
        return ConsentLedger(
            tuple(sorted(consent, key=lambda c: (c.occurred_at, c.event_id))),
            tuple(sorted(tombstones, key=lambda t: (t.erased_at, t.event_id))),
        )

    def who_has(self, subject: str) -> WhoHas | None:
        return self._run("query", lambda tx: reads.who_has(tx, self.namespace, subject))

    # -- aggregates (graph/aggregate_reads.py composes these) -----------------------------------------------------
    def aggregate_totals(self) -> list[AggregateRow]:
        return self._run("read aggregates from", lambda tx: aggregates.totals(tx, self.namespace))

    def aggregate_days(self, first_day: int, end_day: int) -> list[AggregateRow]:
        return self._run("read aggregates from", lambda tx: aggregates.days(tx, self.namespace, first_day, end_day))

    def aggregate_people(
        self, first_month: int, end_month: int, rollups: Sequence[str] | None = None
    ) -> dict[str, int]:
        return self._run(
            "read aggregates from", lambda tx: aggregates.people(tx, self.namespace, first_month, end_month, rollups)
        )

    def aggregate_members(
        self, pairs: Sequence[tuple[str, str]], first_month: int, end_month: int
    ) -> set[tuple[str, str]]:
        return self._run(
            "read aggregates from", lambda tx: aggregates.members(tx, self.namespace, pairs, first_month, end_month)
        )

    def aggregate_persons(self, first_month: int, end_month: int, refs: Sequence[str] | None = None) -> list[str]:
        return self._run(
            "read aggregates from", lambda tx: aggregates.persons(tx, self.namespace, first_month, end_month, refs)
        )

    def event_facts(
        self, since: datetime | None = None, until: datetime | None = None, people: Sequence[str] | None = None
    ) -> Iterator[EventFacts]:
        ns = self.namespace
        if people is None:
            people = self._run("read people from", lambda tx: aggregates.all_people(tx, ns))
        lo, hi = reads.param_ts(since), reads.param_ts(until)

        def page(part: Sequence[str]) -> Callable[[neo4j.ManagedTransaction], list[EventFacts]]:
            return lambda tx: aggregates.facts(tx, ns, part, lo, hi)

        for i in range(0, len(people), 200):
            yield from self._run("read events from", page(people[i : i + 200]))

    def catalogue(self) -> Catalogue:
        return self._run("query", lambda tx: reads.catalogue(tx, self.namespace))

    def alerts(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        subject: str | None = None,
    ) -> list[Alert]:
        params = {
            "ns": self.namespace,
            "status": status or None,
            "rule": rule or None,
            "since": reads.param_ts(since),
            "subject": subject or None,
            "sample": ALERT_SAMPLE,
        }
        return self._run("query", lambda tx: reads.alerts(tx, params))

    def has_events(self) -> bool:
        query = "MATCH (e:Event {ns: $ns}) RETURN true AS found LIMIT 1"  # stops at the first one
        return bool(self._run("look for events in", lambda tx: tx.run(query, ns=self.namespace).single() is not None))

    def stats(self) -> StoreStats:
        record = self._run("count", lambda tx: tx.run(reads.STATS, ns=self.namespace).single(strict=True).data())
        return StoreStats(**record)

    def close(self) -> None:
        self._driver.close()


#: batches whose commit may have landed unseen, kept (by batch) until a retry settles them; the oldest go first
_UNSETTLED_KEPT = 64


# What an erasure leaves on a Neo4j server's disk (measured in docs/privacy.md, "Erasure on Neo4j").
NEO4J_RESIDUE = (
    "Neo4j keeps deleted records in its store, index and transaction-log files until they are reused or pruned; "
    "the operator removes them by rebuilding the database (lineage neo4j export / import: docs/privacy.md, "
    "Erasure on Neo4j)"
)
