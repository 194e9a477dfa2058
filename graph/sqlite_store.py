"""The embedded default GraphStore on SQLite (stdlib): one file, no server."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.changes import (
    ChangeSet,
    ConsentRecord,
    ConsentState,
    RecipientNode,
    Rel,
    SourceNode,
    Tombstone,
)
from graph.store import ApplyResult, ConsentLedger, GraphStore, StoreConfigError, StoreError, StoreUnavailable, alert_id
from schemas.answers import Alert, CategoryLineage, Flow, RecipientLineage, RecipientRef, SourceRef, StoreStats, WhoHas

SCHEMA_VERSION = "2"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, occurred_at TEXT NOT NULL, emitted_by TEXT NOT NULL,
  subject TEXT NOT NULL, role TEXT NOT NULL, customer TEXT, applied_at TEXT NOT NULL,
  categories TEXT, source TEXT, purpose TEXT, recipient TEXT
);
CREATE INDEX IF NOT EXISTS events_subject ON events(subject);
DROP INDEX IF EXISTS events_time;
CREATE TABLE IF NOT EXISTS subjects (key TEXT PRIMARY KEY, type TEXT NOT NULL, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recipients (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, country TEXT, contact TEXT,
  seen_at TEXT NOT NULL, seen_event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT);
CREATE TABLE IF NOT EXISTS alerts (
  alert_id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,
  category TEXT NOT NULL, purpose TEXT NOT NULL, recipient TEXT NOT NULL, recipient_type TEXT NOT NULL,
  count INTEGER NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, policy_version TEXT NOT NULL,
  reason TEXT NOT NULL, clause_section TEXT NOT NULL, clause_text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consents (
  event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, occurred_at TEXT NOT NULL,
  purposes TEXT NOT NULL, categories TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_subject ON consents(subject, occurred_at);
CREATE TABLE IF NOT EXISTS alert_events (
  alert_id TEXT NOT NULL, event_id TEXT NOT NULL, subject TEXT NOT NULL, occurred_at TEXT NOT NULL,
  PRIMARY KEY (alert_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_events_subject ON alert_events(subject);
CREATE TABLE IF NOT EXISTS tombstones (
  event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, erased_at TEXT NOT NULL, applied_at TEXT NOT NULL,
  reason TEXT, recipients TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_subject ON tombstones(subject, erased_at);
"""


# The lineage edges are not stored. A data event's row keeps what its edges follow from (its categories as a JSON
# array, role, source, purpose and recipient) and reads expand them here, exactly as graph.changes.edge_keys does
# for the other stores: one HOLDS per category, plus COLLECTED_FROM with a source, USED_FOR with a purpose, and
# SHARED_WITH with a recipient and a purpose. Writing an event is then one row, appended, instead of an upsert per
# edge and a row per (edge, event) in B-trees keyed by random values; spans and counts are computed when read.
# ``{where}`` is a fixed condition on ``e`` (placeholders only); ``{events}`` is ``events`` or a fixed subquery of
# rows with its columns.
_EDGES = """
SELECT rel, subject, category, target, purpose, role, event_id, occurred_at FROM (
  SELECT r.rel, e.subject, c.value AS category,
    CASE r.rel WHEN 'HOLDS' THEN e.role WHEN 'COLLECTED_FROM' THEN e.source WHEN 'USED_FOR' THEN e.purpose
      ELSE iif(e.purpose IS NULL, NULL, e.recipient) END AS target,
    iif(r.rel = 'SHARED_WITH', e.purpose, '') AS purpose, e.role, e.event_id, e.occurred_at
  FROM {events} e CROSS JOIN json_each(e.categories) c
    CROSS JOIN (SELECT 'HOLDS' AS rel UNION ALL SELECT 'COLLECTED_FROM' UNION ALL SELECT 'USED_FOR'
                UNION ALL SELECT 'SHARED_WITH') r
  WHERE e.categories IS NOT NULL AND ({where})
) WHERE target IS NOT NULL
"""

# The events in the order of their person (the events_subject index), for counts made person by person.
_BY_PERSON = "(SELECT * FROM events ORDER BY subject)"


def ts(value: datetime) -> str:
    """UTC timestamp as fixed-width text, so text order is time order (YYYY-MM-DDTHH:MM:SS.ffffffZ)."""
    # isoformat, not strftime: ~1.5x cheaper, and it runs for every event written
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


def _consent_record(row: Sequence[Any]) -> ConsentRecord:
    """A ConsentRecord from a row of (event_id, subject, kind, occurred_at, purposes, categories)."""
    event_id, subject, kind, at, purposes, categories = row
    return ConsentRecord(
        event_id, kind, subject, parse_ts(at), tuple(json.loads(purposes)), tuple(json.loads(categories))
    )


def _tombstone(row: Sequence[Any]) -> Tombstone:
    """A Tombstone from a row of (event_id, subject, erased_at, applied_at, reason, recipients)."""
    event_id, subject, erased, applied, reason, recipients = row
    return Tombstone(event_id, subject, parse_ts(erased), parse_ts(applied), reason, tuple(json.loads(recipients)))


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock for longer than the busy timeout. Everything else
# (disk full, read-only file, I/O error, corruption, a constraint) will fail again, so retrying would spin forever.
_TRANSIENT = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def store_error(exc: sqlite3.Error, doing: str) -> StoreError:
    """The project's error for a sqlite3 one: StoreUnavailable (retry later) only when the database is busy."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _TRANSIENT:  # extended codes keep the primary code in the low byte
        return StoreUnavailable(f"{doing}: the database is busy ({exc}); retry later")
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StoreError(f"{doing}: {exc} ({name}; not transient, retrying will not help)")


# Version 1 stored each lineage edge with its span and count, and a row per (edge, event); version 2 keeps the
# fields of each event that its edges follow from (see _EDGES). Each v1 data event's fields are read back from the
# edges it was evidence for, which are exactly the edges those fields make.
_V1_TO_V2 = (
    "ALTER TABLE events ADD COLUMN categories TEXT",
    "ALTER TABLE events ADD COLUMN source TEXT",
    "ALTER TABLE events ADD COLUMN purpose TEXT",
    "ALTER TABLE events ADD COLUMN recipient TEXT",
    "CREATE INDEX v1_edge_events_event ON edge_events(event_id)",
    """UPDATE events SET
      categories = (SELECT json_group_array(category) FROM (SELECT DISTINCT e.category FROM edge_events ee
        JOIN edges e ON e.id = ee.edge_id WHERE ee.event_id = events.event_id AND e.rel = 'HOLDS'
        ORDER BY e.category)),
      source = (SELECT e.target FROM edge_events ee JOIN edges e ON e.id = ee.edge_id
        WHERE ee.event_id = events.event_id AND e.rel = 'COLLECTED_FROM' LIMIT 1),
      purpose = (SELECT e.target FROM edge_events ee JOIN edges e ON e.id = ee.edge_id
        WHERE ee.event_id = events.event_id AND e.rel = 'USED_FOR' LIMIT 1),
      recipient = (SELECT e.target FROM edge_events ee JOIN edges e ON e.id = ee.edge_id
        WHERE ee.event_id = events.event_id AND e.rel = 'SHARED_WITH' LIMIT 1)
    WHERE kind IN ('collected', 'used', 'shared')""",
    "DROP TABLE edge_events",
    "DROP TABLE edges",
    "UPDATE meta SET v = '2' WHERE k = 'schema_version'",
)


def _migrate(db: sqlite3.Connection, path: str) -> bool:
    """Bring an existing store to SCHEMA_VERSION, in one transaction (another process opening the same file at
    the same time waits for it, then finds the work done); refuse a store written by a newer version.

    Return whether the schema is to be created (a new file, or one just converted); a store of the current version
    is only read here, so that opening it does not wait for another connection's write (a running ingest).
    """
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    row = db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() if "meta" in tables else None
    if row is None:
        return True  # a new file
    if row[0] == SCHEMA_VERSION:
        return False
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone()
        if row is not None and row[0] == "1":
            for statement in _V1_TO_V2:
                db.execute(statement)
        elif row is not None and row[0] != SCHEMA_VERSION:
            raise StoreConfigError(
                f"the store {path!r} has schema version {row[0]}, which this version of privacy-lineage cannot"
                f" read (it reads versions 1 and {SCHEMA_VERSION}); upgrade privacy-lineage"
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return True


class SQLiteGraphStore(GraphStore):
    """GraphStore on one SQLite file (or ``:memory:``), with WAL and one writer at a time."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        """Open (creating if needed) the store at ``path``; a write waits up to ``busy_timeout`` seconds for
        another connection's lock before raising StoreUnavailable."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache (the default is 2 MiB): a batch's rows go into each B-tree in key order, and
            # with this cache the pages they walk stay in memory (measured with the version 1 layout, on the
            # bench's 153k events into a 146 MB file: 3x fewer page reads, a third fewer page writes, ~7% less
            # CPU; not measured again since). Memory only, allocated as used.
            self._db.execute("PRAGMA cache_size=-65536")
            if _migrate(self._db, self.path):
                self._db.executescript(_DDL)
                self._db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        except sqlite3.Error as exc:
            raise store_error(exc, f"cannot open SQLite store {self.path!r}") from exc
        except StoreConfigError:
            self._db.close()
            raise
        self._lock = threading.Lock()
        self._categories: dict[tuple[str, ...], str] = {}  # categories -> their JSON text (few distinct tuples)

    # -- writes ---------------------------------------------------------------------------------
    def bind_key(self, fingerprint: str) -> None:
        with self._lock:
            try:
                row = self._db.execute("SELECT v FROM meta WHERE k = 'key_fingerprint'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta(k, v) VALUES ('key_fingerprint', ?)", (fingerprint,))
            except sqlite3.Error as exc:
                raise store_error(exc, f"cannot record the pseudonym key in {self.path!r}") from exc
            if row is not None and row[0] != fingerprint:
                raise StoreConfigError(
                    f"the store {self.path!r} was written with another pseudonym key "
                    f"(fingerprint {row[0]}, this key's is {fingerprint}); use the same LINEAGE_PSEUDONYM_KEY "
                    "or re-key the store"
                )

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        unique: dict[str, ChangeSet] = {}
        for cs in batch:  # the same event twice in a batch is one event: the first occurrence counts
            unique.setdefault(cs.event.event_id, cs)
        applied, duplicates = 0, len(batch) - len(unique)
        suppressed: list[str] = []
        now = ts(datetime.now(UTC))
        # erasures first (oldest first), so that the batch's later events about the person survive them
        erasures = sorted(
            (cs for cs in unique.values() if cs.erasure), key=lambda cs: (cs.event.occurred_at, cs.event.event_id)
        )
        others = [cs for cs in unique.values() if cs.erasure is None]
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                applied_ids: set[str] = set()
                for cs in erasures:
                    if self._erase(cur, cs, now):
                        applied += 1
                        applied_ids.add(cs.event.event_id)
                    else:
                        duplicates += 1
                # read inside the write transaction: an erasure committed by another writer cannot slip between
                cutoffs = self._cutoffs(cur, {cs.event.subject for cs in others})
                candidates: list[tuple[ChangeSet, str]] = []
                for cs in others:
                    at = ts(cs.event.occurred_at)
                    cuts = cutoffs.get(cs.event.subject)
                    covering = next((e for t, e in cuts if t >= at), None) if cuts else None
                    if covering is not None:
                        suppressed.append(cs.event.event_id)
                        self._suppress(cur, cs, covering)
                    else:
                        candidates.append((cs, at))
                # an event already stored is not applied again (repeats within the batch went above)
                stored = self._known(cur, [cs.event.event_id for cs, _ in candidates])
                fresh = [(cs, at) for cs, at in candidates if cs.event.event_id not in stored]
                duplicates += len(candidates) - len(fresh)
                self._write(cur, fresh, now)
                applied += len(fresh)
                applied_ids.update(cs.event.event_id for cs, _ in fresh)
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc
            except BaseException:
                self._rollback()
                raise
        return ApplyResult(applied, duplicates, tuple(suppressed), frozenset(applied_ids))

    def _rollback(self) -> None:
        # BEGIN itself may have failed (busy), and SQLite rolls back by itself after some errors (disk full)
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @staticmethod
    def _cutoffs(cur: sqlite3.Cursor, subjects: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """The (erased_at, event_id) of the tombstones of these people, oldest first."""
        keys, out = sorted(subjects), dict[str, list[tuple[str, str]]]()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            sql = (
                "SELECT subject, erased_at, event_id FROM tombstones"  # noqa: S608 - placeholders only
                f" WHERE subject IN ({','.join('?' * len(chunk))}) ORDER BY erased_at, event_id"
            )
            for subject, at, event_id in cur.execute(sql, chunk):
                out.setdefault(subject, []).append((at, event_id))
        return out

    def _suppress(self, cur: sqlite3.Cursor, cs: ChangeSet, tombstone: str) -> None:
        """An event an erasure covers: nothing about the person is kept, but the recipient it names is added to
        the erasure's Art. 19 list (a disclosure learnt of late must be notified too), and the recipient and
        source catalogue (no personal data) is kept as in-order delivery would have left it."""
        self._upsert_catalogue(cur, [(cs, ts(cs.event.occurred_at))])
        if cs.recipient is None:
            return
        (current,) = cur.execute("SELECT recipients FROM tombstones WHERE event_id = ?", (tombstone,)).fetchone()
        recipients = set(json.loads(current))
        if cs.recipient.id not in recipients:
            updated = json.dumps(sorted(recipients | {cs.recipient.id}))
            cur.execute("UPDATE tombstones SET recipients = ? WHERE event_id = ?", (updated, tombstone))

    def _erase(self, cur: sqlite3.Cursor, cs: ChangeSet, now: str) -> bool:
        """Apply one erasure (see GraphStore): the tombstone with its Art. 19 recipients, then the deletions."""
        ev, er = cs.event, cs.erasure
        assert er is not None
        subject, at = er.subject, ts(er.occurred_at)
        cur.execute(
            "INSERT OR IGNORE INTO events(event_id, kind, occurred_at, emitted_by, subject, role, customer, applied_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ev.event_id, ev.kind, at, ev.emitted_by, subject, ev.role, ev.customer, now),
        )
        if cur.rowcount == 0:
            return False
        covered = _EDGES.format(events="events", where="e.subject = ? AND e.occurred_at <= ?")
        shared = cur.execute(
            f"SELECT DISTINCT target FROM ({covered}) WHERE rel = ?",  # noqa: S608 - fixed fragments
            (subject, at, Rel.SHARED_WITH.value),
        )
        recipients = sorted(set(er.recipients) | {r[0] for r in shared})
        cur.execute(
            "INSERT INTO tombstones(event_id, subject, erased_at, applied_at, reason, recipients)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (ev.event_id, subject, at, now, er.reason, json.dumps(recipients)),
        )
        cur.execute("DELETE FROM alert_events WHERE subject = ? AND occurred_at <= ?", (subject, at))
        cur.execute("DELETE FROM consents WHERE subject = ? AND occurred_at <= ?", (subject, at))
        cur.execute("DELETE FROM events WHERE subject = ? AND occurred_at <= ? AND kind != 'erased'", (subject, at))
        cur.execute(
            "DELETE FROM subjects WHERE key = ? AND NOT EXISTS"
            " (SELECT 1 FROM events WHERE subject = ? AND kind != 'erased')",
            (subject, subject),
        )
        return True

    @staticmethod
    def _upsert_catalogue(cur: sqlite3.Cursor, named: Iterable[tuple[ChangeSet, str]]) -> None:
        """The recipients and sources these events (with their timestamps) name: shared nodes, no personal data.

        A recipient's properties come from the latest event naming it (by occurred_at, then event id), whatever
        the order of delivery; a source's id determines its properties.
        """
        recipients: dict[str, tuple[str, str, RecipientNode]] = {}
        sources: dict[str, SourceNode] = {}
        for cs, at in named:
            r = cs.recipient
            if r is not None:
                known = recipients.get(r.id)
                if known is None or (at, cs.event.event_id) > known[:2]:
                    recipients[r.id] = (at, cs.event.event_id, r)
            if cs.source is not None:
                sources.setdefault(cs.source.id, cs.source)
        if recipients:
            cur.executemany(
                "INSERT INTO recipients(id, name, type, country, contact, seen_at, seen_event)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
                " type = excluded.type, country = excluded.country, contact = excluded.contact,"
                " seen_at = excluded.seen_at, seen_event = excluded.seen_event"
                " WHERE (excluded.seen_at, excluded.seen_event) > (recipients.seen_at, recipients.seen_event)",
                [(r.id, r.name, r.type, r.country, r.contact, at, event_id) for at, event_id, r in recipients.values()],
            )
        if sources:
            cur.executemany(
                "INSERT OR IGNORE INTO sources(id, type, name) VALUES (?, ?, ?)",
                [(s.id, s.type, s.name) for s in sources.values()],
            )

    @staticmethod
    def _known(cur: sqlite3.Cursor, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids are recorded (with ``cur``, so inside the caller's transaction)."""
        found: set[str] = set()
        for i in range(0, len(event_ids), 500):
            chunk = event_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in cur.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)  # noqa: S608 - only placeholders are interpolated
            )
        return found

    def _categories_json(self, categories: tuple[str, ...]) -> str:
        """An event's categories as stored: a JSON array, each once, sorted (few distinct tuples: remembered)."""
        found = self._categories.get(categories)
        if found is None:
            if len(self._categories) >= 4096:
                self._categories.clear()
            found = self._categories[categories] = json.dumps(sorted(set(categories)))
        return found

    def _write(self, cur: sqlite3.Cursor, fresh: Sequence[tuple[ChangeSet, str]], now: str) -> None:
        """Record new events (distinct ids, none stored yet, none erased) and their changes, set-wise.

        Each event is one row holding what its edges follow from (see ``_EDGES``); the people, recipients,
        sources and alerts of the batch are aggregated first, one row each, so each table takes one
        ``executemany``: the same outcome as applying the events one by one, in any order. Alerts merge their span
        (min first_seen, max last_seen) and add one to their count per finding; a subject's type comes from its
        latest event (the first of equally late ones).
        """
        if not fresh:
            return
        events: list[tuple[Any, ...]] = []
        subjects: dict[str, tuple[str, str]] = {}
        consents: list[tuple[str, str, str, str, str, str]] = []
        alerts: dict[str, list[Any]] = {}
        alert_evidence: list[tuple[str, str, str, str]] = []
        categories_json = self._categories_json
        for cs, at in fresh:
            ev = cs.event
            if cs.consent is None:  # a data event: what its edges follow from (see _EDGES)
                source, recipient = cs.source, cs.recipient
                lineage: tuple[str | None, ...] = (
                    categories_json(cs.categories),
                    source.id if source is not None else None,
                    cs.purpose,
                    recipient.id if recipient is not None else None,
                )
            else:
                lineage = (None, None, None, None)
                c = cs.consent
                consents.append(
                    (c.event_id, c.subject, c.kind, ts(c.occurred_at), json.dumps(c.purposes), json.dumps(c.categories))
                )
            events.append((ev.event_id, ev.kind, at, ev.emitted_by, ev.subject, ev.role, ev.customer, now, *lineage))
            # the latest event (by occurred_at) decides a subject's type: order-independent
            known = subjects.get(cs.subject.key)
            if known is None or at > known[1]:
                subjects[cs.subject.key] = (cs.subject.type, at)
            for f in cs.findings:
                aid = alert_id(*f.dedupe_key)
                row = alerts.get(aid)
                if row is None:
                    alerts[aid] = [
                        aid,
                        f.rule,
                        f.severity,
                        f.category,
                        f.purpose,
                        f.recipient_id,
                        f.recipient_type,
                        1,
                        at,
                        at,
                        f.policy_version,
                        f.reason,
                        f.clause_section,
                        f.clause_text,
                    ]
                else:  # as one by one: the first finding's text stays, the last one's policy version is kept
                    row[7], row[8], row[9], row[10] = row[7] + 1, min(row[8], at), max(row[9], at), f.policy_version
                alert_evidence.append((aid, f.event_id, f.subject, at))
        events.sort()  # in key order: the event-id B-tree is walked forwards once instead of being hit at random
        cur.executemany(
            "INSERT INTO events(event_id, kind, occurred_at, emitted_by, subject, role, customer, applied_at,"
            " categories, source, purpose, recipient) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        cur.executemany(
            "INSERT INTO subjects(key, type, seen_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " type = excluded.type, seen_at = excluded.seen_at WHERE excluded.seen_at > subjects.seen_at",
            [(key, stype, at) for key, (stype, at) in subjects.items()],
        )
        self._upsert_catalogue(cur, fresh)
        if consents:
            cur.executemany(
                "INSERT OR IGNORE INTO consents(event_id, subject, kind, occurred_at, purposes, categories)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                consents,
            )
        if alerts:
            cur.executemany(
                "INSERT INTO alerts(alert_id, rule, severity, status, category, purpose, recipient, recipient_type,"
                " count, first_seen, last_seen, policy_version, reason, clause_section, clause_text)"
                " VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(alert_id) DO UPDATE SET count = count + excluded.count,"
                " first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),"
                " policy_version = excluded.policy_version",
                alerts.values(),
            )
            cur.executemany(
                "INSERT OR IGNORE INTO alert_events(alert_id, event_id, subject, occurred_at) VALUES (?, ?, ?, ?)",
                alert_evidence,
            )

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Hold the store's lock while reading; a sqlite3 error becomes the project's (StoreUnavailable when the
        database is busy, StoreError otherwise), like the writes' errors."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise store_error(exc, f"cannot read {what} from {self.path!r}") from exc

    # -- reads ----------------------------------------------------------------------------------
    def processed(self, event_ids: Sequence[str]) -> set[str]:
        with self._reading("processed events"):
            return self._known(self._db.cursor(), list(event_ids))

    def consent_state(self, subjects: Sequence[str]) -> dict[str, ConsentState]:
        records: dict[str, list[ConsentRecord]] = {}
        keys = sorted(set(subjects))
        with self._reading("consent records"):
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                sql = (
                    "SELECT event_id, subject, kind, occurred_at, purposes, categories FROM consents"  # noqa: S608 - placeholders
                    f" WHERE subject IN ({marks}) ORDER BY occurred_at, event_id"
                )
                for row in self._db.execute(sql, chunk):
                    record = _consent_record(row)
                    records.setdefault(record.subject, []).append(record)
        return {s: ConsentState(s, tuple(r)) for s, r in records.items()}

    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        out: dict[str, list[Tombstone]] = {}
        columns = "SELECT event_id, subject, erased_at, applied_at, reason, recipients FROM tombstones"
        queries: list[tuple[str, list[str]]] = [(f"{columns} ORDER BY erased_at, event_id", [])]  # noqa: S608
        if subjects is not None:
            keys = sorted(set(subjects))
            queries = [
                (
                    f"{columns} WHERE subject IN ({','.join('?' * len(keys[i : i + 500]))})"  # noqa: S608
                    " ORDER BY erased_at, event_id",
                    keys[i : i + 500],
                )
                for i in range(0, len(keys), 500)
            ]
        with self._reading("tombstones"):
            for sql, chunk in queries:
                for row in self._db.execute(sql, chunk):
                    tomb = _tombstone(row)
                    out.setdefault(tomb.subject, []).append(tomb)
        return out

    def consent_and_erasures(self, applied_since: datetime | None = None) -> ConsentLedger:
        consent_columns = "c.event_id, c.subject, c.kind, c.occurred_at, c.purposes, c.categories"
        if applied_since is None:
            consent_sql = f"SELECT {consent_columns} FROM consents c"  # noqa: S608 - fixed fragments
            params: tuple[str, ...] = ()
        else:  # a consent record is written with its event, which carries the batch's applied_at
            consent_sql = (
                f"SELECT {consent_columns} FROM consents c JOIN events e ON e.event_id = c.event_id"  # noqa: S608
                " WHERE e.applied_at >= ?"
            )
            params = (ts(applied_since),)
        tomb_sql = "SELECT event_id, subject, erased_at, applied_at, reason, recipients FROM tombstones"
        if applied_since is not None:
            tomb_sql += " WHERE applied_at >= ?"
        with self._lock:
            try:
                consent = tuple(
                    map(_consent_record, self._db.execute(consent_sql + " ORDER BY c.occurred_at, c.event_id", params))
                )
                tombstones = tuple(
                    map(_tombstone, self._db.execute(tomb_sql + " ORDER BY erased_at, event_id", params))
                )
            except sqlite3.Error as exc:
                raise store_error(exc, f"cannot read consent records and tombstones from {self.path!r}") from exc
        return ConsentLedger(consent, tombstones)

    def who_has(self, subject: str) -> WhoHas | None:
        with self._reading("a person's lineage"):
            row = self._db.execute("SELECT type FROM subjects WHERE key = ?", (subject,)).fetchone()
            if row is None:
                return None
            mine = _EDGES.format(events="events", where="e.subject = ?")
            evidence = self._db.execute(
                f"SELECT rel, category, target, purpose, event_id, occurred_at FROM ({mine})",  # noqa: S608 - fixed
                (subject,),
            ).fetchall()
            source_ids = sorted({r[2] for r in evidence if r[0] == Rel.COLLECTED_FROM.value})
            recipient_ids = sorted({r[2] for r in evidence if r[0] == Rel.SHARED_WITH.value})
            sources = {
                r[0]: SourceRef(type=r[1], name=r[2])
                for r in self._db.execute(
                    f"SELECT id, type, name FROM sources WHERE id IN ({','.join('?' * len(source_ids))})",  # noqa: S608 - placeholders only
                    source_ids,
                )
            }
            recipients = {
                r[0]: r
                for r in self._db.execute(
                    "SELECT id, name, type, country, contact FROM recipients"  # noqa: S608 - placeholders only
                    f" WHERE id IN ({','.join('?' * len(recipient_ids))})",
                    recipient_ids,
                )
            }
        return _assemble(subject, row[0], evidence, sources, recipients)

    def flows(
        self, *, since: datetime | None = None, until: datetime | None = None, evidence_limit: int = 1000
    ) -> list[Flow]:
        # One pass over the evidence of the period, sorted by flow then event id: each flow's counts, span and
        # first event ids are taken as its rows go by, and only one flow's people are held at a time.
        sql = (
            "SELECT x.rel, x.category, x.target, x.purpose, x.role, s.type, x.subject, x.event_id, x.occurred_at"  # noqa: S608 - fixed fragments
            f" FROM ({_EDGES.format(events='events', where='e.occurred_at >= ? AND e.occurred_at < ?')}) x"
            " JOIN subjects s ON s.key = x.subject ORDER BY 1, 2, 3, 4, 5, 6, x.event_id"
        )
        lo = ts(since) if since else ""
        hi = ts(until) if until else "9999"
        out = []
        with self._reading("flows"):
            sources = {
                r[0]: SourceRef(type=r[1], name=r[2]) for r in self._db.execute("SELECT id, type, name FROM sources")
            }
            recipients = {
                r[0]: RecipientRef(id=r[0], name=r[1], type=r[2], country=r[3], contact=r[4])
                for r in self._db.execute("SELECT id, name, type, country, contact FROM recipients")
            }
            group: tuple[str, ...] | None = None
            people: set[str] = set()
            ids: list[str] = []
            events, first, last, last_id = 0, "", "", None

            def close() -> None:
                assert group is not None
                rel, category, target, purpose, role, subject_type = group
                out.append(
                    Flow(
                        rel=rel,
                        category=category,
                        role=role,
                        subject_type=subject_type,
                        purpose=target if rel == Rel.USED_FOR.value else purpose,
                        source=sources.get(target) if rel == Rel.COLLECTED_FROM.value else None,
                        recipient=recipients.get(target) if rel == Rel.SHARED_WITH.value else None,
                        subjects=len(people),
                        events=events,
                        first_seen=parse_ts(first),
                        last_seen=parse_ts(last),
                        event_ids=ids,
                    )
                )

            for row in self._db.execute(sql, (lo, hi)):
                key, subject, event_id, at = row[:6], row[6], row[7], row[8]
                if key != group:
                    if group is not None:
                        close()
                    group, people, ids, events, first, last, last_id = key, set(), [], 0, at, at, None
                people.add(subject)
                if event_id != last_id:  # rows come in event-id order within a flow
                    events += 1
                    last_id = event_id
                    if len(ids) < evidence_limit:
                        ids.append(event_id)
                first, last = min(first, at), max(last, at)
            if group is not None:
                close()
        out.sort(key=_flow_order)
        return out

    def alerts(
        self, *, status: str | None = None, rule: str | None = None, since: datetime | None = None
    ) -> list[Alert]:
        where, args = ["1 = 1"], []
        if status:
            where.append("status = ?")
            args.append(status)
        if rule:
            where.append("rule = ?")
            args.append(rule)
        if since:
            where.append("last_seen >= ?")
            args.append(ts(since))
        sql = (
            "SELECT alert_id, rule, severity, status, category, purpose, recipient, recipient_type, count,"  # noqa: S608
            " first_seen, last_seen, policy_version, reason, clause_section, clause_text FROM alerts"
            f" WHERE {' AND '.join(where)} ORDER BY last_seen DESC, alert_id"
        )
        with self._reading("alerts"):
            rows = self._db.execute(sql, args).fetchall()
            evidence: dict[str, list[tuple[str, str]]] = {}
            ids = [r[0] for r in rows]  # only the evidence of the alerts asked for (the dispatcher asks often)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                for aid, event_id, subj in self._db.execute(
                    "SELECT alert_id, event_id, subject FROM alert_events"  # noqa: S608 - placeholders only
                    f" WHERE alert_id IN ({','.join('?' * len(chunk))}) ORDER BY occurred_at, event_id",
                    chunk,
                ):
                    evidence.setdefault(aid, []).append((event_id, subj))
        out = []
        for r in rows:
            ev = evidence.get(r[0], [])
            out.append(
                Alert(
                    alert_id=r[0],
                    rule=r[1],
                    severity=r[2],
                    status=r[3],
                    category=r[4],
                    purpose=r[5],
                    recipient=r[6],
                    recipient_type=r[7],
                    count=r[8],
                    first_seen=parse_ts(r[9]),
                    last_seen=parse_ts(r[10]),
                    policy_version=r[11],
                    reason=r[12],
                    clause_section=r[13],
                    clause_text=r[14],
                    event_ids=[e for e, _ in ev],
                    subjects=sorted({s for _, s in ev}),
                )
            )
        return out

    def alert_events(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, list[tuple[str, str]]]:
        sql = (
            "SELECT alert_id, event_id, subject FROM alert_events WHERE (? IS NULL OR occurred_at >= ?)"
            " AND (? IS NULL OR occurred_at < ?) ORDER BY occurred_at, event_id"
        )
        low, high = ts(since) if since else None, ts(until) if until else None
        out: dict[str, list[tuple[str, str]]] = {}
        with self._reading("alert evidence"):
            for aid, event_id, subject in self._db.execute(sql, (low, low, high, high)):
                out.setdefault(aid, []).append((event_id, subject))
        return out

    def acknowledge_alert(self, alert_id: str) -> bool:
        with self._lock:
            try:
                cur = self._db.execute("UPDATE alerts SET status = 'acknowledged' WHERE alert_id = ?", (alert_id,))
            except sqlite3.Error as exc:
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc
            return cur.rowcount > 0

    def has_events(self) -> bool:
        with self._reading("whether any event is recorded"):
            return bool(self._db.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0])

    def stats(self) -> StoreStats:
        with self._reading("counts"):
            count = {
                t: self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed table names
                for t in ("events", "subjects", "recipients", "sources", "alerts")
            }
            # distinct edges: counted person by person (events in the order of the per-person index), so that only
            # one person's edges are kept apart at a time; evidence, the (edge, event) pairs: per data event and
            # category, HOLDS plus one per source, purpose and recipient with a purpose (the rule of _EDGES,
            # counted without expanding; a row's categories are stored once each)
            (edges,) = self._db.execute(
                "SELECT coalesce(sum(n), 0) FROM (SELECT count(DISTINCT rel || char(31) || category || char(31)"  # noqa: S608 - fixed fragments
                " || target || char(31) || purpose) AS n"
                f" FROM ({_EDGES.format(events=_BY_PERSON, where='1 = 1')}) GROUP BY subject)"
            ).fetchone()
            (evidence,) = self._db.execute(
                "SELECT coalesce(sum(json_array_length(categories) * (1 + (source IS NOT NULL)"
                " + (purpose IS NOT NULL) + (recipient IS NOT NULL AND purpose IS NOT NULL))), 0)"
                " FROM events WHERE categories IS NOT NULL"
            ).fetchone()
        return StoreStats(
            events=count["events"],
            subjects=count["subjects"],
            recipients=count["recipients"],
            sources=count["sources"],
            edges=edges,
            evidence=evidence,
            alerts=count["alerts"],
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _flow_order(f: Flow) -> tuple[str, ...]:
    target = f.recipient.id if f.recipient else (f"{f.source.type}:{f.source.name or ''}" if f.source else "")
    return (f.rel, f.category, f.purpose, target, f.role, f.subject_type)


def _assemble(
    subject: str,
    subject_type: str,
    evidence: list[tuple[str, str, str, str, str, str]],
    sources: dict[str, SourceRef],
    recipients: dict[str, tuple[str, str, str, str | None, str | None]],
) -> WhoHas:
    """The answer from one person's evidence rows (rel, category, target, purpose, event id, occurred_at)."""
    cats: dict[str, dict[str, set[str]]] = {}
    span: dict[str, tuple[str, str]] = {}
    recs: dict[str, dict[str, set[str]]] = {}
    rspan: dict[str, tuple[str, str]] = {}
    for rel, category, target, purpose, event_id, at in evidence:
        c = cats.setdefault(category, {"roles": set(), "sources": set(), "purposes": set(), "events": set()})
        if rel == Rel.HOLDS.value:
            c["roles"].add(target)
            c["events"].add(event_id)
            lo, hi = span.get(category, (at, at))
            span[category] = (min(lo, at), max(hi, at))
        elif rel == Rel.COLLECTED_FROM.value:
            c["sources"].add(target)
        elif rel == Rel.USED_FOR.value:
            c["purposes"].add(target)
        elif rel == Rel.SHARED_WITH.value:
            c["purposes"].add(purpose)
            r = recs.setdefault(target, {"categories": set(), "purposes": set(), "events": set()})
            r["categories"].add(category)
            r["purposes"].add(purpose)
            r["events"].add(event_id)
            lo, hi = rspan.get(target, (at, at))
            rspan[target] = (min(lo, at), max(hi, at))
    categories = [
        CategoryLineage(
            category=key,
            roles=sorted(c["roles"]),
            sources=sorted((sources[s] for s in c["sources"] if s in sources), key=lambda s: (s.type, s.name or "")),
            purposes=sorted(c["purposes"]),
            first_seen=parse_ts(span[key][0]),
            last_seen=parse_ts(span[key][1]),
            event_count=len(c["events"]),
        )
        for key, c in sorted(cats.items())
    ]
    out_recipients = []
    for rid, r in sorted(recs.items()):
        _, name, rtype, country, contact = recipients[rid]
        out_recipients.append(
            RecipientLineage(
                id=rid,
                name=name,
                type=rtype,
                country=country,
                contact=contact,
                categories=sorted(r["categories"]),
                purposes=sorted(r["purposes"]),
                first_shared_at=parse_ts(rspan[rid][0]),
                last_shared_at=parse_ts(rspan[rid][1]),
                event_ids=sorted(r["events"]),
            )
        )
    return WhoHas(subject=subject, subject_type=subject_type, categories=categories, recipients=out_recipients)
