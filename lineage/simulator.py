"""Simulated S Plus Helpdesk traffic: declared flows plus planted undeclared ones, each marked with its rules."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import yaml

from lineage import traffic
from lineage.sim_retention import RETENTION, Periods
from lineage.traffic import PLANTED, Flow
from schemas.policy import RetentionPeriod
from schemas.recipients import RecipientRegistry

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
"""A fixed start, so that the same arguments always give the same stream."""

_DAY = 86_400
_LAST_SECOND = _DAY - 2  # keeps events strictly before start + days, even when start is rounded up a second


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    """One simulated event and the truth about it.

    ``event`` is a wire-format (schema_version 1) event object. Its nested objects (subject, source, recipient)
    are shared between events of the same person or recipient, so treat it as read-only.
    """

    event: dict[str, Any]
    undeclared: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`write_jsonl` wrote."""

    events: int
    undeclared: int
    by_kind: Mapping[str, int]
    by_rule: Mapping[str, int]
    first_at: str | None
    last_at: str | None

    def __str__(self) -> str:
        share = self.undeclared / self.events if self.events else 0.0
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items()))
        span = f" from {self.first_at} to {self.last_at}" if self.first_at else ""
        return f"{self.events} events ({kinds}; {self.undeclared} undeclared, {share:.1%}){span}"


@dataclass(frozen=True, slots=True)
class _Person:
    subject: dict[str, Any]
    customer: str
    join_day: int
    signup: Flow
    billing: Flow | None  # the customer's billing contact supplies the billing details
    marketing_opt_in: bool
    client: str  # the app the person mostly uses
    activity: float  # probability of being active on a working day
    gpc: bool  # their browser sends a Global Privacy Control signal


# -- the generator ------------------------------------------------------------------------------------------------


class _World:
    """The people, the random stream and the time formatting; :meth:`day` returns one day's events in time order."""

    def __init__(
        self, people: int, days: int, seed: int, rate: float, start: datetime, periods: Sequence[RetentionPeriod]
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test traffic, not security
        # opt-outs of sale and sharing draw from a stream of their own, so the rest of the traffic stays as it was
        self.gpc_rng = random.Random(seed ^ 0x675043)  # noqa: S311
        # so do a job's choices to ignore a retention period (drawn only when the policy declares one in days)
        self.retention_rng = random.Random(seed ^ 0x726574)  # noqa: S311
        self.periods = Periods(periods)
        self._past_period: dict[int, Flow] = {}  # by id() of a flow: the same flow, noted as used past its period
        self.rate = rate
        self.ignore_opt_out = min(1.0, 10 * rate)  # how often a job ignores an opt-out (planted: none at rate 0)
        self.ignore_period = min(1.0, 10 * rate)  # how often a job ignores a retention period (planted likewise)
        self.opted_out: dict[str, tuple[int, int]] = {}  # person -> (day, second) of their opt-out of sale and sharing
        self.days = days
        start = start.astimezone(UTC)
        if start.microsecond:
            start = start.replace(microsecond=0) + timedelta(seconds=1)
        self.start = start
        self._second_of_day = start.hour * 3600 + start.minute * 60 + start.second
        midnight = start.replace(hour=0, minute=0, second=0)
        self._dates = [(midnight + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days + 2)]
        self._planted = [p for p in PLANTED for _ in range(p.weight)]
        self.buffer: list[tuple[int, SimulatedEvent]] = []
        self.people = self._people(people)

    def _people(self, n: int) -> list[_Person]:
        rng = self.rng
        seen: Counter[str] = Counter()
        with_billing: set[str] = set()
        join_span = max(1, min(self.days, 28) // 4)  # people join during the first week or so
        out: list[_Person] = []
        for customer in rng.choices(traffic.CUSTOMERS, [c.weight for c in traffic.CUSTOMERS], k=n):
            local = f"{rng.choice(traffic.FIRST_NAMES)}.{rng.choice(traffic.LAST_NAMES)}"
            seen[customer.id + local] += 1
            if seen[customer.id + local] > 1:
                local += str(seen[customer.id + local])
            billing = None
            if customer.paid and customer.id not in with_billing:
                with_billing.add(customer.id)
                card = "user.financial.credit_card" if rng.random() < 0.7 else "user.financial.bank_account"
                billing = traffic.BILLING[card]
            if customer.sso is not None:
                signup = traffic.SIGNUP[customer.sso]
            else:  # no single sign-on: most are invited by their administrator, some sign up themselves
                signup = traffic.INVITED if rng.random() < 0.6 else traffic.SIGNED_UP
            out.append(
                _Person(
                    subject={"id": f"{local}@{customer.domain}", "type": "customer"},
                    customer=customer.id,
                    join_day=rng.randrange(join_span),
                    signup=signup,
                    billing=billing,
                    marketing_opt_in=rng.random() < 0.6,
                    client=(client := rng.choice(traffic.CLIENTS)),
                    activity=0.55 + 0.4 * rng.random(),
                    gpc=client == "web-app" and self.gpc_rng.random() < 0.5,
                )
            )
        return out

    def _event_id(self) -> str:
        x = self.rng.getrandbits(128)
        # the bits of uuid.UUID(int=x, version=4), without the cost of building a UUID object
        x = (x & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        h = f"{x:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def emit(self, day: int, t: int, person: _Person, flow: Flow, by: str | None = None) -> Flow | None:
        """Add ``flow`` at second ``t`` of ``day``, or, with probability ``rate``, a planted flow in its place;
        return the flow added (None: none, a use past its retention period not made). A sale or sharing after the
        person's opt-out of it is marked as such, and so is a use or disclosure past its retention period."""
        planted = False
        if self.rate and self.rng.random() < self.rate:
            flow = self._planted[int(self.rng.random() * len(self._planted))]
            by, planted = None, True
        t = min(t, _LAST_SECOND)
        past = False
        if self.periods.active:
            at, person_id = day * _DAY + t, person.subject["id"]
            past = self.periods.past(person_id, flow.kind, flow.categories, flow.purpose, at)
            if past and not planted:  # a job honours the period, or (planted) ignores it
                if self.retention_rng.random() >= self.ignore_period:
                    return None
                flow = self._past_period.get(id(flow)) or self._past_period.setdefault(
                    id(flow), replace(flow, note=f"{flow.note}, past its retention period")
                )
            self.periods.record(person_id, flow.categories, at)
        s = self._second_of_day + t
        date = self._dates[day + s // _DAY]
        s %= _DAY
        event: dict[str, Any] = {
            "schema_version": 1,
            "event_id": self._event_id(),
            "kind": flow.kind,
            "occurred_at": f"{date}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z",
            "emitted_by": by or flow.emitted_by,
            "subject": person.subject if flow.subject_type is None else {**person.subject, "type": flow.subject_type},
        }
        if flow is traffic.GPC_OPT_OUT:
            event.update(scope="sale_and_sharing", signal="gpc")
            self.buffer.append((t, SimulatedEvent(event, (), flow.note)))
            return flow
        event.update(data_categories=list(flow.categories), role=flow.role, customer=person.customer)
        if flow.source is not None:
            event["source"] = flow.source
        if flow.purpose is not None:
            event["purpose"] = flow.purpose
        if flow.recipient is not None:
            event["recipient"] = flow.recipient
        rules = flow.rules
        if self._opted_out_before(person, day, t) and traffic.sold_or_shared(flow):
            rules = (*rules, traffic.SALE)
        if past:
            rules = (*rules, RETENTION)
        self.buffer.append((t, SimulatedEvent(event, rules, flow.note)))
        return flow

    def _opted_out_before(self, person: _Person, day: int, t: int) -> bool:
        when = self.opted_out.get(person.subject["id"])
        return when is not None and when < (day, min(t, _LAST_SECOND))

    def _join(self, person: _Person, day: int) -> int:
        """Account creation, profile and billing details; returns the second from which the person is active."""
        t = 8 * 3600 + int(self.rng.random() * 4 * 3600)
        self.emit(day, t, person, person.signup)
        self.emit(day, t + 40, person, traffic.PROFILE_PHOTO if self.rng.random() < 0.4 else traffic.PROFILE)
        self.emit(day, t + 45, person, traffic.WELCOME)
        if person.gpc and self.emit(day, t + 50, person, traffic.GPC_OPT_OUT) is traffic.GPC_OPT_OUT:
            self.opted_out[person.subject["id"]] = (day, t + 50)
        if person.billing is not None:
            self.emit(day, t + 90, person, person.billing)
        return t + 120

    def _session(self, person: _Person, day: int, t: int) -> None:
        rand = self.rng.random
        emit = self.emit
        client = person.client if rand() < 0.8 else traffic.CLIENTS[int(rand() * len(traffic.CLIENTS))]
        if client == "web-app":
            emit(day, t, person, traffic.WEB_LOG)
            emit(day, t + 1, person, traffic.COOKIES)
        else:
            emit(day, t, person, traffic.APP_LOG, client)
            if client != "teams-bot":
                emit(day, t + 1, person, traffic.DEVICE, client)
            if client == "mobile-app" and rand() < 0.2:
                emit(day, t + 2, person, traffic.GPS)
        for _ in range(int(rand() * 4)):
            t += 20 + int(rand() * 300)
            emit(day, t, person, traffic.TICKET, client)
            emit(day, t + 3, person, traffic.ANSWER)
        if rand() < 0.15:
            emit(day, t + 30, person, traffic.COMMENT, client)
        if rand() < 0.1:
            emit(day, t + 60, person, traffic.ESCALATION)
        emit(day, t + 90, person, traffic.SEARCHES if rand() < 0.7 else traffic.VIEWS, client)

    def _nightly(self, person: _Person, day: int) -> None:
        """Batch jobs from 20:00: analytics, marketing, billing and disclosures."""
        rand = self.rng.random
        emit = self.emit

        def at() -> int:
            return 20 * 3600 + int(rand() * (_LAST_SECOND - 20 * 3600))

        emit(day, at(), person, traffic.ANALYTICS)
        if rand() < 0.1:
            emit(day, at(), person, traffic.PERSONALISE)
        if person.marketing_opt_in and rand() < 0.08:
            emit(day, at(), person, traffic.NEWSLETTER)
        if person.billing is not None and (day - person.join_day) % 30 == 0:
            t = at()
            emit(day, t, person, traffic.INVOICE)
            emit(day, t + 60, person, traffic.CHARGE)
        web = person.client == "web-app"
        for flow, chance in (
            (traffic.TO_AFFILIATE, 0.08),
            (traffic.TO_AFFILIATE_SG, 0.03),
            (traffic.TO_PARTNER, 0.03),
            (traffic.AD_COOKIE, 0.1 if web else 0.0),
            (traffic.AD_PERFORMANCE, 0.15 if web else 0.0),
            (traffic.TO_ADVERTISER, 0.02),
            (traffic.TO_INVESTOR, 0.01),
            (traffic.ENRICHMENT, 0.01),
            (traffic.COURT_ORDER, 0.002),
            (traffic.PRODUCTION_ORDER, 0.001),
            (traffic.TRANSFER, 0.002),
        ):
            if rand() < chance:
                t = at()
                if self._opted_out_before(person, day, t) and traffic.sold_or_shared(flow):
                    if self.gpc_rng.random() >= self.ignore_opt_out:
                        continue  # the opt-out is honoured: no sale, no sharing
                    flow = traffic.IGNORED_OPT_OUT[id(flow)]  # planted: the job ignores it (emit marks the rule)
                emit(day, t, person, flow)

    def _person_day(self, person: _Person, day: int, weekend: bool) -> None:
        rand = self.rng.random
        emit = self.emit
        lo = 7 * 3600
        if day == person.join_day:
            lo = self._join(person, day)
        elif rand() > (0.15 if weekend else person.activity):
            return
        for _ in range(1 + (rand() < 0.5) + (rand() < 0.2)):
            self._session(person, day, lo + int(rand() * max(60, 19 * 3600 - lo)))
        t = lo + int(rand() * 3600)
        emit(day, t, person, traffic.GEOIP)
        if rand() < 0.3:
            emit(day, t + 5, person, traffic.SIGNIN_CHECK)
        if rand() < 0.03:
            emit(day, t + 9, person, traffic.FRAUD_CHECK)
            emit(day, t + 10, person, traffic.FRAUD_REPORT)  # screened with the fraud-prevention network
        if rand() < 0.2:
            emit(day, lo + int(rand() * 36000), person, traffic.NOTIFICATION)
        if rand() < 0.02:
            emit(day, lo + int(rand() * 36000), person, traffic.SUPPORT_FORM)
        if rand() < 0.01:
            emit(day, lo + int(rand() * 36000), person, traffic.PROFILE_UPDATE)
        self._nightly(person, day)

    def day(self, day: int) -> list[tuple[int, SimulatedEvent]]:
        weekend = (self.start + timedelta(days=day)).weekday() >= 5
        self.buffer = []
        for person in self.people:
            if day >= person.join_day:
                self._person_day(person, day, weekend)
        self.buffer.sort(key=_second)  # stable: ties keep their (deterministic) order of generation
        return self.buffer


def _second(item: tuple[int, SimulatedEvent]) -> int:
    return item[0]


def simulate(
    people: int,
    days: int,
    seed: int,
    *,
    undeclared_rate: float = 0.02,
    start: datetime | None = None,
    retention: Sequence[RetentionPeriod] = (),
) -> Iterator[SimulatedEvent]:
    """Deterministic for a given (people, days, seed, undeclared_rate, start, retention); events in occurred_at
    order.

    Each person works at a customer organisation, joins during the first week or so, and on active days generates
    S Plus Helpdesk traffic: access logs, cookies and device data, Teams tickets (Customer Data), services
    metadata, security checks, nightly analytics, marketing, billing, and disclosures to affiliates, a business
    partner, advertisers, an investor, a payment processor, a fraud-prevention network and, rarely, an authority or a
    successor. With probability ``undeclared_rate`` each event is replaced by one of the :data:`PLANTED` flows,
    whose ``undeclared`` lists the rule ids it must trigger (judged against the world's recipient registry,
    :func:`registry_yaml`); the first disclosure to a recipient the registry lacks (the data broker) also names
    ``new-recipient``. Events fall in ``[start, start + days)``; ``start``
    defaults to :data:`DEFAULT_START` and is rounded up to a whole second.

    ``retention`` is the policy's retention periods (the S Plus policy declares none: then nothing changes). With
    periods in days, the service stops using or disclosing a person's data past its period (counted from when the
    data of that category was first recorded), except where a job ignores the period, with probability ten times
    ``undeclared_rate``; such a use, and a planted flow that falls past a period, also names
    ``retention-exceeded`` (see :mod:`lineage.sim_retention`).
    """
    if people < 0 or days < 0:
        raise ValueError("people and days must not be negative")
    if not 0.0 <= undeclared_rate <= 1.0:
        raise ValueError("undeclared_rate must be between 0 and 1")
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    world = _World(people, days, seed, undeclared_rate, start, retention)
    registered = {r["id"] for r in traffic.REGISTRY}
    seen: set[str] = set()
    for day in range(days):
        for _, simulated in world.day(day):
            recipient = simulated.event.get("recipient")
            if recipient is not None and recipient["id"] not in registered and recipient["id"] not in seen:
                seen.add(recipient["id"])  # the first disclosure ever to a recipient the registry lacks
                simulated = SimulatedEvent(simulated.event, (*simulated.undeclared, traffic.NEW), simulated.note)
            yield simulated


def simulated_registry() -> RecipientRegistry:
    """The simulated world's recipient registry (:data:`lineage.traffic.REGISTRY`), read as a registry file is."""
    return RecipientRegistry.model_validate({"recipients": list(traffic.REGISTRY)})


def registry_yaml() -> str:
    """The simulated world's recipient registry (:data:`lineage.traffic.REGISTRY`) as a registry file."""
    header = (
        "# The recipient registry of the simulated S Plus Helpdesk world (lineage simulate): who receives data,\n"
        "# where, in what role, and what a transfer outside the EEA rests on. Check it: lineage recipients check\n"
    )
    return header + yaml.safe_dump({"recipients": list(traffic.REGISTRY)}, sort_keys=False, allow_unicode=True)


def write_jsonl(events: Iterable[SimulatedEvent], out: TextIO, truth: TextIO | None) -> SimulationSummary:
    """Write one compact JSON event per line to ``out`` and, for each undeclared event, one line to ``truth``.

    A truth line is ``{"event_id": ..., "expected_rules": [...], "note": ...}``.
    """
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    write = out.write
    kinds: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    count = undeclared = 0
    first_at: str | None = None
    last_at: str | None = None
    for simulated in events:
        event = simulated.event
        write(encode(event) + "\n")
        count += 1
        kinds[event["kind"]] += 1
        last_at = event["occurred_at"]
        if first_at is None:
            first_at = last_at
        if simulated.undeclared:
            undeclared += 1
            rules.update(simulated.undeclared)
            if truth is not None:
                expected = list(simulated.undeclared)
                truth.write(encode({"event_id": event["event_id"], "expected_rules": expected, "note": simulated.note}))
                truth.write("\n")
    return SimulationSummary(count, undeclared, dict(kinds), dict(rules), first_at, last_at)
