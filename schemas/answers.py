"""Read models the GraphStore answers with: the stable JSON shapes of who-has and alerts."""

from __future__ import annotations

from datetime import datetime

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
    subjects: list[str] = Field(description="Pseudonyms of the people concerned (never raw ids).")
    event_ids: list[str] = Field(description="Ids of every event that triggered it.")
    count: int = Field(description="Number of triggering events.")
    first_seen: datetime = Field(description="Earliest triggering event.")
    last_seen: datetime = Field(description="Latest triggering event.")
    policy_version: str = Field(description="Version of the policy the events were judged against.")
    reason: str = Field(description="Why the flow is flagged.")
    clause_section: str = Field(description="Section of the policy concerned ('' when the policy says nothing).")
    clause_text: str = Field(description="The policy clause quoted that the flow lacks or breaks.")

    @computed_field(  # type: ignore[prop-decorator]
        description="The person concerned (pseudonym) when the alert concerns exactly one; "
        "null when it concerns several, all listed in `subjects`."
    )
    @property
    def subject(self) -> str | None:
        return self.subjects[0] if len(self.subjects) == 1 else None


class PersonAlert(Alert):
    """An alert as it concerns one person: the alert (counts over everyone) and that person's part of it."""

    person_events: int = Field(description="How many of the alert's events are about this person.")
    person_event_ids: list[str] = Field(description="Ids of those events, oldest first.")


class Flow(Frozen):
    """One observed flow, aggregated over people: (relationship, category, target, purpose, role, subject type)."""

    rel: str = Field(description="HOLDS, COLLECTED_FROM, USED_FOR or SHARED_WITH.")
    category: str = Field(description="Data category.")
    role: str = Field(description="SOS's role in the events behind this flow (controller or processor).")
    subject_type: str = Field(description="Data-subject type of the people concerned.")
    purpose: str = Field(description="Purpose (USED_FOR, SHARED_WITH; '' otherwise).")
    source: SourceRef | None = Field(default=None, description="The source (COLLECTED_FROM only).")
    recipient: RecipientRef | None = Field(default=None, description="The recipient (SHARED_WITH only).")
    subjects: int = Field(description="Number of distinct people.")
    events: int = Field(description="Number of distinct events.")
    first_seen: datetime = Field(description="Earliest event in the period.")
    last_seen: datetime = Field(description="Latest event in the period.")
    event_ids: list[str] = Field(
        description="Ids of the events this flow rests on, sorted (capped by the query's limit)."
    )


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
