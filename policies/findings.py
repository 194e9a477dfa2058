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

    @property
    def dedupe_key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.recipient_id, self.category, self.purpose)
