"""What judging an event against a policy yields: a finding, a flow the policy does not declare (or breaks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Finding:
    """A flow the policy does not declare (or breaks), with the evidence and the clause concerned."""

    rule: str
    severity: str
    event_id: str
    occurred_at: datetime
    subject: str  # pseudonym
    category: str
    purpose: str
    recipient_id: str
    recipient_type: str
    reason: str
    clause_section: str
    clause_text: str
    policy_version: str

    def for_event(self, event_id: str, occurred_at: datetime, subject: str) -> Finding:
        """The same finding raised by another event, at its time and about its person (``dataclasses.replace``
        costs twice this, and a judge calls it per event of a shape it has judged before)."""
        return Finding(
            rule=self.rule,
            severity=self.severity,
            event_id=event_id,
            occurred_at=occurred_at,
            subject=subject,
            category=self.category,
            purpose=self.purpose,
            recipient_id=self.recipient_id,
            recipient_type=self.recipient_type,
            reason=self.reason,
            clause_section=self.clause_section,
            clause_text=self.clause_text,
            policy_version=self.policy_version,
        )

    @property
    def dedupe_key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.recipient_id, self.category, self.purpose)
