"""Reading the aggregates for a period, the same for every store: whole days and months come from the buckets,
the parts of a period's first and last month that a bucket does not cover from the events there; and evidence.

A period [since, until) is cut into whole UTC days (events and spans: summed from the day buckets), whole UTC months
(people: counted from the steps kept per key, graph/aggregate_steps.py) and, at each end, the part of a month the
period covers without covering the whole month. That part's events are read (``GraphStore.event_facts``): their
sub-day parts add to the events and spans, and their people are added to those of the whole months when not
already among them. A period that starts and ends on month boundaries (the CCPA default, a calendar year, all
time) reads no event and no membership at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from graph.aggregates import FLOW, day_date, day_of, facts_delta, month_of, month_start, shape_of
from graph.changes import EventFacts, Shape
from graph.flows import flow, flow_order
from graph.store import AggregateRow, GraphStore
from schemas.answers import Flow, FlowSummary, RollupCount

_NEVER, _ALWAYS = -(10**7), 10**7  # days (and months) before and after any event


@dataclass(slots=True)
class _Count:
    rollup: str
    fields: tuple[str, ...]
    events: int
    people: int
    first: int
    last: int


def _midnight(day: int) -> datetime:
    d = day_date(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _month_start(month: int) -> datetime:
    d = month_start(month)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _ceil_day(at: datetime) -> int:
    day = day_of(at)
    return day if at == _midnight(day) else day + 1


def _ceil_month(at: datetime) -> int:
    month = month_of(at)
    return month if at == _month_start(month) else month + 1


def _edges(since: datetime | None, until: datetime | None) -> list[tuple[datetime | None, datetime | None]]:
    """The parts of [since, until) outside its whole months, to be read event by event."""
    lo = _ceil_month(since) if since is not None else _NEVER
    hi = month_of(until) if until is not None else _ALWAYS
    if lo >= hi:  # no whole month: the whole period
        return [(since, until)]
    out: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and since < _month_start(lo):
        out.append((since, _month_start(lo)))
    if until is not None and _month_start(hi) < until:
        out.append((_month_start(hi), until))
    return out


def cut_parts(since: datetime | None, until: datetime | None) -> list[tuple[datetime | None, datetime | None]]:
    """The parts of [since, until) that cut a UTC month, whose events a period's counts read (none for a period on
    month boundaries, or all time): what a caller can tell a user who waits for them."""
    if since is None and until is None:
        return []
    return _edges(since, until)


def _months(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    """The months [first, end) that [since, until) touches."""
    first = month_of(since) if since is not None else _NEVER
    if until is None:
        return first, _ALWAYS
    end = month_of(until)
    return first, end if until == _month_start(end) else end + 1


def _people_between(
    store: GraphStore, since: datetime | None, until: datetime | None, refs: list[str] | None = None
) -> list[str]:
    """The people with an event in a month that [since, until) touches: those whose events there are to be read."""
    return store.aggregate_persons(*_months(since, until), refs)


def _whole_history_inside(
    totals: Mapping[str, AggregateRow], lo_month: int, hi_month: int, refs: Iterable[str]
) -> dict[str, int] | None:
    """When every one of these keys has all its recorded events in the months [lo_month, hi_month) (a period that
    covers the whole history, as the CCPA's twelve months do for a younger store), their people in those months
    are their people of all time, kept at write time: no membership to read. None when one has events outside."""
    out: dict[str, int] = {}
    for ref in refs:
        t = totals.get(ref)
        if t is None or month_of(day_date(t.first_day)) < lo_month or month_of(day_date(t.last_day)) >= hi_month:
            return None
        out[ref] = t.people
    return out


def counts(store: GraphStore, since: datetime | None, until: datetime | None) -> dict[str, _Count]:
    """Per reference with events in [since, until): its key, events, people, first and last day."""
    rows = store.aggregate_totals()
    lo_day = _ceil_day(since) if since is not None else _NEVER
    hi_day = day_of(until) if until is not None else _ALWAYS
    if all(lo_day <= r.first_day and r.last_day < hi_day for r in rows if r.events > 0):
        # the whole history in whole days of the period (no period, or the CCPA's twelve months on a younger store):
        # the answer is the totals kept at write time, as cheap at 10^7 events as at 10^5
        return {r.ref: _Count(r.rollup, r.fields, r.events, r.people, r.first_day, r.last_day) for r in rows}
    totals = {r.ref: r for r in rows}
    out: dict[str, _Count] = {}
    if lo_day < hi_day:
        for r in store.aggregate_days(lo_day, hi_day):
            out[r.ref] = _Count(r.rollup, r.fields, r.events, 0, r.first_day, r.last_day)
    lo_month = _ceil_month(since) if since is not None else _NEVER
    hi_month = month_of(until) if until is not None else _ALWAYS
    if lo_month < hi_month:
        people = _whole_history_inside(totals, lo_month, hi_month, out)
        if people is None:
            people = store.aggregate_people(lo_month, hi_month)
        for ref, n in people.items():
            if ref in out:
                out[ref].people = n
    # the parts of the first and last months not covered whole: their events, read
    edge_people: dict[tuple[str, str], None] = {}
    for a, b in _edges(since, until):
        delta = facts_delta(store.event_facts(a, b, _people_between(store, a, b))).by_key()
        for (ref, day), n in delta.days.items():
            if lo_day <= day < hi_day:
                continue  # a whole day: already counted from the buckets
            c = out.get(ref)
            if c is None:
                rollup, fields = delta.keys[ref]
                out[ref] = _Count(rollup, fields, n, 0, day, day)
            else:
                c.events, c.first, c.last = c.events + n, min(c.first, day), max(c.last, day)
        for pair in delta.members:
            edge_people[pair] = None
    if edge_people:
        pairs = list(edge_people)
        known = store.aggregate_members(pairs, lo_month, hi_month) if lo_month < hi_month else set()
        for ref, person in pairs:
            if (ref, person) not in known:
                out[ref].people += 1
    return out


class AggregateQueries:
    """:meth:`GraphStore.flow_summary`, the same for every store: mixed into each, before GraphStore."""

    def flow_summary(self, *, since: datetime | None = None, until: datetime | None = None) -> FlowSummary:
        assert isinstance(self, GraphStore)
        return summary(self, since, until)


def summary(store: GraphStore, since: datetime | None, until: datetime | None) -> FlowSummary:
    """The :class:`FlowSummary` of [since, until) (see :meth:`GraphStore.flow_summary`)."""
    found = counts(store, since, until)
    catalogue = store.catalogue()
    flows: list[Flow] = []
    rollups: list[RollupCount] = []
    for ref, c in found.items():
        if c.events <= 0:
            continue
        if c.rollup == FLOW:
            flows.append(
                flow(
                    ref,
                    c.fields,
                    catalogue.sources,
                    catalogue.recipients,
                    subjects=c.people,
                    events=c.events,
                    first=day_date(c.first),
                    last=day_date(c.last),
                )
            )
        else:
            rollups.append(
                RollupCount(
                    ref=ref,
                    rollup=c.rollup,
                    key=list(c.fields),
                    events=c.events,
                    people=c.people,
                    first_seen=day_date(c.first),
                    last_seen=day_date(c.last),
                )
            )
    flows.sort(key=flow_order)
    rollups.sort(key=lambda r: (r.rollup, r.key))
    return FlowSummary(flows=flows, rollups=rollups)


# -- evidence ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evidence:
    """One event an aggregate rests on."""

    ref: str
    event_id: str
    occurred_at: datetime


def evidence(
    store: GraphStore,
    refs: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Evidence]:
    """The events behind these references (None: every reference) in [since, until), person by person: a read of
    the events of the people those references count in the period (the one output that costs what the history
    costs; see docs/reports.md)."""
    wanted = None if refs is None else set(refs)
    people = None if wanted is None else _people_between(store, since, until, sorted(wanted))
    for f in store.event_facts(since, until, people):
        for ref in refs_of(f):
            if wanted is None or ref in wanted:
                yield Evidence(ref, f.event_id, f.occurred_at)


_REFS: dict[Shape, tuple[str, ...]] = {}


def refs_of(f: EventFacts) -> tuple[str, ...]:
    """The references one stored event counts in."""
    shape = f.shape
    refs = _REFS.get(shape)
    if refs is None:
        if len(_REFS) > 65_536:
            _REFS.clear()
        refs = _REFS[shape] = tuple(shape_of(shape).keys)
    return refs + tuple(a for a in dict.fromkeys(f.alerts)) if f.alerts else refs
