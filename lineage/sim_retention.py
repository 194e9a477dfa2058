"""Retention in the simulated world: when the policy declares periods, the service stops using data past its period,
except where a job ignores it, which the simulator plants; and what is held past a period on a given day.

The simulator's own reading of the periods (GDPR Art. 5(1)(e)), written apart from the core it checks
(policies/retention.py): a period counts from when the person's data of the category was first recorded, by any
event; a use or disclosure is judged by the first period, in the policy's order, covering its category and purpose
(a period for no purposes covers every purpose and the holding); a period of criteria only limits nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.policy import RetentionPeriod

RETENTION = "retention-exceeded"  # the rule id, as a plain string (see lineage/traffic.py)
DAY = 86_400


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


@dataclass(frozen=True, slots=True)
class Period:
    """One declared period: its id, what it covers, and its length in seconds (None: criteria only)."""

    id: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...] | None
    seconds: int | None

    def covers(self, category: str, purpose: str | None) -> bool:
        if not any(_under(category, c) for c in self.categories):
            return False
        return self.purposes is None or (purpose is not None and any(_under(purpose, p) for p in self.purposes))


class Periods:
    """The policy's periods and, per person, when each category of their data was first recorded (in seconds from
    the world's start)."""

    def __init__(self, periods: Sequence[RetentionPeriod]) -> None:
        self.periods = tuple(
            Period(
                p.id,
                tuple(p.data_categories),
                tuple(p.purposes) if p.purposes is not None else None,
                p.days * DAY if p.days is not None else None,
            )
            for p in periods
        )
        #: whether any period is in days: without one nothing is past a period and the world is as it was
        self.active = any(p.seconds is not None for p in self.periods)
        self.first: dict[str, dict[str, int]] = {}

    def period(self, category: str, purpose: str | None) -> Period | None:
        return next((p for p in self.periods if p.covers(category, purpose)), None)

    def past(self, person: str, kind: str, categories: Iterable[str], purpose: str | None, at: int) -> bool:
        """Whether a use or disclosure at second ``at`` takes any of its categories past its period."""
        if kind not in ("used", "shared"):
            return False
        first = self.first.get(person, {})
        for category in categories:
            p = self.period(category, purpose)
            if p is not None and p.seconds is not None and at > first.get(category, at) + p.seconds:
                return True
        return False

    def record(self, person: str, categories: Iterable[str], at: int) -> None:
        """The person's data of these categories is recorded at second ``at`` (the first time counts)."""
        first = self.first.setdefault(person, {})
        for category in categories:
            if category not in first or at < first[category]:
                first[category] = at


def held_past(
    events: Iterable[dict[str, object]], periods: Sequence[RetentionPeriod], as_of: datetime
) -> set[tuple[str, str, str]]:
    """The (person, category, period id) of data held past its period on ``as_of``, from a simulated stream's wire
    events: each person's first event with the category, against the periods for every purpose."""
    reading = Periods(periods)
    first: dict[tuple[str, str], datetime] = {}
    for event in events:
        categories = event.get("data_categories")
        if not isinstance(categories, list):
            continue
        subject = event["subject"]
        assert isinstance(subject, dict)
        at = datetime.fromisoformat(str(event["occurred_at"]))
        for category in categories:
            key = (str(subject["id"]), str(category))
            if key not in first or at < first[key]:
                first[key] = at
    out = set()
    for (person, category), since in first.items():
        p = reading.period(category, None)
        if p is not None and p.seconds is not None and (as_of - since).total_seconds() > p.seconds:
            out.add((person, category, p.id))
    return out
