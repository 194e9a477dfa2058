"""GraphStore on Neo4j: uniqueness constraints, one batched UNWIND ... MERGE transaction per batch, named queries.

The graph model is documented in docs/graph-model.md. In short (every node also has ``ns``, its namespace)::

    (:Subject {key})-[:HOLDS {role}]->(:Data {id, subject, category})
    (:Data)-[:COLLECTED_FROM]->(:Source {id})   (:Data)-[:USED_FOR]->(:Purpose {key})
    (:Data)-[:SHARED_WITH {purpose}]->(:Recipient {id})
    (:Event {event_id})-[:EVIDENCE {rel, target, purpose}]->(:Data)     one per lineage edge an event supports
    (:Event)-[:TRIGGERED {subject}]->(:Alert {alert_id})                alert evidence
    (:Subject)-[:RECORDED]->(:Consent {event_id})                       consent withdrawals and opt-outs
    (:Tombstone {event_id, subject, erased_at, recipients})             an erasure (no relationships)
    (:Meta {name: 'lineage'})                                           schema version, pseudonym-key fingerprint

Lineage edges carry first_seen, last_seen (Neo4j DateTime, UTC) and count (distinct events).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as neo4j_errors

from graph.changes import ChangeSet, ConsentRecord, ConsentState, Rel, Tombstone
from graph.store import (
    ApplyResult,
    GraphStore,
    StoreAuthError,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    alert_id,
)
from schemas.answers import (
    Alert,
    CategoryLineage,
    Flow,
    RecipientLineage,
    RecipientRef,
    SourceRef,
    StoreStats,
    WhoHas,
)

SCHEMA_VERSION = "1"
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
)
INDEXES = (
    ("lineage_data_subject", "Data", "subject"),  # who_has: all data of one person
    ("lineage_event_time", "Event", "occurred_at"),  # flows by period
    ("lineage_event_subject", "Event", "subject"),  # erasure: all events of one person
    ("lineage_tombstone_subject", "Tombstone", "subject"),  # erasure cut-offs of the people in a batch
)


# -- writes: each statement takes $rows, pre-aggregated per key in Python ------------------------------
# Timestamps travel as [epoch seconds, nanoseconds] and become DateTimes on the server (the same UTC values the
# driver would send): the driver's conversion of Python datetimes cost more than all the rest of a batch's
# planning (bench/RESULTS.md); the batch's applied_at travels once, as $now.
def _dt(expr: str) -> str:
    return f"datetime({{epochSeconds: {expr}[0], nanosecond: {expr}[1]}})"


def _rows_with(*fields: str) -> str:
    """``UNWIND $rows`` as ``r``, with the timestamp ``fields`` turned into DateTimes."""
    return "UNWIND $rows AS raw WITH raw {.*, " + ", ".join(f"{f}: {_dt('raw.' + f)}" for f in fields) + "} AS r\n"


_EVENTS = f"""
UNWIND $rows AS r
MERGE (e:Event {{ns: $ns, event_id: r.event_id}})
ON CREATE SET e += r.props, e.occurred_at = {_dt("r.at")}, e.applied_at = $now, e.batch = $batch
RETURN r.event_id AS event_id, e.batch = $batch AS created
"""
# node properties follow the latest event: subjects by occurred_at, recipients by (occurred_at, event_id)
_SUBJECTS = (
    _rows_with("at")
    + """
MERGE (s:Subject {ns: $ns, key: r.key}) ON CREATE SET s.type = r.type, s.seen_at = r.at
WITH s, r WHERE s.seen_at IS NULL OR r.at > s.seen_at
SET s.type = r.type, s.seen_at = r.at
"""
)
_RECIPIENTS = (
    _rows_with("at")
    + """
MERGE (x:Recipient {ns: $ns, id: r.id}) ON CREATE SET x += r.props, x.seen_at = r.at, x.seen_event = r.event
WITH x, r WHERE x.seen_at IS NULL OR r.at > x.seen_at OR (r.at = x.seen_at AND r.event > x.seen_event)
SET x.name = r.props.name, x.type = r.props.type, x.country = r.props.country, x.contact = r.props.contact,
    x.seen_at = r.at, x.seen_event = r.event
"""
)
_SOURCES = "UNWIND $rows AS r MERGE (x:Source {ns: $ns, id: r.id}) ON CREATE SET x.type = r.type, x.name = r.name"
_DATA = (
    "UNWIND $rows AS r MERGE (d:Data {ns: $ns, id: r.id}) ON CREATE SET d.subject = r.subject, d.category = r.category"
)
_EDGE_SPAN = """
ON CREATE SET e.first_seen = r.first, e.last_seen = r.last, e.count = r.count
ON MATCH SET e.first_seen = CASE WHEN r.first < e.first_seen THEN r.first ELSE e.first_seen END,
             e.last_seen = CASE WHEN r.last > e.last_seen THEN r.last ELSE e.last_seen END,
             e.count = e.count + r.count
"""
_EDGE_FROM = _rows_with("first", "last") + "MATCH (d:Data {ns: $ns, id: r.data}) "
_EDGES = {
    Rel.HOLDS: _EDGE_FROM + "MERGE (s:Subject {ns: $ns, key: r.subject}) MERGE (s)-[e:HOLDS {role: r.target}]->(d)",
    Rel.COLLECTED_FROM: _EDGE_FROM + "MERGE (t:Source {ns: $ns, id: r.target}) MERGE (d)-[e:COLLECTED_FROM]->(t)",
    Rel.USED_FOR: _EDGE_FROM + "MERGE (t:Purpose {ns: $ns, key: r.target}) MERGE (d)-[e:USED_FOR]->(t)",
    Rel.SHARED_WITH: _EDGE_FROM
    + "MERGE (t:Recipient {ns: $ns, id: r.target}) MERGE (d)-[e:SHARED_WITH {purpose: r.purpose}]->(t)",
}
_EVIDENCE = """
UNWIND $rows AS r
MATCH (e:Event {ns: $ns, event_id: r.event}) MATCH (d:Data {ns: $ns, id: r.data})
CREATE (e)-[:EVIDENCE {rel: r.rel, target: r.target, purpose: r.purpose}]->(d)
"""
_ALERTS = (
    _rows_with("first", "last")
    + """
MERGE (a:Alert {ns: $ns, alert_id: r.alert_id})
ON CREATE SET a += r.props, a.status = 'open', a.count = r.count, a.first_seen = r.first, a.last_seen = r.last,
              a.policy_version = r.policy_version
ON MATCH SET a.count = a.count + r.count, a.policy_version = r.policy_version,
             a.first_seen = CASE WHEN r.first < a.first_seen THEN r.first ELSE a.first_seen END,
             a.last_seen = CASE WHEN r.last > a.last_seen THEN r.last ELSE a.last_seen END
"""
)
_TRIGGERS = """
UNWIND $rows AS r
MATCH (e:Event {ns: $ns, event_id: r.event}) MATCH (a:Alert {ns: $ns, alert_id: r.alert})
MERGE (e)-[t:TRIGGERED]->(a) ON CREATE SET t.subject = r.subject
"""
_CONSENTS = f"""
UNWIND $rows AS r
MERGE (s:Subject {{ns: $ns, key: r.subject}})
MERGE (c:Consent {{ns: $ns, event_id: r.event_id}}) ON CREATE SET c += r.props, c.occurred_at = {_dt("r.at")}
MERGE (s)-[:RECORDED]->(c)
"""

# -- erasure: one person, everything that occurred at or before $at (see GraphStore) ---------------------
_CUTOFFS = """
UNWIND $keys AS key
MATCH (t:Tombstone {ns: $ns, subject: key})
RETURN key, t.erased_at AS at, t.event_id AS event_id
"""
# a share an erasure covers, delivered after it: its recipient must be told too (Art. 19)
_LATE_RECIPIENTS = """
UNWIND $rows AS r
MATCH (t:Tombstone {ns: $ns, event_id: r.tombstone}) WHERE NOT r.recipient IN t.recipients
SET t.recipients = t.recipients + r.recipient
"""
_ERASE_TOMBSTONE = """
OPTIONAL MATCH (ev:Event {ns: $ns, subject: $key})-[x:EVIDENCE]->(:Data)
WHERE x.rel = 'SHARED_WITH' AND ev.occurred_at <= $at
WITH collect(DISTINCT x.target) AS found
CREATE (t:Tombstone {ns: $ns, event_id: $event_id, subject: $key, erased_at: $at, applied_at: $now,
                     recipients: found + [r IN $known WHERE NOT r IN found]})
SET t.reason = $reason
"""
_ERASE_EVENTS = """
MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.occurred_at <= $at AND ev.kind <> 'erased'
DETACH DELETE ev
"""
_ERASE_CONSENTS = """
MATCH (:Subject {ns: $ns, key: $key})-[:RECORDED]->(c:Consent) WHERE c.occurred_at <= $at
DETACH DELETE c
"""
# what is left of each edge: the evidence of events after the erasure (usually none: the edge goes)
_ERASE_HOLDS = """
MATCH (:Subject {ns: $ns, key: $key})-[e:HOLDS]->(d:Data)
OPTIONAL MATCH (ev:Event)-[x:EVIDENCE]->(d) WHERE x.rel = 'HOLDS' AND x.target = e.role
WITH e, min(ev.occurred_at) AS first, max(ev.occurred_at) AS last, count(ev) AS n
FOREACH (_ IN CASE WHEN n = 0 THEN [1] ELSE [] END | DELETE e)
FOREACH (_ IN CASE WHEN n > 0 THEN [1] ELSE [] END | SET e.first_seen = first, e.last_seen = last, e.count = n)
"""
_ERASE_EDGES = """
MATCH (d:Data {ns: $ns, subject: $key})-[e:COLLECTED_FROM|USED_FOR|SHARED_WITH]->(t)
WITH d, e, type(e) AS rel, coalesce(t.id, t.key) AS target, coalesce(e.purpose, '') AS purpose
OPTIONAL MATCH (ev:Event)-[x:EVIDENCE]->(d) WHERE x.rel = rel AND x.target = target AND x.purpose = purpose
WITH e, min(ev.occurred_at) AS first, max(ev.occurred_at) AS last, count(ev) AS n
FOREACH (_ IN CASE WHEN n = 0 THEN [1] ELSE [] END | DELETE e)
FOREACH (_ IN CASE WHEN n > 0 THEN [1] ELSE [] END | SET e.first_seen = first, e.last_seen = last, e.count = n)
"""
_ERASE_DATA = """
MATCH (d:Data {ns: $ns, subject: $key}) WHERE NOT EXISTS { (:Event)-[:EVIDENCE]->(d) }
DETACH DELETE d
"""
_ERASE_SUBJECT = """
MATCH (s:Subject {ns: $ns, key: $key})
WHERE NOT EXISTS { MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.kind <> 'erased' }
DETACH DELETE s
"""
_ERASURE_STATEMENTS = (
    _ERASE_TOMBSTONE, _ERASE_EVENTS, _ERASE_CONSENTS, _ERASE_HOLDS, _ERASE_EDGES, _ERASE_DATA, _ERASE_SUBJECT
)
_TOMBSTONES = """
UNWIND $keys AS key
MATCH (t:Tombstone {ns: $ns, subject: key})
RETURN t {.event_id, .subject, .erased_at, .applied_at, .reason, .recipients} AS t
"""
_ALL_TOMBSTONES = """
MATCH (t:Tombstone {ns: $ns})
RETURN t {.event_id, .subject, .erased_at, .applied_at, .reason, .recipients} AS t
"""

# -- reads -----------------------------------------------------------------------------------------
_WHO_HAS = """
MATCH (d:Data {ns: $ns, subject: $key})
RETURN d.category AS category,
  [(:Subject)-[e:HOLDS]->(d) | [e.role, e.first_seen, e.last_seen]] AS holds,
  [(d)-[:COLLECTED_FROM]->(t:Source) | [t.type, t.name]] AS sources,
  [(d)-[:USED_FOR]->(t:Purpose) | t.key] AS uses,
  [(d)-[e:SHARED_WITH]->(t:Recipient) | {purpose: e.purpose, first: e.first_seen, last: e.last_seen,
     recipient: t {.id, .name, .type, .country, .contact},
     events: [(ev:Event)-[x:EVIDENCE]->(d) WHERE x.rel = 'SHARED_WITH' AND x.target = t.id
              AND x.purpose = e.purpose | ev.event_id]}] AS shares
"""
_EVENT_COUNTS = """
MATCH (d:Data {ns: $ns, subject: $key})<-[x:EVIDENCE]-(ev:Event) WHERE x.rel = 'HOLDS'
RETURN d.category AS category, count(DISTINCT ev) AS n
"""
_FLOWS = """
MATCH (e:Event)-[x:EVIDENCE]->(d:Data)
WHERE e.ns = $ns {period}
MATCH (s:Subject {{ns: $ns, key: d.subject}})
WITH x, d, e, s ORDER BY e.event_id
WITH x.rel AS rel, d.category AS category, x.target AS target, x.purpose AS purpose, e.role AS role,
     s.type AS subject_type, count(DISTINCT d.subject) AS subjects, count(DISTINCT e) AS events,
     min(e.occurred_at) AS first, max(e.occurred_at) AS last, collect(DISTINCT e.event_id) AS ids
RETURN rel, category, target, purpose, role, subject_type, subjects, events, first, last, ids[..$limit] AS ids
"""
_ALERT_LIST = """
MATCH (a:Alert {ns: $ns})
WHERE ($status IS NULL OR a.status = $status) AND ($rule IS NULL OR a.rule = $rule)
  AND ($since IS NULL OR a.last_seen >= $since)
RETURN a {.*} AS alert, [(e:Event)-[t:TRIGGERED]->(a) | [e.occurred_at, e.event_id, t.subject]] AS evidence
ORDER BY a.last_seen DESC, a.alert_id
"""
_CONSENT_STATE = """
UNWIND $keys AS key
MATCH (:Subject {ns: $ns, key: key})-[:RECORDED]->(c:Consent)
RETURN c {.event_id, .kind, .subject, .occurred_at, .purposes, .categories} AS c
"""
_STATS = """
RETURN COUNT { (:Event {ns: $ns}) } AS events, COUNT { (:Subject {ns: $ns}) } AS subjects,
  COUNT { (:Recipient {ns: $ns}) } AS recipients, COUNT { (:Source {ns: $ns}) } AS sources,
  COUNT { (:Subject {ns: $ns})-[:HOLDS]->() } + COUNT { (:Data {ns: $ns})-[:COLLECTED_FROM|USED_FOR|SHARED_WITH]->() }
    AS edges,
  COUNT { (:Event {ns: $ns})-[:EVIDENCE]->() } AS evidence, COUNT { (:Alert {ns: $ns}) } AS alerts
"""


def _utc(value: Any) -> datetime:
    """A Neo4j DateTime (or Python datetime) as an aware UTC datetime."""
    native = value.to_native() if hasattr(value, "to_native") else value
    return native.astimezone(UTC)  # type: ignore[no-any-return]


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


class Neo4jGraphStore(GraphStore):
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
                **_tls_config(uri, trusted_ca, client_cert, client_key),
            )
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreConfigError(f"bad Neo4j store URL {uri!r}: {exc}") from exc
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        try:
            with self._translated("connect to"):
                self._driver.verify_connectivity()
            self._ensure_schema()
        except BaseException:
            self._driver.close()
            raise

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, str] | None = None) -> Neo4jGraphStore:
        """Open ``neo4j[+s|+ssc]://`` or ``bolt[+s|+ssc]://[user:password@]host[:port][/database][?namespace=ns]``.

        ``options``: user, password, database, namespace (what the URL gives wins), and connection_timeout and
        max_retry_time in seconds. TLS comes with the scheme (``+s``: the certificate is verified against the
        system's CAs; ``+ssc``: any certificate, encryption without authentication of the server), or, with a
        plain ``bolt://`` or ``neo4j://`` URL, from ``trusted_ca`` (a PEM file of the CA(s) to trust, e.g. a
        private CA). ``client_cert`` and ``client_key`` (PEM files) present a client certificate (mutual TLS).
        """
        opts = dict(options or {})
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise StoreConfigError(f"bad Neo4j store URL {url!r}: {exc}") from exc
        host = parts.hostname or ""
        if not host:
            raise StoreConfigError(f"bad Neo4j store URL {url!r}: no host (expected neo4j://host:7687)")
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
        user = unquote(parts.username) if parts.username else opts.get("user", "neo4j")
        password = unquote(parts.password) if parts.password is not None else opts.get("password", "")
        database = unquote(parts.path.strip("/")) or opts.get("database") or "neo4j"
        query = parse_qsl(parts.query, keep_blank_values=True)  # the rest is the driver's routing context
        namespace = next((v for k, v in query if k == "namespace"), None) or opts.get("namespace")
        routing = urlencode([(k, v) for k, v in query if k != "namespace"])
        try:
            timeout = float(opts.get("connection_timeout", 10.0))
            retry = float(opts.get("max_retry_time", 30.0))
        except ValueError as exc:
            raise StoreConfigError(f"bad Neo4j store option: {exc}") from exc
        return cls(
            urlunsplit((parts.scheme.lower(), netloc, "", routing, "")),
            (user, password) if user else None,
            database=database,
            namespace=namespace or DEFAULT_NAMESPACE,
            connection_timeout=timeout,
            max_retry_time=retry,
            trusted_ca=opts.get("trusted_ca") or None,
            client_cert=opts.get("client_cert") or None,
            client_key=opts.get("client_key") or None,
        )

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Driver errors become the project's own, naming the server (never the password)."""
        where = f"Neo4j at {self.uri} (database {self.database!r})"
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
                    self._driver.execute_query(statement, database_=self.database, bookmark_manager_=self._bookmarks)
        self._run("initialise", self._init_meta, write=True)

    def _init_meta(self, tx: neo4j.ManagedTransaction) -> None:
        tx.run(
            "MERGE (m:Meta {ns: $ns, name: 'lineage'}) ON CREATE SET m.schema_version = $v",
            ns=self.namespace,
            v=SCHEMA_VERSION,
        ).consume()

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

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        unique: dict[str, ChangeSet] = {}
        for cs in batch:  # the same event twice in a batch is one event: the first occurrence wins
            unique.setdefault(cs.event.event_id, cs)
        if not unique:
            return ApplyResult(0, len(batch))
        now = datetime.now(UTC)
        # erasures first (oldest first), so that the batch's later events about the person survive them
        erasures = sorted(
            (cs for cs in unique.values() if cs.erasure), key=lambda c: (c.event.occurred_at, c.event.event_id)
        )
        others = [cs for cs in unique.values() if cs.erasure is None]
        keys = sorted({cs.event.subject for cs in others})

        def work(tx: neo4j.ManagedTransaction) -> tuple[int, list[str]]:
            token = uuid.uuid4().hex  # per attempt: a retry after a commit that did land finds its events present
            # read inside the write transaction (read-committed): see docs/privacy.md for the one narrow race
            tombstones: dict[str, list[tuple[datetime, str]]] = {}
            for r in tx.run(_CUTOFFS, keys=keys, ns=self.namespace) if keys else ():
                tombstones.setdefault(r["key"], []).append((_utc(r["at"]), r["event_id"]))
            applied = 0
            for cs in erasures:
                assert cs.erasure is not None
                if self._erase(tx, cs, token, now):
                    applied += 1
                    er = cs.erasure
                    tombstones.setdefault(er.subject, []).append((er.occurred_at.astimezone(UTC), er.event_id))
            kept, covered = [], []
            for cs in others:
                at = cs.event.occurred_at.astimezone(UTC)
                covering = min((t for t in tombstones.get(cs.event.subject, ()) if t[0] >= at), default=None)
                if covering is None:
                    kept.append(cs)
                else:
                    covered.append((cs, covering[1]))
            if covered:  # the catalogue as in-order delivery leaves it; late disclosures added to Art. 19 lists
                for query, statement_rows in _plan([cs for cs, _ in covered]):
                    if statement_rows and query in (_RECIPIENTS, _SOURCES):
                        tx.run(query, rows=statement_rows, ns=self.namespace).consume()
                late = {(t, cs.recipient.id) for cs, t in covered if cs.recipient is not None}
                rows = [{"tombstone": t, "recipient": r} for t, r in sorted(late)]
                tx.run(_LATE_RECIPIENTS, rows=rows, ns=self.namespace).consume()
            suppressed = [cs.event.event_id for cs, _ in covered]
            if not kept:
                return applied, suppressed
            rows = [_event_row(cs, now) for cs in kept]
            created = {
                r["event_id"]
                for r in tx.run(_EVENTS, rows=rows, batch=token, now=now, ns=self.namespace)
                if r["created"]
            }
            fresh = [cs for cs in kept if cs.event.event_id in created]
            for query, statement_rows in _plan(fresh):
                if statement_rows:
                    tx.run(query, rows=statement_rows, ns=self.namespace).consume()
            return applied + len(fresh), suppressed

        applied, suppressed = self._run("write to", work, write=True)
        return ApplyResult(applied, len(batch) - applied - len(suppressed), tuple(suppressed))

    def _erase(self, tx: neo4j.ManagedTransaction, cs: ChangeSet, token: str, now: datetime) -> bool:
        """Apply one erasure in ``tx``; False when its event was already processed."""
        er = cs.erasure
        assert er is not None
        created = tx.run(_EVENTS, rows=[_event_row(cs, now)], batch=token, now=now, ns=self.namespace).single(
            strict=True
        )
        if not created["created"]:
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
        for statement in _ERASURE_STATEMENTS:
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
            return [
                ConsentRecord(
                    c["event_id"],
                    c["kind"],
                    c["subject"],
                    _utc(c["occurred_at"]),
                    tuple(c["purposes"] or ()),
                    tuple(c["categories"] or ()),
                )
                for c in (r["c"] for r in tx.run(_CONSENT_STATE, keys=keys, ns=self.namespace))
            ]

        records: dict[str, list[ConsentRecord]] = {}
        for record in sorted(self._run("read consent records from", work), key=lambda c: (c.occurred_at, c.event_id)):
            records.setdefault(record.subject, []).append(record)
        return {s: ConsentState(s, tuple(r)) for s, r in records.items()}

    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        keys = sorted(set(subjects)) if subjects is not None else None
        if keys == []:
            return {}

        def work(tx: neo4j.ManagedTransaction) -> list[Tombstone]:
            return [
                Tombstone(
                    t["event_id"],
                    t["subject"],
                    _utc(t["erased_at"]),
                    _utc(t["applied_at"]),
                    t["reason"],
                    tuple(sorted(t["recipients"] or ())),
                )
                for t in (
                    r["t"]
                    for r in tx.run(_TOMBSTONES if keys is not None else _ALL_TOMBSTONES, keys=keys, ns=self.namespace)
                )
            ]

        out: dict[str, list[Tombstone]] = {}
        for t in sorted(self._run("read tombstones from", work), key=lambda t: (t.erased_at, t.event_id)):
            out.setdefault(t.subject, []).append(t)
        return out

    def who_has(self, subject: str) -> WhoHas | None:
        def work(tx: neo4j.ManagedTransaction) -> WhoHas | None:
            found = tx.run(
                "MATCH (s:Subject {ns: $ns, key: $key}) RETURN s.type AS type", key=subject, ns=self.namespace
            ).single()
            if found is None:
                return None
            rows = [r.data() for r in tx.run(_WHO_HAS, key=subject, ns=self.namespace)]
            counts = {r["category"]: r["n"] for r in tx.run(_EVENT_COUNTS, key=subject, ns=self.namespace)}
            return _assemble(subject, found["type"], rows, counts)

        return self._run("query", work)

    def flows(
        self, *, since: datetime | None = None, until: datetime | None = None, evidence_limit: int = 1000
    ) -> list[Flow]:
        period = ("AND e.occurred_at >= $since " if since else "") + ("AND e.occurred_at < $until" if until else "")
        params = {
            "ns": self.namespace,
            "since": _param_ts(since),
            "until": _param_ts(until),
            "limit": max(evidence_limit, 0),
        }

        def work(tx: neo4j.ManagedTransaction) -> list[Flow]:
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
            out = []
            for r in tx.run(_FLOWS.format(period=period), params):
                rel, target = r["rel"], r["target"]
                out.append(
                    Flow(
                        rel=rel,
                        category=r["category"],
                        role=r["role"],
                        subject_type=r["subject_type"],
                        purpose=target if rel == Rel.USED_FOR.value else r["purpose"],
                        source=sources.get(target) if rel == Rel.COLLECTED_FROM.value else None,
                        recipient=recipients.get(target) if rel == Rel.SHARED_WITH.value else None,
                        subjects=r["subjects"],
                        events=r["events"],
                        first_seen=_utc(r["first"]),
                        last_seen=_utc(r["last"]),
                        event_ids=sorted(r["ids"]),
                    )
                )
            return out

        return sorted(self._run("query", work), key=_flow_order)

    def alerts(
        self, *, status: str | None = None, rule: str | None = None, since: datetime | None = None
    ) -> list[Alert]:
        params = {"ns": self.namespace, "status": status or None, "rule": rule or None, "since": _param_ts(since)}

        def work(tx: neo4j.ManagedTransaction) -> list[Alert]:
            out = []
            for r in tx.run(_ALERT_LIST, params):
                a = {k: v for k, v in r["alert"].items() if k != "ns"}
                evidence = sorted((_utc(at), eid, subj) for at, eid, subj in r["evidence"])
                a["first_seen"], a["last_seen"] = _utc(a["first_seen"]), _utc(a["last_seen"])
                a["event_ids"], a["subjects"] = [e for _, e, _ in evidence], sorted({s for *_, s in evidence})
                out.append(Alert(**a))
            return out

        return self._run("query", work)

    def stats(self) -> StoreStats:
        record = self._run("count", lambda tx: tx.run(_STATS, ns=self.namespace).single(strict=True).data())
        return StoreStats(**record)

    def close(self) -> None:
        self._driver.close()


# -- batch planning: pure functions from ChangeSets to statement rows --------------------------------
def _param_ts(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _epoch(value: datetime) -> list[int]:
    """An aware datetime as [epoch seconds, nanoseconds], for :func:`_dt` on the server."""
    seconds, micros = divmod((value - _EPOCH) // _MICROSECOND, 1_000_000)
    return [seconds, micros * 1000]


def _event_row(cs: ChangeSet, now: datetime) -> dict[str, Any]:
    """The _EVENTS row of an event; its applied_at is the statement's $now (``now``, the same for the batch)."""
    ev = cs.event
    props = {
        "kind": ev.kind,
        "emitted_by": ev.emitted_by,
        "subject": ev.subject,
        "role": ev.role,
        "customer": ev.customer,
    }
    return {
        "event_id": ev.event_id,
        "at": _epoch(ev.occurred_at),
        "props": {k: v for k, v in props.items() if v is not None},
    }


def _plan(batch: Sequence[ChangeSet]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The statements (in order) and their rows for new events, aggregated per key as SQLite would apply them."""
    subjects: dict[str, dict[str, Any]] = {}
    recipients: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, Any]] = {}
    edges: dict[Rel, dict[tuple[str, ...], dict[str, Any]]] = {rel: {} for rel in Rel}
    evidence: list[dict[str, Any]] = []
    alerts: dict[str, dict[str, Any]] = {}
    triggers: dict[tuple[str, str], dict[str, Any]] = {}
    consents: dict[str, dict[str, Any]] = {}
    for cs in batch:
        at, eid = cs.event.occurred_at.astimezone(UTC), cs.event.event_id
        s = subjects.get(cs.subject.key)
        if s is None or at > s["at"]:
            subjects[cs.subject.key] = {"key": cs.subject.key, "type": cs.subject.type, "at": at}
        if (rc := cs.recipient) is not None:
            r = recipients.get(rc.id)
            if r is None or (at, eid) > (r["at"], r["event"]):
                props = {"name": rc.name, "type": rc.type, "country": rc.country, "contact": rc.contact}
                recipients[rc.id] = {"id": rc.id, "props": props, "at": at, "event": eid}
        if cs.source is not None and cs.source.id not in sources:
            sources[cs.source.id] = {"id": cs.source.id, "type": cs.source.type, "name": cs.source.name}
        for e in dict.fromkeys(cs.edges):
            data_id = f"{e.subject}|{e.category}"
            data.setdefault(data_id, {"id": data_id, "subject": e.subject, "category": e.category})
            key = (e.subject, e.category, e.target, e.purpose)
            row = edges[e.rel].get(key)
            if row is None:
                edges[e.rel][key] = {
                    "subject": e.subject,
                    "data": data_id,
                    "target": e.target,
                    "purpose": e.purpose,
                    "first": at,
                    "last": at,
                    "count": 1,
                }
            else:
                row["first"], row["last"], row["count"] = min(row["first"], at), max(row["last"], at), row["count"] + 1
            evidence.append(
                {"event": eid, "data": data_id, "rel": e.rel.value, "target": e.target, "purpose": e.purpose}
            )
        for f in cs.findings:
            aid = alert_id(*f.dedupe_key)
            a = alerts.get(aid)
            if a is None:
                props = {
                    "rule": f.rule,
                    "severity": f.severity,
                    "category": f.category,
                    "purpose": f.purpose,
                    "recipient": f.recipient_id,
                    "recipient_type": f.recipient_type,
                    "reason": f.reason,
                    "clause_section": f.clause_section,
                    "clause_text": f.clause_text,
                }
                alerts[aid] = {
                    "alert_id": aid,
                    "props": props,
                    "count": 1,
                    "first": at,
                    "last": at,
                    "policy_version": f.policy_version,
                }
            else:
                a["count"] += 1
                a["first"], a["last"] = min(a["first"], at), max(a["last"], at)
                a["policy_version"] = f.policy_version
            triggers.setdefault((aid, f.event_id), {"alert": aid, "event": f.event_id, "subject": f.subject})
        if (c := cs.consent) is not None and c.event_id not in consents:
            consents[c.event_id] = {
                "event_id": c.event_id,
                "subject": c.subject,
                "at": c.occurred_at,
                "props": {
                    "kind": c.kind,
                    "subject": c.subject,
                    "purposes": list(c.purposes),
                    "categories": list(c.categories),
                },
            }

    def by_key(rows: Mapping[Any, dict[str, Any]]) -> list[dict[str, Any]]:
        out = [rows[k] for k in sorted(rows)]  # one lock order for every writer makes deadlocks rarer
        for row in out:  # timestamps compared above as datetimes, sent as epoch pairs
            for field in ("at", "first", "last"):
                if field in row:
                    row[field] = _epoch(row[field])
        return out

    return [
        (_SUBJECTS, by_key(subjects)),
        (_RECIPIENTS, by_key(recipients)),
        (_SOURCES, by_key(sources)),
        (_DATA, by_key(data)),
        *((_EDGES[rel] + _EDGE_SPAN, by_key(edges[rel])) for rel in Rel),
        (_EVIDENCE, sorted(evidence, key=lambda r: (r["data"], r["event"]))),
        (_ALERTS, by_key(alerts)),
        (_TRIGGERS, by_key(triggers)),
        (_CONSENTS, by_key(consents)),
    ]


# -- answers ---------------------------------------------------------------------------------------
def _flow_order(f: Flow) -> tuple[str, ...]:
    target = f.recipient.id if f.recipient else (f"{f.source.type}:{f.source.name or ''}" if f.source else "")
    return (f.rel, f.category, f.purpose, target, f.role, f.subject_type)


def _assemble(subject: str, subject_type: str, rows: list[dict[str, Any]], counts: Mapping[str, int]) -> WhoHas:
    """The who-has answer from one row per (:Data) node of the person, as the SQLite store assembles it."""
    categories = []
    recs: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: str(r["category"])):
        # every event adds a HOLDS edge per category, so the HOLDS edges span all events about the category
        spans = [(_utc(first), _utc(last)) for _, first, last in row["holds"]]
        purposes = set(row["uses"])
        for share in row["shares"]:
            first, last = _utc(share["first"]), _utc(share["last"])
            purposes.add(share["purpose"])
            r = recs.setdefault(
                share["recipient"]["id"],
                {
                    "info": share["recipient"],
                    "categories": set(),
                    "purposes": set(),
                    "events": set(),
                    "first": first,
                    "last": last,
                },
            )
            r["categories"].add(row["category"])
            r["purposes"].add(share["purpose"])
            r["events"].update(share["events"])
            r["first"], r["last"] = min(r["first"], first), max(r["last"], last)
        sources = sorted({(t, n) for t, n in row["sources"]}, key=lambda s: (s[0], s[1] or ""))
        categories.append(
            CategoryLineage(
                category=row["category"],
                roles=sorted({role for role, _, _ in row["holds"]}),
                sources=[SourceRef(type=t, name=n) for t, n in sources],
                purposes=sorted(purposes),
                first_seen=min(f for f, _ in spans),
                last_seen=max(last for _, last in spans),
                event_count=int(counts.get(row["category"], 0)),
            )
        )
    recipients = [
        RecipientLineage(
            **r["info"],
            categories=sorted(r["categories"]),
            purposes=sorted(r["purposes"]),
            first_shared_at=r["first"],
            last_shared_at=r["last"],
            event_ids=sorted(r["events"]),
        )
        for _, r in sorted(recs.items())
    ]
    return WhoHas(subject=subject, subject_type=subject_type, categories=categories, recipients=recipients)
