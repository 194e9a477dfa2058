"""GraphStore on Neo4j: uniqueness constraints, one batched UNWIND ... MERGE transaction per batch, named queries.

The graph model is documented in docs/graph-model.md. In short (every node also has ``ns``, its namespace)::

    (:Subject {key})-[:HOLDS {role}]->(:Data {id, subject, category})
    (:Data)-[:COLLECTED_FROM]->(:Source {id})   (:Data)-[:USED_FOR]->(:Purpose {key})
    (:Data)-[:SHARED_WITH {purpose}]->(:Recipient {id})
    (:Event {event_id})-[:EVIDENCE {rels, targets, purposes}]->(:Data)  one per (event, Data): the lineage
                                                                         edges (rels[i], targets[i], purposes[i])
    (:Event)-[:TRIGGERED {subject}]->(:Alert {alert_id})                alert evidence
    (:Subject)-[:RECORDED]->(:Consent {event_id})                       consent withdrawals and opt-outs
    (:Tombstone {event_id, subject, erased_at, recipients})             an erasure (no relationships)
    (:Meta {name: 'lineage'})                                           schema version, pseudonym-key fingerprint

Lineage edges carry first_seen, last_seen (Neo4j DateTime, UTC) and count (distinct events).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as neo4j_errors

from config import Settings
from graph import neo4j_aggregates as aggregates
from graph import neo4j_migration as migration
from graph import neo4j_plan as plan
from graph import neo4j_reads as reads
from graph import neo4j_transfer as transfer
from graph.aggregate_reads import AggregateQueries
from graph.aggregates import Aggregator, Pending
from graph.changes import ChangeSet, EventFacts, Tombstone
from graph.erasure import covering, tombstones_by_person
from graph.neo4j_migration import SCHEMA_VERSION
from graph.store import (
    ALERT_SAMPLE,
    AggregateRow,
    ApplyResult,
    Catalogue,
    ConsentLedger,
    GraphStore,
    PurgeResult,
    StoreAuthError,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)
from policies.consent import ConsentRecord, ConsentState, consent_by_person
from schemas.answers import (
    Alert,
    RecipientRef,
    SourceRef,
    StoreStats,
    WhoHas,
)

DEFAULT_NAMESPACE = "default"
T = TypeVar("T")

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
)
INDEXES = (
    ("lineage_data_subject", "Data", "subject"),  # who_has: all data of one person
    ("lineage_event_time", "Event", "occurred_at"),  # flows by period
    ("lineage_event_subject", "Event", "subject"),  # erasure: all events of one person
    ("lineage_tombstone_subject", "Tombstone", "subject"),  # erasure cut-offs of the people in a batch
    ("lineage_agg_month_month", "AggMonth", "month"),  # flow aggregates of a period
)
# Every relationship type and property key the store's Cypher names, created with the schema (the constraints
# create the labels): on a new database a query naming one that nothing has written yet makes the server warn
# ("relationship type does not exist", "property key does not exist"). Kept complete by a test against what a
# full workload writes.
RELATIONSHIP_TYPES = (
    "HOLDS", "COLLECTED_FROM", "USED_FOR", "SHARED_WITH", "EVIDENCE", "TRIGGERED", "RECORDED", "COUNTS_IN", "IN_UNIT",
)  # fmt: skip
PROPERTY_KEYS = (
    "ns", "key", "type", "seen_at", "lock", "id", "subject", "category", "name", "country", "contact", "seen_event",
    "event_id", "kind", "emitted_by", "role", "customer", "occurred_at", "applied_at", "batch", "rels", "targets",
    "purposes", "purpose", "first_seen", "last_seen", "count", "alert_id", "rule", "severity", "recipient",
    "recipient_type", "reason", "clause_section", "clause_text", "policy_version", "status", "categories",
    "erased_at", "recipients", "schema_version", "key_fingerprint", "migration_lock", "migrating_by",
    "migrating_until", "subject_type", "fields", "events", "first_day", "last_day", "ref", "rollup", "people",
    "unit", "month", "days", "months",
)  # fmt: skip
CREATE_TOKENS = """
UNWIND $types AS t CALL db.createRelationshipType(t)
WITH count(*) AS done UNWIND $keys AS k CALL db.createProperty(k)
RETURN count(*) AS n
"""


def _tls_config(uri: str, trusted_ca: str | None, client_cert: str | None, client_key: str | None) -> dict[str, Any]:
    """Driver settings for a private CA and a client certificate (the ``+s``/``+ssc`` schemes need neither)."""
    config: dict[str, Any] = {}
    scheme = uri.split("://", 1)[0].lower()
    if trusted_ca:
        if "+" in scheme:
            raise StoreConfigError(
                f"a trusted CA file (LINEAGE_NEO4J_TRUSTED_CA) goes with a plain bolt:// or neo4j:// URL, not "
                f"{scheme}:// (+s trusts the system's CAs, +ssc any certificate)"
            )
        if not Path(trusted_ca).is_file():
            raise StoreConfigError(f"the Neo4j trusted CA file {trusted_ca!r} does not exist")
        config.update(encrypted=True, trusted_certificates=neo4j.TrustCustomCAs(trusted_ca))
    if client_cert:
        from neo4j.auth_management import ClientCertificate

        if "+" not in scheme and not trusted_ca:
            raise StoreConfigError("a client certificate needs TLS: use bolt+s:// or neo4j+s://, or a trusted CA file")
        config["client_certificate"] = ClientCertificate(client_cert, client_key)
    return config


def _is_auth_error(exc: neo4j_errors.Neo4jError) -> bool:
    return isinstance(exc, neo4j_errors.AuthError | neo4j_errors.Forbidden) or (exc.code or "").startswith(
        "Neo.ClientError.Security."
    )


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
                **_tls_config(uri, trusted_ca, client_cert, client_key),
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreConfigError(f"bad Neo4j store URL {uri!r}: {exc}") from exc
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        self._unsettled: dict[str, datetime] = {}  # batch -> applied_at of an attempt whose commit may have landed
        self._aggregator = Aggregator()
        self._registered: set[str] = set()  # aggregate units known to be recorded (a unit, once recorded, stays)
        try:
            with self._translated("connect to"):
                self._driver.verify_connectivity()
            self._ensure_schema()
        except BaseException:
            self._driver.close()
            raise

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Neo4jGraphStore:
        """Open ``neo4j[+s|+ssc]://`` or ``bolt[+s|+ssc]://[user:password@]host[:port][/database][?namespace=ns]``.

        What the URL gives wins over ``settings`` (``neo4j_user``, ``neo4j_password``, ``neo4j_database``,
        ``neo4j_namespace``); ``neo4j_connection_timeout`` and ``neo4j_max_retry_time`` are in seconds. TLS comes
        with the scheme (``+s``: the certificate is verified against the system's CAs; ``+ssc``: any certificate,
        encryption without authentication of the server), or, with a plain ``bolt://`` or ``neo4j://`` URL, from
        ``neo4j_trusted_ca`` (a PEM file of the CA(s) to trust, e.g. a private CA). ``neo4j_client_cert`` and
        ``neo4j_client_key`` (PEM files) present a client certificate (mutual TLS).
        """
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise StoreConfigError(f"bad Neo4j store URL {url!r}: {exc}") from exc
        host = parts.hostname or ""
        if not host:
            raise StoreConfigError(f"bad Neo4j store URL {url!r}: no host (expected neo4j://host:7687)")
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        user = unquote(parts.username) if parts.username else settings.neo4j_user
        password = unquote(parts.password) if parts.password is not None else settings.neo4j_password
        database = unquote(parts.path.strip("/")) or settings.neo4j_database or "neo4j"
        query = parse_qsl(parts.query, keep_blank_values=True)  # the rest is the driver's routing context
        namespace = next((v for k, v in query if k == "namespace"), None) or settings.neo4j_namespace
        routing = urlencode([(k, v) for k, v in query if k != "namespace"])
        retry = settings.neo4j_max_retry_time

        def path(value: Path | None) -> str | None:
            return str(value) if value else None

        return cls(
            urlunsplit((parts.scheme.lower(), netloc, "", routing, "")),
            (user, password) if user else None,
            database=database,
            namespace=namespace or DEFAULT_NAMESPACE,
            connection_timeout=settings.neo4j_connection_timeout,
            max_retry_time=30.0 if retry is None else retry,
            trusted_ca=path(settings.neo4j_trusted_ca),
            client_cert=path(settings.neo4j_client_cert),
            client_key=path(settings.neo4j_client_key),
        )

    # -- plumbing ---------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"Neo4j at {self.uri} (database {self.database!r})"

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Driver errors become the project's own, naming the server (never the password)."""
        where = self._where()
        try:
            yield
        except neo4j_errors.Neo4jError as exc:
            if _is_auth_error(exc):
                raise StoreAuthError(f"{where} refused the credentials: {exc.message}") from exc
            if isinstance(exc, neo4j_errors.TransientError):
                raise StoreUnavailable(f"cannot {what} {where}: {exc.message}") from exc
            if (exc.code or "").startswith(("Neo.ClientError.Database.", "Neo.ClientError.Schema.")):
                raise StoreConfigError(f"cannot {what} {where}: {exc.message}") from exc
            raise StoreError(f"cannot {what} {where}: {exc.code}: {exc.message}") from exc
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, neo4j_errors.ConnectionPoolError) as exc:
            raise StoreUnavailable(f"cannot {what} {where}: {exc}") from exc
        except neo4j_errors.ConfigurationError as exc:
            raise StoreConfigError(f"cannot {what} {where}: {exc}") from exc
        except neo4j_errors.DriverError as exc:
            raise StoreError(f"cannot {what} {where}: {exc}") from exc

    def _run(self, what: str, work: Callable[[neo4j.ManagedTransaction], T], *, write: bool = False) -> T:
        with (
            self._translated(what),
            self._driver.session(database=self.database, bookmark_manager=self._bookmarks) as s,
        ):
            return s.execute_write(work) if write else s.execute_read(work)

    def _ensure_schema(self) -> None:
        """Create the constraints and indexes that are missing (schema changes run outside data transactions)."""
        wanted = [
            (name, f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE (n.ns, n.{key}) IS UNIQUE")
            for name, label, key in CONSTRAINTS
        ] + [
            (name, f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.ns, n.{prop})")
            for name, label, prop in INDEXES
        ]
        with self._translated("create constraints in"):
            try:
                records, _, _ = self._driver.execute_query(
                    "SHOW INDEXES YIELD name RETURN collect(name) AS names",
                    database_=self.database,
                    bookmark_manager_=self._bookmarks,
                )
                present = set(records[0]["names"])
            except neo4j_errors.ClientError:  # no SHOW privilege: let IF NOT EXISTS decide
                present = set()
            for name, statement in wanted:
                if name not in present:
                    try:
                        self._driver.execute_query(
                            statement, database_=self.database, bookmark_manager_=self._bookmarks
                        )
                    except neo4j_errors.ClientError as exc:
                        # several workers starting together on a new database: another one created it meanwhile
                        if exc.code not in _SCHEMA_ALREADY_THERE:
                            raise
        self._run(
            "create the relationship types and property keys in",
            lambda tx: tx.run(CREATE_TOKENS, types=list(RELATIONSHIP_TYPES), keys=list(PROPERTY_KEYS)).consume(),
            write=True,
        )
        version = self._run("initialise", self._init_meta, write=True)
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

    def _init_meta(self, tx: neo4j.ManagedTransaction) -> str:
        """The store's schema version (a new store gets this module's)."""
        record = tx.run(
            "MERGE (m:Meta {ns: $ns, name: 'lineage'}) ON CREATE SET m.schema_version = $v"
            " RETURN m.schema_version AS v",
            ns=self.namespace,
            v=SCHEMA_VERSION,
        ).single(strict=True)
        return str(record["v"])

    # -- writes -----------------------------------------------------------------------------------
    def bind_key(self, fingerprint: str) -> None:
        def work(tx: neo4j.ManagedTransaction) -> str | None:
            record = tx.run(
                "MERGE (m:Meta {ns: $ns, name: 'lineage'}) WITH m, m.key_fingerprint AS old"
                " SET m.key_fingerprint = coalesce(old, $fp) RETURN old",
                ns=self.namespace,
                fp=fingerprint,
            ).single(strict=True)
            return record["old"]  # type: ignore[no-any-return]

        old = self._run("bind the pseudonym key in", work, write=True)
        if old is not None and old != fingerprint:
            raise StoreConfigError(
                f"the store {self.uri} (database {self.database!r}, namespace {self.namespace!r}) was written with"
                f" another pseudonym key (fingerprint {old}, this key's is {fingerprint}); use the same"
                " LINEAGE_PSEUDONYM_KEY or re-key the store"
            )

    def _write_batch(self, erasures: list[ChangeSet], others: list[ChangeSet]) -> ApplyResult:
        ids = [cs.event.event_id for cs in (*erasures, *others)]
        # A batch whose commit may have landed unseen (the connection lost during COMMIT) is retried with the same
        # applied_at: its events found with that stamp are then the earlier attempt's, reported as applied (their
        # findings too) instead of as duplicates, and nothing is written again.
        key = _batch_key(ids)
        unsettled = self._unsettled.pop(key, None)
        now = unsettled or datetime.now(UTC)
        attempts = 0
        keys = sorted({cs.event.subject for cs in others})
        people = sorted({cs.event.subject for cs in (*erasures, *others)})

        agg = self._aggregator
        attempt: list[tuple[Pending, set[str]]] = []  # the last attempt's, remembered once it commits

        def work(tx: neo4j.ManagedTransaction) -> tuple[list[str], list[str]]:
            nonlocal attempts
            attempts += 1
            attempt.clear()
            token = uuid.uuid4().hex  # per attempt: a retry after a commit that did land finds its events present
            landed = self._landed(tx, ids, now) if unsettled or attempts > 1 else []
            if not landed:
                lock_people(tx, self.namespace, people)  # before their tombstones are read
            tombstones: dict[str, list[tuple[datetime, str]]] = {}
            for r in tx.run(plan.CUTOFFS, keys=keys, ns=self.namespace) if keys else ():
                tombstones.setdefault(r["key"], []).append((reads.utc(r["at"]), r["event_id"]))
            if landed:  # the earlier attempt committed: report what it did, write nothing
                done = set(landed)
                return landed, [
                    cs.event.event_id
                    for cs in others
                    if cs.event.event_id not in done
                    and covering(tombstones.get(cs.event.subject, ()), cs.event.occurred_at.astimezone(UTC)) is not None
                ]
            applied: list[str] = []
            for cs in erasures:
                assert cs.erasure is not None
                if self._erase(tx, cs, token, now):
                    applied.append(cs.event.event_id)
                    er = cs.erasure
                    tombstones.setdefault(er.subject, []).append((er.occurred_at.astimezone(UTC), er.event_id))
            kept, covered = [], []
            for cs in others:
                tombstone = covering(tombstones.get(cs.event.subject, ()), cs.event.occurred_at.astimezone(UTC))
                if tombstone is None:
                    kept.append(cs)
                else:
                    covered.append((cs, tombstone))
            if covered:  # the catalogue as in-order delivery leaves it; late disclosures added to Art. 19 lists
                for query, statement_rows in plan.catalogue([cs for cs, _ in covered]):
                    if statement_rows:
                        tx.run(query, rows=statement_rows, ns=self.namespace).consume()
                late = sorted({(t, cs.recipient.id) for cs, t in covered if cs.recipient is not None})
                tx.run(plan.LATE_RECIPIENTS, rows=[list(x) for x in late], ns=self.namespace).consume()
            suppressed = [cs.event.event_id for cs, _ in covered]
            fresh: list[ChangeSet] = []
            if kept:
                # the events with their Data nodes and evidence; only those this attempt created are new
                created, data = self._events(tx, kept, token, now)
                fresh = [cs for cs in kept if cs.event.event_id in created]
                write(tx, self.namespace, plan.plan(fresh), data)
                # the flow aggregates of the new events, last: they lock shared nodes (units, keys), in key order
                delta, pending = agg.delta(fresh, {k: len(t) for k, t in tombstones.items()})
                ns = self.namespace
                aggregates.register(tx, ns, [u for u in delta.units.values() if u.id not in self._registered])
                read, units = aggregates.stored_units(tx, ns, pending.unseen, agg.units)
                agg.add_units(units)
                aggregates.write(tx, ns, delta, agg.people_added(delta, pending, read))
                attempt.append((pending, set(delta.units)))
            written = {cs.subject.key for cs in fresh}
            bare = [key for key in people if key not in written]  # locked, but nothing new about them
            if bare:
                tx.run(plan.FORGET_BARE, keys=bare, ns=self.namespace).consume()
            return applied + [cs.event.event_id for cs in fresh], suppressed

        try:
            applied, suppressed = self._run("write to", work, write=True)
        except StoreUnavailable:
            self._unsettled[key] = now
            while len(self._unsettled) > _UNSETTLED_KEPT:
                self._unsettled.pop(next(iter(self._unsettled)))
            raise
        for pending, units in attempt:
            agg.committed(pending)
            self._registered.update(units)
        erased = tuple(cs.event.event_id for cs in erasures if cs.event.event_id in applied)
        return ApplyResult(
            len(applied), len(ids) - len(applied) - len(suppressed), tuple(suppressed), frozenset(applied), erased
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
        labels = frozenset(label for _, label, _ in CONSTRAINTS)
        return transfer.import_graph(self._query, self.namespace, lines, labels, frozenset(RELATIONSHIP_TYPES))

    def _query(self, query: str, params: dict[str, Any]) -> list[neo4j.Record]:
        with self._translated("copy the graph of"):
            records, _, _ = self._driver.execute_query(
                query, params, database_=self.database, bookmark_manager_=self._bookmarks
            )
        return list(records)

    def _landed(self, tx: neo4j.ManagedTransaction, ids: list[str], now: datetime) -> list[str]:
        """The events among ``ids`` an earlier attempt of this batch (applied at ``now``) committed."""
        record = tx.run(plan.LANDED, ids=ids, now=now, ns=self.namespace).single(strict=True)
        return list(record[0])

    def _events(
        self, tx: neo4j.ManagedTransaction, batch: Sequence[ChangeSet], token: str, now: datetime
    ) -> tuple[set[str], dict[str, str]]:
        """MERGE the events, their Data nodes and evidence: the ids of the events this attempt created, and the
        element ids of the Data nodes (by Data id)."""
        rows, data_rows = plan.event_rows(batch)
        return events(tx, self.namespace, rows, data_rows, token, now)

    def _erase(self, tx: neo4j.ManagedTransaction, cs: ChangeSet, token: str, now: datetime) -> bool:
        """Apply one erasure in ``tx``; False when its event was already processed."""
        er = cs.erasure
        assert er is not None
        if not self._events(tx, [cs], token, now)[0]:
            return False
        params = {
            "ns": self.namespace,
            "key": er.subject,
            "at": er.occurred_at.astimezone(UTC),
            "event_id": er.event_id,
            "now": now,
            "reason": er.reason,
            "known": list(er.recipients),
        }
        aggregates.erase(tx, self.namespace, er.subject, er.occurred_at)  # while the events it takes away are there
        for statement in plan.ERASURE_STATEMENTS:
            tx.run(statement, params).consume()
        return True

    def acknowledge_alert(self, alert_id: str) -> bool:
        def work(tx: neo4j.ManagedTransaction) -> int:
            record = tx.run(
                "OPTIONAL MATCH (a:Alert {ns: $ns, alert_id: $id}) SET a.status = 'acknowledged' RETURN count(a) AS n",
                ns=self.namespace,
                id=alert_id,
            ).single(strict=True)
            return int(record["n"])

        return self._run("acknowledge an alert in", work, write=True) > 0

    # -- reads ------------------------------------------------------------------------------------
    def occurred(self, event_ids: Sequence[str]) -> dict[str, datetime]:
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        query = "UNWIND $ids AS id MATCH (e:Event {ns: $ns, event_id: id}) RETURN id, e.occurred_at AS at"
        return self._run(
            "read events from",
            lambda tx: {r["id"]: reads.utc(r["at"]) for r in tx.run(query, ids=ids, ns=self.namespace)},
        )

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return set()
        query = "UNWIND $ids AS id MATCH (e:Event {ns: $ns, event_id: id}) RETURN e.event_id AS id"
        return self._run(
            "read processed events from", lambda tx: {r["id"] for r in tx.run(query, ids=ids, ns=self.namespace)}
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
        def work(tx: neo4j.ManagedTransaction) -> WhoHas | None:
            found = tx.run(
                "MATCH (s:Subject {ns: $ns, key: $key}) RETURN s.type AS type", key=subject, ns=self.namespace
            ).single()
            if found is None:
                return None
            rows = [r.data() for r in tx.run(reads.WHO_HAS, key=subject, ns=self.namespace)]
            counts = {r["category"]: r["n"] for r in tx.run(reads.EVENT_COUNTS, key=subject, ns=self.namespace)}
            return reads.assemble(subject, found["type"], rows, counts)

        return self._run("query", work)

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
        def work(tx: neo4j.ManagedTransaction) -> Catalogue:
            sources = {
                r["x"]["id"]: SourceRef(type=r["x"]["type"], name=r["x"]["name"])
                for r in tx.run("MATCH (x:Source {ns: $ns}) RETURN x {.id, .type, .name} AS x", ns=self.namespace)
            }
            recipients = {
                r["x"]["id"]: RecipientRef(**r["x"])
                for r in tx.run(
                    "MATCH (x:Recipient {ns: $ns}) RETURN x {.id, .name, .type, .country, .contact} AS x",
                    ns=self.namespace,
                )
            }
            return Catalogue(sources, recipients)

        return self._run("query", work)

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

        def work(tx: neo4j.ManagedTransaction) -> list[Alert]:
            out = []
            for r in tx.run(reads.ALERT_LIST, params):
                a = {k: v for k, v in r["alert"].items() if k != "ns"}
                a["first_seen"], a["last_seen"] = reads.utc(a["first_seen"]), reads.utc(a["last_seen"])
                a["event_ids"] = [e for e, _ in r["evidence"]]
                a["subjects"] = list(dict.fromkeys(s for _, s in r["evidence"]))
                a["people"] = r["people"]
                out.append(Alert(**a))
            return out

        return self._run("query", work)

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


def _batch_key(ids: list[str]) -> str:
    """Names a batch by its events, so that a retry of the same events finds its earlier attempt's stamp."""
    return hashlib.sha256("\x1f".join(sorted(ids)).encode("utf-8")).hexdigest()


def lock_people(tx: neo4j.ManagedTransaction, namespace: str, keys: list[str]) -> None:
    """Take the write locks of these people (sorted keys) for the rest of ``tx``: see :data:`plan.LOCK_PEOPLE`."""
    tx.run(plan.LOCK_PEOPLE, keys=keys, ns=namespace).consume()


def events(
    tx: neo4j.ManagedTransaction,
    namespace: str,
    rows: list[list[Any]],
    data_rows: list[list[Any]],
    token: str,
    now: datetime,
) -> tuple[set[str], dict[str, str]]:
    """Run :data:`plan.DATA` and :data:`plan.EVENTS` on rows of :func:`plan.event_rows`: the ids of the events this
    attempt (``token``) created, and the Data nodes' element ids by Data id."""
    nodes = dict(tx.run(plan.DATA, rows=data_rows, ns=namespace).single(strict=True)[0]) if data_rows else {}
    rows = plan.resolve_evidence(rows, nodes)
    created = set(tx.run(plan.EVENTS, rows=rows, batch=token, now=now, ns=namespace).single(strict=True)[0])
    return created, nodes


def write(tx: neo4j.ManagedTransaction, namespace: str, statements: list[plan.Statement], data: dict[str, str]) -> None:
    """Run the statements of :func:`plan.plan` for the events just created, ``data`` the Data nodes' element ids."""
    (subjects_query, subject_rows), rest = statements[0], statements[1:]
    assert subjects_query == plan.SUBJECTS
    if not subject_rows:  # no new event (each has its subject's row)
        return
    subjects = dict(tx.run(plan.SUBJECTS, rows=subject_rows, ns=namespace).single(strict=True)[0])
    for query, rows in plan.resolve(rest, data, subjects):
        if rows:
            tx.run(query, rows=rows, ns=namespace).consume()


# What an erasure leaves on a Neo4j server's disk (measured in docs/privacy.md, "Erasure on Neo4j").
NEO4J_RESIDUE = (
    "Neo4j keeps deleted records in its store, index and transaction-log files until they are reused or pruned; "
    "the operator removes them by rebuilding the database (lineage neo4j export / import: docs/privacy.md, "
    "Erasure on Neo4j)"
)

_SCHEMA_ALREADY_THERE = (
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
)
