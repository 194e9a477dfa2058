"""Response models of the HTTP API that are not already answers of the GraphStore (those live in schemas/)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from schemas.answers import RecipientRef
from schemas.base import Frozen


class Problem(Frozen):
    """An error answer: what went wrong, never data."""

    detail: str = Field(description="What went wrong.")


class ValidationItem(Frozen):
    """One invalid or unknown parameter."""

    # FastAPI's validation errors may carry more keys (input, ctx, url)
    model_config = ConfigDict(frozen=True, extra="ignore")
    loc: list[str | int] = Field(description="Where: ('query', name), ('path', name), ('body', ...).")
    msg: str = Field(description="What is wrong.")
    type: str = Field(description="Kind of error.")


class ValidationProblem(Frozen):
    """A request refused because a parameter or the body is invalid (422)."""

    detail: list[ValidationItem] = Field(description="Each problem.")


class Health(Frozen):
    """The server is up."""

    status: str = Field(description="'ok'.")
    version: str = Field(description="privacy-lineage version.")


class Me(Frozen):
    """Who the presented token stands for."""

    name: str = Field(description="Token name.")
    role: str = Field(description="dpo, auditor or service.")


class RecipientFlow(Frozen):
    """One flow of data to a recipient, over people: a (category, purpose, role, subject type), with its reference."""

    ref: str = Field(description="The flow's reference: /api/evidence/{ref} lists the events behind it.")
    category: str = Field(description="Data category received.")
    purpose: str = Field(description="Purpose it was disclosed for.")
    role: str = Field(description="SOS's role in those events (controller or processor).")
    subject_type: str = Field(description="Whose data: the data-subject type.")
    subjects: int = Field(description="Distinct people in this flow.")
    events: int = Field(description="Distinct share events in this flow.")
    first_seen: date = Field(description="UTC day of the earliest of those events.")
    last_seen: date = Field(description="UTC day of the latest of those events.")


class RecipientSummary(Frozen):
    """A recipient and what it received in total (for the list of recipients)."""

    recipient: RecipientRef = Field(description="The recipient.")
    ref: str = Field(description="Reference of all disclosures to it: /api/evidence/{ref} lists them.")
    categories: list[str] = Field(description="Categories it received.")
    purposes: list[str] = Field(description="Purposes it received them for.")
    events: int = Field(description="Distinct share events.")
    people: int = Field(description="Distinct people whose data it received.")
    first_seen: date = Field(description="UTC day of the first disclosure to it.")
    last_seen: date = Field(description="UTC day of the latest disclosure to it.")
    declared: Literal["identified", "aggregated-only", "no"] = Field(
        description="What the policy declares of disclosures to its type: of identified data, of aggregated or "
        "de-identified data only, or none."
    )
    open_alerts: int = Field(description="Open alerts about disclosures to it (flows a rule flags, not yet reviewed).")
    open_by_rule: dict[str, int] = Field(
        description="The same by rule id (GET /api/vocabulary gives each rule's title and severity): an undeclared "
        "flow, a sale after an opt-out, a transfer without safeguard, a use past its retention period, a new "
        "recipient, ..."
    )
    undeclared: bool = Field(description="Whether any open alert is about a disclosure to it (open_alerts > 0).")
    transfer: Literal["home", "adequacy", "safeguard", "none", "unknown"] = Field(
        description="What a disclosure to it rests on (GDPR Chapter V): home (in the home area, no transfer), "
        "adequacy (a decision covers it), safeguard (the recipient registry names one), none, or unknown (no country)."
    )
    transfer_statement: str = Field(description="The same in words, naming the decision or the safeguard.")


class RecipientView(Frozen):
    """Everything a recipient received: from whom (subject types, counts), what (categories), for what (purposes)."""

    recipient: RecipientRef = Field(description="The recipient.")
    ref: str = Field(description="Reference of all disclosures to it: /api/evidence/{ref} lists them.")
    categories: list[str] = Field(description="Categories it received, sorted.")
    purposes: list[str] = Field(description="Purposes it received them for, sorted.")
    subject_types: list[str] = Field(description="Types of people whose data it received.")
    people: int = Field(description="Distinct people whose data it received.")
    events: int = Field(description="Distinct share events.")
    first_seen: date = Field(description="UTC day of the first disclosure to it.")
    last_seen: date = Field(description="UTC day of the latest disclosure to it.")
    flows: list[RecipientFlow] = Field(description="Each (category, purpose, role, subject type) it received.")


class EvidenceItem(Frozen):
    """One event an aggregate (a flow, a recipient, an alert, ...) rests on."""

    event_id: str = Field(description="The event's id.")
    occurred_at: datetime = Field(description="When it occurred (UTC).")


class EvidencePage(Frozen):
    """The events behind one reference, in the period asked for, a page at a time."""

    ref: str = Field(description="The reference asked for.")
    events: list[EvidenceItem] = Field(description="Events, person by person (each one's oldest first).")
    complete: bool = Field(description="False when there are more than the limit asked for.")


class EventProblem(Frozen):
    """A field of a rejected event and what is wrong with it."""

    field: str = Field(description="Dotted path of the field ('' for the whole event).")
    message: str = Field(description="What is wrong.")


class RejectedEvent(Frozen):
    """An event of an ingest request that does not meet the contract (it was not applied)."""

    index: int = Field(description="Position in the request body, from 0.")
    event_id: str | None = Field(default=None, description="Its event_id, when readable.")
    problems: list[EventProblem] = Field(description="What is wrong with it.")


class IngestResult(Frozen):
    """What an ingest request did."""

    applied: int = Field(description="Events newly applied.")
    duplicates: int = Field(description="Events already present (a replay changes nothing).")
    rejected: list[RejectedEvent] = Field(description="Events refused, with the reasons.")
    findings: int = Field(description="Undeclared-flow findings among the applied events.")
    erasures_pending: list[str] = Field(
        default_factory=list,
        description="Erasure events applied to the graph whose deleted data may still be in the store's files (a "
        "reader held them, or the store keeps them until its operator removes them: docs/privacy.md); "
        "`lineage purge` completes them. Empty when every erasure is physical.",
    )
    notices_sent: int = Field(
        default=0,
        description="Art. 19 notices sent for the erasures applied, when LINEAGE_NOTIFY_ERASURES is on (else 0).",
    )
    notices_unsent: int = Field(
        default=0,
        description="Art. 19 notices of the erasures applied that could not be sent: `lineage notify art19` or the "
        "person page's button sends them.",
    )


class Acknowledged(Frozen):
    """An alert acknowledged."""

    alert_id: str = Field(description="The alert.")
    status: str = Field(description="'acknowledged'.")


class RuleInfo(Frozen):
    """A compliance rule an alert can carry."""

    id: str = Field(description="Stable rule id (the alerts' `rule`).")
    title: str = Field(description="What the rule finds, in words.")
    severity: str = Field(description="Its default severity: low, medium, high or critical.")


class RecipientTypeInfo(Frozen):
    """A recipient type in words, and what the policy declares of it."""

    label: str = Field(description="The type in words.")
    declared: Literal["identified", "aggregated-only", "no"] = Field(
        description="Whether the policy declares disclosures to this type: of identified data, of aggregated or "
        "de-identified data only, or not at all."
    )
    declared_purposes: list[str] | None = Field(
        description="The purposes the policy declares disclosures of identified data to this type for; null for any "
        "purpose, empty when it declares none."
    )


class Vocabulary(Frozen):
    """Human names for the keys the other answers carry, for the page."""

    categories: dict[str, str] = Field(description="Data-category key -> name (the policy's taxonomy).")
    purposes: dict[str, str] = Field(description="Data-use key -> name.")
    subjects: dict[str, str] = Field(description="Data-subject key -> name.")
    recipient_types: dict[str, RecipientTypeInfo] = Field(description="Recipient type -> name and declared status.")
    source_types: dict[str, str] = Field(description="Source type -> name.")
    systems: dict[str, str] = Field(description="System or party named as a source -> what it is (policy, names file).")
    rules: list[RuleInfo] = Field(description="Every compliance rule, in the order the policy judgement applies them.")
    audit_actions: dict[str, str] = Field(
        description="Every action the audit trail can hold -> what it records (the audit view's filter offers them)."
    )
