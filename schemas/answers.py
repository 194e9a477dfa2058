"""Read models the GraphStore answers with: the stable JSON shapes of who-has and alerts."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, computed_field

from schemas.base import Frozen


class SourceRef(Frozen):
    """A source the data came from."""

    type: str = Field(description="data_subject, customer, third_party or automatic.")
    name: str | None = Field(default=None, description="The source system or party, when named.")


class CategoryLineage(Frozen):
    """One category of a person's data and where it came from and went."""

    category: str = Field(description="fideslang data-category key.")
    roles: list[str] = Field(description="SOS's roles for this data (controller, processor).")
    sources: list[SourceRef] = Field(description="Where this data came from.")
    purposes: list[str] = Field(description="Purposes it was used or disclosed for (fideslang data-use keys).")
    first_seen: datetime = Field(description="Earliest event about this category of this person.")
    last_seen: datetime = Field(description="Latest event about this category of this person.")
    event_count: int = Field(description="Number of distinct events about this category of this person.")
    kept_until: str | None = Field(
        default=None,
        description="Until when it may be kept under the policy's retention periods (counted from first_seen), or "
        "that the policy declares none; set by who-has, not by the stores.",
    )


class RecipientLineage(Frozen):
    """A third party that received some of the person's data."""

    id: str = Field(description="Recipient id.")
    name: str = Field(description="Recipient's name (the actual identity, per CJEU C-154/21).")
    type: str = Field(description="Recipient type.")
    country: str | None = Field(default=None, description="Country of the recipient, if known.")
    contact: str | None = Field(default=None, description="Contact details of the recipient, if known.")
    categories: list[str] = Field(description="Categories of the person's data it received.")
    purposes: list[str] = Field(description="Purposes it received them for.")
    first_shared_at: datetime = Field(description="First disclosure to this recipient.")
    last_shared_at: datetime = Field(description="Latest disclosure to this recipient.")
    event_ids: list[str] = Field(description="Ids of the share events this rests on.")


class PersonFlow(Frozen):
    """One flow of a person's data with its own span: a use (category -> purpose) or a disclosure (category ->
    purpose -> recipient)."""

    category: str = Field(description="Data category (fideslang key).")
    purpose: str = Field(description="Purpose it was used or disclosed for (fideslang data-use key).")
    recipient: str | None = Field(
        default=None,
        description="Recipient id for a disclosure; null for a use (a use counts every event that used the data for "
        "the purpose, its disclosures included).",
    )
    first_seen: datetime = Field(description="Earliest event of this flow of this person.")
    last_seen: datetime = Field(description="Latest event of this flow of this person.")
    events: int = Field(description="Number of distinct events of this flow of this person.")


class WhoHas(Frozen):
    """What is known of one person's data: categories held, and who received what."""

    subject: str = Field(description="The subject id asked about.")
    subject_type: str | None = Field(default=None, description="fideslang data-subject key, when known.")
    categories: list[CategoryLineage] = Field(description="Categories of the person's data, sorted by key.")
    recipients: list[RecipientLineage] = Field(description="Recipients of the person's data, sorted by id.")
    flows: list[PersonFlow] = Field(
        default_factory=list,
        description="Each use and disclosure of the person's data with its own span and count, sorted by (category, "
        "purpose, recipient; uses first).",
    )


class OptOutItem(Frozen):
    """One opt-out the person made, as recorded: of what, how it was received and when."""

    scope: str = Field(
        description="What they opted out of: 'marketing', a narrower marketing key, or 'sale_and_sharing' (the sale "
        "of their personal information and its sharing for cross-context behavioural advertising, CCPA §1798.120)."
    )
    signal: str = Field(
        description="How it was received: 'user_request' (the person asked) or 'gpc' (a Global Privacy Control "
        "signal from their browser)."
    )
    occurred_at: datetime = Field(description="When they opted out (UTC).")
    event_id: str = Field(description="The opt-out event's id.")
    statement: str = Field(
        description="The opt-out in words, e.g. 'Opted out of sale and sharing (Global Privacy Control), 2026-05-01 "
        "10:00 UTC'."
    )


class PersonLookup(WhoHas):
    """The console's answer for one person: what who-has answers, and the opt-outs the person made."""

    opt_outs: list[OptOutItem] = Field(
        default_factory=list,
        description="The person's opt-outs of marketing and of sale and sharing, oldest first (an erasure deletes "
        "those made before it). A disclosure that is a sale or sharing after an opt-out of it raises a "
        "sale-after-opt-out alert (GET /api/subjects/{id}/alerts).",
    )


class Alert(Frozen):
    """One deduplicated alert: a rule broken for a (recipient, category, purpose), with all its evidence."""

    alert_id: str = Field(description="Stable id of the alert (derived from rule, recipient, category, purpose).")
    rule: str = Field(description="Stable id of the rule broken.")
    severity: str = Field(description="low, medium, high or critical.")
    status: str = Field(description="open or acknowledged.")
    category: str = Field(description="Data category concerned.")
    purpose: str = Field(description="Purpose concerned ('' when not applicable).")
    recipient: str = Field(description="Recipient id ('' when no disclosure is involved).")
    recipient_type: str = Field(description="Recipient type ('' when no disclosure is involved).")
    subjects: list[str] = Field(
        description="Pseudonyms of the people of the events in `event_ids` (never raw ids); `people` counts them all."
    )
    event_ids: list[str] = Field(
        description="Ids of its latest triggering events, newest first (at most ten): `lineage evidence ALERT_ID` "
        "lists every one."
    )
    people: int = Field(description="Distinct people of its triggering events still recorded (erased people go).")
    count: int = Field(description="Number of triggering events.")
    first_seen: datetime = Field(description="Earliest triggering event.")
    last_seen: datetime = Field(description="Latest triggering event.")
    policy_version: str = Field(description="Version of the policy the events were judged against.")
    reason: str = Field(description="Why the flow is flagged.")
    clause_section: str = Field(description="Section of the policy concerned ('' when the policy says nothing).")
    clause_text: str = Field(description="The policy clause quoted that the flow lacks or breaks.")

    @computed_field(  # type: ignore[prop-decorator]
        description="The person concerned (pseudonym) when the alert concerns exactly one; null when it concerns "
        "several (`people`)."
    )
    @property
    def subject(self) -> str | None:
        return self.subjects[0] if self.people == 1 and self.subjects else None


class PersonAlert(Alert):
    """An alert as it concerns one person: the alert (counts over everyone) and that person's part of it."""

    person_events: int = Field(description="How many of the alert's events are about this person.")
    person_event_ids: list[str] = Field(description="Ids of those events, oldest first.")


class Flow(Frozen):
    """One observed flow over people: (relationship, category, target, purpose, role, subject type, via), with its
    counts in a period, kept at write time (docs/reports.md)."""

    ref: str = Field(description="Stable reference of the flow (a hash of its key): quoted by reports and evidence.")
    rel: str = Field(description="HOLDS, COLLECTED_FROM, USED_FOR or SHARED_WITH.")
    category: str = Field(description="Data category.")
    role: str = Field(description="SOS's role in the events behind this flow (controller or processor).")
    subject_type: str = Field(description="Data-subject type the events gave the people concerned.")
    purpose: str = Field(description="Purpose (USED_FOR, SHARED_WITH; '' otherwise).")
    via: str = Field(
        default="",
        description="For USED_FOR: the kind of event that recorded the use ('used', 'collected' with a purpose, or "
        "'shared': the use a disclosure implies); '' otherwise.",
    )
    source: SourceRef | None = Field(default=None, description="The source (COLLECTED_FROM only).")
    recipient: RecipientRef | None = Field(default=None, description="The recipient (SHARED_WITH only).")
    subjects: int = Field(description="Number of distinct people with an event of this flow in the period.")
    events: int = Field(description="Number of distinct events in the period.")
    first_seen: date = Field(description="UTC day of the earliest event in the period.")
    last_seen: date = Field(description="UTC day of the latest event in the period.")


class RollupCount(Frozen):
    """The counts of one aggregate other than a flow in a period: per purpose (activity), per category, per
    recipient or per alert."""

    ref: str = Field(description="Stable reference (for an alert, its alert id).")
    rollup: str = Field(
        description="activity (role, purpose), category (role, category), recipient (id) or alert (id)."
    )
    key: list[str] = Field(description="The key's fields, in the order the rollup names them.")
    events: int = Field(description="Distinct events in the period.")
    people: int = Field(description="Distinct people in the period.")
    first_seen: date = Field(description="UTC day of the earliest event in the period.")
    last_seen: date = Field(description="UTC day of the latest event in the period.")


class FlowSummary(Frozen):
    """Everything observed in a period, over people: the flows and the other rollups' counts."""

    flows: list[Flow] = Field(
        description="The flows, sorted by (rel, category, purpose, target, role, subject type, via)."
    )
    rollups: list[RollupCount] = Field(
        description="Counts per purpose, category, recipient and alert, sorted by (rollup, key)."
    )

    def counts(self, rollup: str) -> dict[tuple[str, ...], RollupCount]:
        """The counts of one rollup by key."""
        return {tuple(r.key): r for r in self.rollups if r.rollup == rollup}


class RecipientRef(Frozen):
    """A recipient as the store knows it now."""

    id: str = Field(description="Recipient id.")
    name: str = Field(description="Recipient name.")
    type: str = Field(description="Recipient type.")
    country: str | None = Field(default=None, description="Country, if known.")
    contact: str | None = Field(default=None, description="Contact details, if known.")


class StoreStats(Frozen):
    """Counts of what a store holds, for reconciliation and replay checks."""

    events: int = Field(description="Processed events.")
    subjects: int = Field(description="People.")
    recipients: int = Field(description="Recipients.")
    sources: int = Field(description="Sources.")
    edges: int = Field(description="Lineage edges.")
    evidence: int = Field(description="Edge-to-event evidence links.")
    alerts: int = Field(description="Deduplicated alerts.")


Flow.model_rebuild()
FlowSummary.model_rebuild()
