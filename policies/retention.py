"""Retention limits (GDPR Art. 5(1)(e)): which declared period applies to a category and purpose, until when data
may be kept, and whether a use, a disclosure or a holding is past it. Pure: when the person's data of a category was
first recorded is the caller's to say (the store's ``who_has``, then the batch's own events)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from policies.findings import Finding
from policies.rules import RETENTION_EXCEEDED
from schemas.answers import WhoHas
from schemas.events import AnyEvent, DataShared, DataUsed
from schemas.policy import Policy, RetentionPeriod
from schemas.taxonomy import covers


@dataclass(frozen=True, slots=True)
class Limit:
    """Until when one category of a person's data may be kept, and on what the date rests."""

    period: RetentionPeriod | None  # None: the policy declares no period for it
    until: datetime | None  # None: no period in days (criteria only, or nothing declared)

    def words(self) -> str:
        if self.period is None:
            return "no retention period declared"
        if self.until is None:
            return f"criteria: {self.period.criteria} ({self.period.id})"
        return f"until {self.until.date().isoformat()} ({self.period.days} days, {self.period.id})"


class RetentionJudge:
    """The policy's retention periods, applied to events and to what a store holds."""

    def __init__(self, policy: Policy) -> None:
        self.periods = tuple(policy.retention.periods)
        self.version = policy.version
        #: whether any period is in days: without one, nothing can be past its period and no store read is needed
        self.active = any(p.days is not None for p in self.periods)
        self._timed: dict[str, bool] = {}

    def timed(self, category: str) -> bool:
        """Whether a period in days covers ``category`` for some purpose: when such data of a person was first
        recorded can decide a later finding."""
        known = self._timed.get(category)
        if known is None:
            known = self._timed[category] = any(
                p.days is not None and any(covers(c, category) for c in p.data_categories) for p in self.periods
            )
        return known

    def period(self, category: str, purpose: str | None) -> RetentionPeriod | None:
        """The first declared period covering this category and purpose (``purpose`` None: the holding, which only
        periods for any purpose cover)."""
        for p in self.periods:
            if not any(covers(c, category) for c in p.data_categories):
                continue
            if p.purposes is None or (purpose is not None and any(covers(k, purpose) for k in p.purposes)):
                return p
        return None

    def limits(self, category: str, purpose: str | None) -> bool:
        """Whether a use or disclosure of ``category`` for ``purpose`` falls under a period in days: only then does
        when the data was first recorded decide a finding (:meth:`judge`)."""
        p = self.period(category, purpose)
        return p is not None and p.days is not None

    def limit(self, category: str, held_since: datetime | None, purpose: str | None = None) -> Limit:
        p = self.period(category, purpose)
        if p is None or p.days is None or held_since is None:
            return Limit(p, None)
        return Limit(p, held_since.astimezone(UTC) + timedelta(days=p.days))

    def judge(self, event: AnyEvent, subject: str, held_since: Mapping[str, datetime]) -> tuple[Finding, ...]:
        """One finding per category a use or disclosure takes past its period (counted from ``held_since``: when the
        person's data of that category was first recorded)."""
        if type(event) is not DataUsed and type(event) is not DataShared:
            return ()
        at = event.occurred_at.astimezone(UTC)
        out = []
        for category in event.data_categories:
            limit = self.limit(category, held_since.get(category), event.purpose)
            if limit.until is None or at <= limit.until or limit.period is None:
                continue
            recipient = event.recipient if type(event) is DataShared else None
            what = f"disclosed to {recipient.id!r}" if recipient is not None else "used"
            out.append(
                Finding(
                    rule=RETENTION_EXCEEDED.id,
                    severity=RETENTION_EXCEEDED.severity.value,
                    event_id=event.event_id,
                    occurred_at=at,
                    subject=subject,
                    category=category,
                    purpose=event.purpose,
                    recipient_id=recipient.id if recipient is not None else "",
                    recipient_type=recipient.type.value if recipient is not None else "",
                    reason=(
                        f"{category!r} {what} for {event.purpose!r} on {at.date().isoformat()}, "
                        f"{(at - limit.until).days} day(s) after its retention period ended: kept "
                        f"{limit.words()}, counted from {held_since[category].date().isoformat()}"
                    ),
                    clause_section=limit.period.clause.section if limit.period.clause else "",
                    clause_text=limit.period.clause.text if limit.period.clause else "",
                    policy_version=self.version,
                )
            )
        return tuple(out)

    def held_past(self, held_since: Mapping[str, datetime], as_of: datetime) -> list[tuple[str, Limit]]:
        """The categories of one person's data held past their period on ``as_of`` (periods for any purpose: a
        holding has none), with their limits, by category."""
        out = []
        for category, since in sorted(held_since.items()):
            limit = self.limit(category, since)
            if limit.until is not None and as_of > limit.until:
                out.append((category, limit))
        return out

    def with_kept_until(self, answer: WhoHas) -> WhoHas:
        """A who-has answer with, per category, until when it may be kept (``kept_until``)."""
        categories = [
            c.model_copy(update={"kept_until": self.limit(c.category, c.first_seen).words()}) for c in answer.categories
        ]
        return answer.model_copy(update={"categories": categories})
