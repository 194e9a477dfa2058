"""The SQLite store's file layout: its tables (version 7), the expansion of a data event's row into its lineage
edges that reads share, the conversion of version 1 files, timestamps as stored, and sqlite3 errors translated."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from graph.store import StoreConfigError, StoreError, StoreUnavailable

# version 7 counts its write transactions (meta ``writes``, graph/sqlite_writes.count_write): two writers taking turns
# hand each other their memory only when that count shows that nobody else wrote between them, so a version that
# writes without counting must not open the file
SCHEMA_VERSION = "7"

# per key, how many people occurred in it in a month with a given previous month of theirs (-1: none): a period's
# people per key without reading its people (graph/aggregate_steps.py)
STEPS_DDL = """
CREATE TABLE IF NOT EXISTS agg_steps (
  month INTEGER NOT NULL, ref TEXT NOT NULL, prev INTEGER NOT NULL, people INTEGER NOT NULL,
  PRIMARY KEY (month, ref, prev)
) WITHOUT ROWID;
"""

DDL = (
    """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, occurred_at TEXT NOT NULL, emitted_by TEXT NOT NULL,
  subject TEXT NOT NULL, role TEXT NOT NULL, customer TEXT, applied_at TEXT NOT NULL,
  categories TEXT, source TEXT, purpose TEXT, recipient TEXT, subject_type TEXT
);
CREATE INDEX IF NOT EXISTS events_person ON events(subject, occurred_at);
DROP INDEX IF EXISTS events_subject;
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
  purposes TEXT NOT NULL, categories TEXT NOT NULL, signal TEXT
);
CREATE INDEX IF NOT EXISTS consents_subject ON consents(subject, occurred_at);
CREATE TABLE IF NOT EXISTS alert_events (
  alert_id TEXT NOT NULL, event_id TEXT NOT NULL, subject TEXT NOT NULL, occurred_at TEXT NOT NULL,
  PRIMARY KEY (alert_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_events_subject ON alert_events(subject);
CREATE INDEX IF NOT EXISTS alert_events_latest ON alert_events(alert_id, occurred_at);
CREATE TABLE IF NOT EXISTS tombstones (
  event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, erased_at TEXT NOT NULL, applied_at TEXT NOT NULL,
  reason TEXT, recipients TEXT NOT NULL, received TEXT
);
CREATE INDEX IF NOT EXISTS tombstones_subject ON tombstones(subject, erased_at);
"""
    + """
-- flow aggregates (graph/aggregates.py), per unit (an event shape, or an alert): the unit, its events and span; the
-- keys it counts in; each key's people; the unit's events per UTC day; per (unit, person) the months of each year
-- the person occurred in it (a bit per month)
CREATE TABLE IF NOT EXISTS agg_units (
  unit TEXT PRIMARY KEY, kind TEXT NOT NULL, fields TEXT NOT NULL, events INTEGER NOT NULL,
  first_day INTEGER, last_day INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_unit_keys (unit TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (unit, ref)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agg_unit_keys_ref ON agg_unit_keys(ref);
CREATE TABLE IF NOT EXISTS agg_keys (
  ref TEXT PRIMARY KEY, rollup TEXT NOT NULL, key TEXT NOT NULL, people INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_days (
  unit TEXT NOT NULL, day INTEGER NOT NULL, events INTEGER NOT NULL, PRIMARY KEY (unit, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agg_days_day ON agg_days(day);
CREATE TABLE IF NOT EXISTS agg_people (
  unit TEXT NOT NULL, person TEXT NOT NULL, year INTEGER NOT NULL, months INTEGER NOT NULL,
  PRIMARY KEY (unit, person, year)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agg_people_person ON agg_people(person);
"""
    + STEPS_DDL
)


# The lineage edges are not stored. A data event's row keeps what its edges follow from (its categories as a JSON
# array, role, source, purpose and recipient) and reads expand them here, exactly as graph.changes.edge_keys does
# for the other stores: one HOLDS per category, plus COLLECTED_FROM with a source, USED_FOR with a purpose, and
# SHARED_WITH with a recipient and a purpose. Writing an event is then one row, appended, instead of an upsert per
# edge and a row per (edge, event) in B-trees keyed by random values; spans and counts are computed when read.
# ``{where}`` is a fixed condition on ``e`` (placeholders only); ``{events}`` is ``events`` or a fixed subquery of
# rows with its columns.
EDGES = """
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
BY_PERSON = "(SELECT * FROM events ORDER BY subject)"


def ts(value: datetime) -> str:
    """UTC timestamp as fixed-width text, so text order is time order (YYYY-MM-DDTHH:MM:SS.ffffffZ)."""
    # isoformat, not strftime: ~1.5x cheaper, and it runs for every event written
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


# Keys go into an IN list in chunks of this many: SQLite builds before 3.32 allow 999 host parameters per statement.
IN_CHUNK = 500


def rows_in(cur: sqlite3.Cursor | sqlite3.Connection, sql: str, keys: Sequence[str]) -> Iterator[Any]:
    """The rows of ``sql`` for ``keys``, its ``{marks}`` the placeholders of an IN list, a chunk of keys at a time
    (a key's rows all come from one chunk, in the statement's order)."""
    for i in range(0, len(keys), IN_CHUNK):
        chunk = keys[i : i + IN_CHUNK]
        yield from cur.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


def parse_ts(text: str) -> datetime:
    """What :func:`ts` wrote, back as an aware datetime (``fromisoformat``: ~100x cheaper than ``strptime``, and a
    who-has answer parses a time for each span it reports)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"a stored time without its zone: {text!r}")
    return value


# SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock for longer than the busy timeout. Everything else
# (disk full, read-only file, I/O error, corruption, a constraint) will fail again, so retrying would spin forever.
_TRANSIENT = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite answered busy or locked: another connection holds what this one needs (transient)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _TRANSIENT  # extended codes keep the primary code in the low byte


def use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode, waiting up to ``timeout`` seconds for other connections opening it at the moment.

    Switching a new file to WAL needs it alone, and SQLite answers "database is locked" at once, without calling the
    busy handler, when another connection is opening it too: four threads opening new files at once failed 8 of
    160 opens (two workers and an alerter started together on a new store). A file already in WAL is left as is."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def store_error(exc: sqlite3.Error, doing: str) -> StoreError:
    """The project's error for a sqlite3 one: StoreUnavailable (retry later) only when the database is busy."""
    if is_busy(exc):
        return StoreUnavailable(f"{doing}: the database is busy ({exc}); retry later")
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StoreError(f"{doing}: {exc} ({name}; not transient, retrying will not help)")


# Version 1 stored each lineage edge with its span and count, and a row per (edge, event); version 2 keeps the
# fields of each event that its edges follow from (see EDGES). Each v1 data event's fields are read back from the
# edges it was evidence for, which are exactly the edges those fields make.
V1_TO_V2 = (
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

# Version 3 adds each event's data-subject type (for a version 2 event: its person's type, the best known) and the
# flow aggregates (DDL), computed from the events by the store once the tables exist (``SQLiteGraphStore``).
V2_TO_V3 = (
    "ALTER TABLE events ADD COLUMN subject_type TEXT",
    "UPDATE events SET subject_type = (SELECT type FROM subjects WHERE key = events.subject)"
    " WHERE categories IS NOT NULL",
)


# Version 4 records how an opt-out was received (a request or a Global Privacy Control signal); an opt-out of an
# older file was a request (policies.consent.stored_signal reads NULL so).
V3_TO_V4 = ("ALTER TABLE consents ADD COLUMN signal TEXT",)

# Version 5 keeps with each tombstone what each recipient on its Art. 19 list had received: a JSON array of
# [recipient id, category key] pairs, sorted. A tombstone of an older file did not keep them: NULL, which notices
# read as "every category disclosed to you" (reports/notices.py); an erasure applied from then on records them.
V4_TO_V5 = ("ALTER TABLE tombstones ADD COLUMN received TEXT",)

# Version 6 keeps per key the steps from which a period's people are counted (STEPS_DDL), computed from the months
# kept per (unit, person) by the store once the table exists.

#: The columns a Tombstone is read from (graph/sqlite_reads.tombstone), in its order.
TOMBSTONE_COLUMNS = "event_id, subject, erased_at, applied_at, reason, recipients, received"


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one by one (a trigger's body keeps its own semicolons)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def migrate(
    db: sqlite3.Connection,
    path: str,
    rebuild: Callable[[sqlite3.Cursor], None],
    steps: Callable[[sqlite3.Cursor], None],
) -> bool:
    """Bring an existing store to SCHEMA_VERSION, in one transaction (another process opening the same file at
    the same time waits for it, then finds the work done); refuse a store written by a newer version.

    Return whether the schema is to be created (a new file, or one just converted); a store of the current version
    is only read here, so that opening it does not wait for another connection's write (a running ingest). A
    converted store gets its flow aggregates computed by ``rebuild`` in the same transaction, after the DDL (a store
    that has them, from version 3 on, only the steps of version 6: ``steps``; version 7 only counts its writes from
    then on).
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
        version = row[0] if row is not None else SCHEMA_VERSION
        if version not in ("1", "2", "3", "4", "5", "6", SCHEMA_VERSION):
            raise StoreConfigError(
                f"the store {path!r} has schema version {version}, which this version of privacy-lineage cannot"
                f" read (it reads versions 1 to {SCHEMA_VERSION}); upgrade privacy-lineage"
            )
        if version == "1":
            for statement in V1_TO_V2:
                db.execute(statement)
        signal = "consents" in tables and "signal" in {r[1] for r in db.execute("PRAGMA table_info(consents)")}
        if "consents" in tables and not signal:  # before the DDL, which would make a version 4 table
            for statement in V3_TO_V4:
                db.execute(statement)
        received = "tombstones" in tables and "received" in {r[1] for r in db.execute("PRAGMA table_info(tombstones)")}
        if "tombstones" in tables and not received:  # likewise: the DDL would make a version 5 table
            for statement in V4_TO_V5:
                db.execute(statement)
        if version in ("1", "2"):
            for statement in V2_TO_V3:
                db.execute(statement)
            for statement in statements(DDL):  # not executescript: it would commit the transaction
                db.execute(statement)
            rebuild(db.cursor())
        elif version in ("3", "4", "5"):
            for statement in statements(STEPS_DDL):
                db.execute(statement)
            steps(db.cursor())
        db.execute("UPDATE meta SET v = ? WHERE k = 'schema_version'", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return True
