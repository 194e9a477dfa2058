"""The embedded default GraphStore on SQLite (stdlib): one file, no server."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config import Settings
from graph import aggregate_steps as steps
from graph import sqlite_aggregates as aggregates
from graph import sqlite_notices as notice_rows
from graph import sqlite_reads as reads
from graph import sqlite_writes as writes
from graph.aggregate_reads import AggregateQueries
from graph.aggregator import Aggregator, Handed, Pending
from graph.changes import ChangeSet, EventFacts, Tombstone
from graph.erasure import covering, tombstones_by_person
from graph.sqlite_layout import (
    DDL,
    SCHEMA_VERSION,
    TOMBSTONE_COLUMNS,
    migrate,
    parse_ts,
    rows_in,
    store_error,
    ts,
    use_wal,
)
from graph.store import (
    AggregateRow,
    ApplyResult,
    Catalogue,
    ConsentLedger,
    GraphStore,
    PurgeResult,
    StoreConfigError,
)
from policies.consent import ConsentState, consent_by_person
from schemas.answers import (
    Alert,
    RecipientRef,
    SourceRef,
    StoreStats,
    WhoHas,
)
from schemas.notices import NoticeRecord


@dataclass(frozen=True, slots=True)
class StoreHandoff:
    """One committed batch of a SQLite store object, for the next writer (:meth:`SQLiteGraphStore.handoff`): the
    store's count of writes before it (its own is the next), what it recorded, and the units it registered."""

    after: int
    memory: Handed
    registered: tuple[str, ...]


class SQLiteGraphStore(AggregateQueries, GraphStore):
    """GraphStore on one SQLite file (or ``:memory:``), with WAL and one writer at a time."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        """Open (creating if needed) the store at ``path``; a write waits up to ``busy_timeout`` seconds for
        another connection's lock before raising StoreUnavailable."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
            # Deleted rows and freed pages are overwritten with zeros, whatever the build's default (the usual builds
            # leave SQLITE_SECURE_DELETE off): an erasure must not leave the person's data in free space.
            if self._db.execute("PRAGMA secure_delete=ON").fetchone() != (1,):
                raise StoreConfigError(
                    f"cannot open SQLite store {self.path!r}: this SQLite build cannot overwrite deleted data "
                    "(PRAGMA secure_delete), so erasures would leave data in the file"
                )
            use_wal(self._db, busy_timeout)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache (the default is 2 MiB): a batch's rows go into each B-tree in key order, and
            # with this cache the pages they walk stay in memory (measured with the version 1 layout, on the
            # bench's 153k events into a 146 MB file: 3x fewer page reads, a third fewer page writes, ~7% less
            # CPU; not measured again since). Memory only, allocated as used.
            self._db.execute("PRAGMA cache_size=-65536")
            if migrate(self._db, self.path, aggregates.rebuild, aggregates.rebuild_steps):
                self._db.executescript(DDL)
                self._db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        except sqlite3.Error as exc:
            raise store_error(exc, f"cannot open SQLite store {self.path!r}") from exc
        except StoreConfigError:
            self._db.close()
            raise
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._categories = writes.CategoriesText()
        self._aggregator = Aggregator()
        self._version = -1  # PRAGMA data_version at this connection's last commit
        self._writes: int | None = None  # the store's count of write transactions after this object's last one
        self._given: StoreHandoff | None = None  # see receive_handoff()
        self._last: tuple[int, Pending, tuple[str, ...]] | None = None  # see handoff()
        self._registered: set[str] = set()  # units known to be recorded (a unit, once recorded, stays)
        self._stats: tuple[tuple[int, int], StoreStats] | None = None  # see stats()

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> SQLiteGraphStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``."""
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreConfigError(f"bad SQLite store URL {url!r}: expected sqlite:///path/to/file.db")
        return cls(path)

    @classmethod
    def missing(cls, url: str) -> str | None:
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if path and path != ":memory:" and not Path(path).exists():
            return f"there is no SQLite store at {path}"
        return None

    # -- writes ---------------------------------------------------------------------------------
    def bind_key(self, fingerprint: str) -> None:
        with self._lock:
            try:
                row = self._db.execute("SELECT v FROM meta WHERE k = 'key_fingerprint'").fetchone()
                if row is None:  # a store with no key yet (a bound one is only read: readers never wait for a writer)
                    # recorded unless another process opening the new store at the same moment recorded its key
                    # first (a plain insert failed there: the alerter started beside two workers died); then the
                    # key the store holds
                    self._db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('key_fingerprint', ?)", (fingerprint,))
                    row = self._db.execute("SELECT v FROM meta WHERE k = 'key_fingerprint'").fetchone()
            except sqlite3.Error as exc:
                raise store_error(exc, f"cannot record the pseudonym key in {self.path!r}") from exc
            if row[0] != fingerprint:
                raise StoreConfigError(
                    f"the store {self.path!r} was written with another pseudonym key "
                    f"(fingerprint {row[0]}, this key's is {fingerprint}); use the same LINEAGE_PSEUDONYM_KEY "
                    "or re-key the store"
                )

    def _write_batch(self, erasures: list[ChangeSet], others: list[ChangeSet]) -> ApplyResult:
        applied, duplicates = 0, 0
        suppressed: list[str] = []
        now = ts(datetime.now(UTC))
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                applied_ids: set[str] = set()
                for cs in erasures:
                    if writes.erase(cur, cs, now):
                        applied += 1
                        applied_ids.add(cs.event.event_id)
                    else:
                        duplicates += 1
                # read inside the write transaction: an erasure committed by another writer cannot slip between
                cutoffs = writes.cutoffs(cur, {cs.event.subject for cs in others})
                candidates: list[tuple[ChangeSet, str]] = []
                for cs in others:
                    at = ts(cs.event.occurred_at)
                    cuts = cutoffs.get(cs.event.subject)
                    tombstone = covering(cuts, at) if cuts else None
                    if tombstone is not None:
                        suppressed.append(cs.event.event_id)
                        writes.suppress(cur, cs, tombstone)
                    else:
                        candidates.append((cs, at))
                # an event already stored is not applied again (the batch's own repeats never reach this hook)
                stored = writes.known(cur, [cs.event.event_id for cs, _ in candidates])
                fresh = [(cs, at) for cs, at in candidates if cs.event.event_id not in stored]
                duplicates += len(candidates) - len(fresh)
                writes.write(cur, fresh, now, self._categories)
                # what the aggregator remembers holds if nobody else wrote since this connection's last commit,
                # or if the one batch written since is the one handed over (receive_handoff)
                version = cur.execute("PRAGMA data_version").fetchone()[0]
                counted = writes.count_write(cur)
                given, self._given, self._last = self._given, None, None
                agg = self._aggregator
                if version != self._version:
                    if given is not None and given.after == self._writes == counted - 1:
                        agg.absorb(given.memory)
                        self._registered.update(given.registered)
                    else:
                        agg.forget()
                delta, remember = agg.delta(
                    [cs for cs, _ in fresh], {s: len(c) for s, c in cutoffs.items()}, trusted=True
                )
                aggregates.register(cur, (u for u in delta.units.values() if u.id not in self._registered))

                # the months recorded for the people of the batch's new memberships: whom a key gains, and the steps
                def recorded(people: set[str]) -> dict[str, dict[str, set[int]]]:
                    found, units = aggregates.recorded(cur, people, agg.units)
                    agg.add_units(units)
                    return found

                mine = agg.recorded_months(remember, {p for _, p in delta.members}, recorded)
                read = {p: set(mine[p]) for p in remember.unseen}
                changes = steps.batch_changes(agg.units, mine, delta.members)
                aggregates.write(cur, delta, agg.people_added(delta, remember, read), changes)
                applied += len(fresh)
                applied_ids.update(cs.event.event_id for cs, _ in fresh)
                cur.execute("COMMIT")
                self._aggregator.committed(remember)
                self._version, self._writes = version, counted + 1
                self._registered.update(delta.units)
                self._last = (counted, remember, tuple(delta.units))
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc
            except BaseException:
                self._rollback()
                raise
            erased = [cs.event.event_id for cs in erasures if cs.event.event_id in applied_ids]
            pending = tuple(erased) if erased and not self._purge().complete else ()
        return ApplyResult(applied, duplicates, tuple(suppressed), frozenset(applied_ids), pending)

    def handoff(self) -> StoreHandoff | None:
        """What this object's last committed batch taught its aggregator (the months and units it recorded per
        person), for another store object on the same file that writes next (:meth:`receive_handoff`), or None
        (no batch committed since the last handoff was given)."""
        with self._lock:
            if self._last is None:
                return None
            (after, pending, registered), self._last = self._last, None
            return StoreHandoff(after, self._aggregator.export(pending), registered)

    def receive_handoff(self, handoff: object) -> None:
        """Take another store object's :meth:`handoff` before this one's next batch. That batch's transaction
        uses it only if the store's count of writes shows that the handed batch is the only one committed since
        this object's last (``meta`` ``writes``, counted by every batch in its transaction): then the aggregator
        goes on from what it knew plus what the other recorded, instead of forgetting everything it knew
        because another connection wrote. Otherwise it forgets, as it would without a handoff."""
        if isinstance(handoff, StoreHandoff):
            with self._lock:
                self._given = handoff

    def reopener(self) -> Callable[[], SQLiteGraphStore] | None:
        if self.path == ":memory:":
            return None
        return functools.partial(SQLiteGraphStore, self.path, busy_timeout=self._busy_timeout)

    def purge(self) -> PurgeResult:
        with self._lock:
            return self._purge()

    def _purge(self) -> PurgeResult:
        """Rewrite the file without the deleted data, then write the write-ahead log back and truncate it to 0 bytes.

        secure_delete zeroes deleted rows and freed pages, but not everything: a page SQLite rebuilds (rows moved
        between pages as a table grows or shrinks) keeps stale copies of moved rows in its unused middle, measured
        at 1 of an erased person's 120 rows left in the file in 4 of 12 trials. VACUUM writes every page anew
        (about 3 s for a 400 MB store of 10^6 events). SQLite retries while another connection reads, for up to
        the busy timeout; a reader still there after it keeps the log, and with it the erasure, pending.
        """
        if self.path == ":memory:":
            return PurgeResult(True)
        try:
            self._db.execute("VACUUM")
            busy, log, written = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            return PurgeResult(
                False, f"{self.path!r} could not be rewritten ({exc}); run lineage purge when it is not busy"
            )
        if not busy:
            return PurgeResult(True)
        return PurgeResult(
            False,
            f"another connection kept reading {self.path!r} for {self._busy_timeout:g} s (a long request or report, "
            f"or an open sqlite3 shell): {log - written if log >= 0 else 'some'} page(s) of its write-ahead log are "
            f"not yet written back, and the log, which keeps the deleted data, is not cleared; run lineage purge "
            "once that reader has finished",
        )

    def _rollback(self) -> None:
        # BEGIN itself may have failed (busy), and SQLite rolls back by itself after some errors (disk full)
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

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
    def occurred(self, event_ids: Sequence[str]) -> dict[str, datetime]:
        sql = "SELECT event_id, occurred_at FROM events WHERE event_id IN ({marks})"
        with self._reading("events"):
            return {r[0]: parse_ts(r[1]) for r in rows_in(self._db, sql, sorted(set(event_ids)))}

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        with self._reading("processed events"):
            return writes.known(self._db.cursor(), list(event_ids))

    def first_recorded(
        self, subjects: Sequence[str], categories: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, dict[str, datetime]]:
        asked = categories or {}
        everything = sorted({s for s in subjects if s not in asked})
        pairs = [[s, c] for s in sorted(set(subjects)) if s in asked for c in sorted(set(asked[s]))]
        out: dict[str, dict[str, datetime]] = {}
        with self._reading("when data was first recorded"):
            for subject, category, first in rows_in(self._db, reads.FIRST_RECORDED, everything):
                out.setdefault(subject, {})[category] = parse_ts(first)
            if pairs:
                for subject, category, first in self._db.execute(reads.FIRST_RECORDED_ASKED, (json.dumps(pairs),)):
                    if first is not None:
                        out.setdefault(subject, {})[category] = parse_ts(first)
        return out

    def consent_state(self, subjects: Sequence[str]) -> dict[str, ConsentState]:
        keys = sorted(set(subjects))
        sql = (
            "SELECT event_id, subject, kind, occurred_at, purposes, categories, signal FROM consents"
            " WHERE subject IN ({marks}) ORDER BY occurred_at, event_id"
        )
        with self._reading("consent records"):
            return consent_by_person(map(reads.consent_record, rows_in(self._db, sql, keys)))

    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        columns = f"SELECT {TOMBSTONE_COLUMNS} FROM tombstones"  # noqa: S608 - fixed fragments
        order = " ORDER BY erased_at, event_id"
        with self._reading("tombstones"):
            if subjects is None:
                rows: Iterable[Any] = self._db.execute(columns + order)
            else:
                rows = rows_in(self._db, columns + " WHERE subject IN ({marks})" + order, sorted(set(subjects)))
            return tombstones_by_person([reads.tombstone(row) for row in rows])

    def consent_and_erasures(self, applied_since: datetime | None = None) -> ConsentLedger:
        consent_columns = "c.event_id, c.subject, c.kind, c.occurred_at, c.purposes, c.categories, c.signal"
        if applied_since is None:
            consent_sql = f"SELECT {consent_columns} FROM consents c"  # noqa: S608 - fixed fragments
            params: tuple[str, ...] = ()
        else:  # a consent record is written with its event, which carries the batch's applied_at
            consent_sql = (
                f"SELECT {consent_columns} FROM consents c JOIN events e ON e.event_id = c.event_id"  # noqa: S608
                " WHERE e.applied_at >= ?"
            )
            params = (ts(applied_since),)
        tomb_sql = f"SELECT {TOMBSTONE_COLUMNS} FROM tombstones"  # noqa: S608 - fixed fragments
        if applied_since is not None:
            tomb_sql += " WHERE applied_at >= ?"
        with self._lock:
            try:
                consent = tuple(
                    map(
                        reads.consent_record,
                        self._db.execute(consent_sql + " ORDER BY c.occurred_at, c.event_id", params),
                    )
                )
                tombstones = tuple(
                    map(reads.tombstone, self._db.execute(tomb_sql + " ORDER BY erased_at, event_id", params))
                )
            except sqlite3.Error as exc:
                raise store_error(exc, f"cannot read consent records and tombstones from {self.path!r}") from exc
        return ConsentLedger(consent, tombstones)

    def who_has(self, subject: str) -> WhoHas | None:
        with self._reading("a person's lineage"):
            return reads.who_has(self._db, subject)

    # -- aggregates (graph/aggregate_reads.py composes these) -----------------------------------------------------
    def aggregate_totals(self) -> list[AggregateRow]:
        with self._reading("aggregates"):
            return aggregates.totals(self._db)

    def aggregate_days(self, first_day: int, end_day: int) -> list[AggregateRow]:
        with self._reading("aggregates by day"):
            return aggregates.days(self._db, first_day, end_day)

    def aggregate_people(
        self, first_month: int, end_month: int, rollups: Sequence[str] | None = None
    ) -> dict[str, int]:
        with self._reading("people by month"):
            return aggregates.people(self._db, first_month, end_month, rollups)

    def aggregate_members(
        self, pairs: Sequence[tuple[str, str]], first_month: int, end_month: int
    ) -> set[tuple[str, str]]:
        with self._reading("people by month"):
            return aggregates.members(self._db, pairs, first_month, end_month)

    def aggregate_persons(self, first_month: int, end_month: int, refs: Sequence[str] | None = None) -> list[str]:
        with self._reading("people by month"):
            return aggregates.persons(self._db, first_month, end_month, refs)

    def event_facts(
        self, since: datetime | None = None, until: datetime | None = None, people: Sequence[str] | None = None
    ) -> Iterator[EventFacts]:
        if people is None:
            with self._reading("people"):
                people = [r[0] for r in self._db.execute("SELECT key FROM subjects ORDER BY key")]
        pages = aggregates.facts_of(self._db, people, since, until)
        while True:
            with self._reading("events"):  # the lock is held per page, not while the caller works
                page = next(pages, None)
            if page is None:
                return
            yield from page

    def catalogue(self) -> Catalogue:
        with self._reading("sources and recipients"):
            sources = {
                r[0]: SourceRef(type=r[1], name=r[2]) for r in self._db.execute("SELECT id, type, name FROM sources")
            }
            recipients = {
                r[0]: RecipientRef(id=r[0], name=r[1], type=r[2], country=r[3], contact=r[4])
                for r in self._db.execute("SELECT id, name, type, country, contact FROM recipients")
            }
        return Catalogue(sources, recipients)

    def alerts(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        subject: str | None = None,
    ) -> list[Alert]:
        with self._reading("alerts"):
            return reads.alerts(self._db, status=status, rule=rule, since=since, subject=subject)

    def acknowledge_alert(self, alert_id: str) -> bool:
        with self._lock:
            try:
                cur = self._db.execute("UPDATE alerts SET status = 'acknowledged' WHERE alert_id = ?", (alert_id,))
            except sqlite3.Error as exc:
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc
            return cur.rowcount > 0

    def record_notice(self, notice: NoticeRecord) -> bool:
        with self._lock:
            try:
                return notice_rows.record(self._db, notice)
            except sqlite3.Error as exc:
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc

    def notices(self, subject: str | None = None, *, notice_id: str | None = None) -> list[NoticeRecord]:
        with self._reading("Art. 19 notices"):
            return notice_rows.read(self._db, subject, notice_id)

    def acknowledge_notice(self, notice_id: str, at: datetime, by: str | None) -> NoticeRecord | None:
        with self._lock:
            try:
                return notice_rows.acknowledge(self._db, notice_id, at, by)
            except sqlite3.Error as exc:
                raise store_error(exc, f"SQLite write to {self.path!r} failed") from exc

    def has_events(self) -> bool:
        with self._reading("whether any event is recorded"):
            return bool(self._db.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0])

    def stats(self) -> StoreStats:
        with self._reading("counts"):
            # the counts scan the events (about a second per 10^5 people): remembered until something is written,
            # by this connection (total_changes) or another one (data_version). Read before the snapshot below,
            # a commit in between makes the next call count again, never answer from an older state.
            key = (self._db.execute("PRAGMA data_version").fetchone()[0], self._db.total_changes)
            if self._stats is not None and self._stats[0] == key:
                return self._stats[1]
            self._db.execute("BEGIN")  # one snapshot for all the counts (WAL: writers go on meanwhile)
            try:
                stats = reads.count(self._db)
            finally:
                self._db.execute("COMMIT")
            self._stats = (key, stats)
            return stats

    def close(self) -> None:
        with self._lock:
            # the last connection to close checkpoints by itself; this one may not be the last (lineage serve
            # holds the file open while lineage erase runs), so leave the log empty if no reader is in the way
            if self.path != ":memory:":
                with suppress(sqlite3.Error):
                    self._db.execute("PRAGMA busy_timeout = 0")
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
