"""Report models of the reports about the whole processing: the stable JSON shapes of the RoPA (Art. 30), the CCPA
disclosure report and the declared-vs-observed (gaps) report; the shared pieces are in schemas/reports.py."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from schemas.base import Frozen
from schemas.reports import Labelled, RecipientRefItem, Report, ReportHeader, RetentionInfo, TransferItem


# -- declared vs observed ---------------------------------------------------------------------------
class DeclarationRef(Frozen):
    """A declaration of the policy, with the clause it quotes."""

    id: str = Field(description="Declaration id in the policy file.")
    kind: Literal["collection", "use", "disclosure"] = Field(description="What it declares.")
    clause_section: str = Field(description="Section of the published policy.")
    clause_text: str = Field(description="The sentence(s) quoted.")


class UnexercisedDeclaration(Frozen):
    """A declaration no observed flow in the period exercises."""

    declaration: DeclarationRef = Field(description="The declaration.")
    summary: str = Field(description="What it declares, in words.")
    status: Literal["never-exercised", "not-observable"] = Field(
        description="'never-exercised': no event matches it; 'not-observable': events cannot show whether it was (an "
        "aggregated-only declaration whose flows are all also allowed for identified data, or alerted)."
    )
    why: str = Field(description="Why it is listed.")


class UndeclaredFlow(Frozen):
    """An observed flow the policy does not declare (an alert): its counts in the period and its reference."""

    alert_id: str = Field(description="Stable alert id.")
    rule: str = Field(description="Stable id of the rule broken (see policies/compliance.py).")
    rule_title: str = Field(description="The rule in words.")
    severity: str = Field(description="low, medium, high or critical.")
    status: str = Field(description="open or acknowledged.")
    category: Labelled = Field(description="Data category.")
    purpose: Labelled | None = Field(description="Purpose, when the flow has one.")
    recipient: RecipientRefItem | None = Field(description="Recipient, for disclosures.")
    reason: str = Field(description="Why the flow is undeclared.")
    clause_section: str = Field(description="Section of the policy concerned ('' when the policy says nothing).")
    clause_text: str = Field(description="The clause the flow lacks or breaks ('' when none).")
    policy_version: str = Field(description="Policy version the events were judged against.")
    events: int = Field(description="Triggering events in the period.")
    people: int = Field(description="Distinct people concerned in the period.")
    first_seen: date = Field(description="UTC day of the earliest triggering event in the period.")
    last_seen: date = Field(description="UTC day of the latest triggering event in the period.")
    evidence: str = Field(
        description="How to list the events behind it: the alert id is its evidence reference (`lineage evidence`)."
    )


class GapsReport(Report):
    """Declared vs observed: declarations never exercised, and observed flows never declared."""

    kind: Literal["gaps"] = Field(default="gaps", description="'gaps'.")
    header: ReportHeader = Field(description="What, when, which policy and period.")
    declarations: int = Field(description="Number of collection, use and disclosure declarations in the policy.")
    exercised: int = Field(description="How many of them some observed flow in the period exercises.")
    unexercised: list[UnexercisedDeclaration] = Field(description="Declarations not exercised, in policy order.")
    unexercised_statement: str = Field(description="Summary, or the statement that every declaration was exercised.")
    undeclared: list[UndeclaredFlow] = Field(
        description="Undeclared flows, by severity then rule, category, recipient."
    )
    undeclared_statement: str = Field(description="Summary, or the statement that no undeclared flow was observed.")
    policy_gaps: list[str] = Field(
        default_factory=list,
        description="What the policy itself lacks that the law asks it to state (retention periods), in words.",
    )


# -- GDPR Art. 30 -----------------------------------------------------------------------------------
class CountryItem(Frozen):
    """A recipient country."""

    country: str = Field(description="ISO 3166-1 alpha-2 code.")
    in_eea: bool = Field(description="Whether it is in the EEA (outside it is a GDPR third country).")
    adequacy: str | None = Field(
        default=None,
        description="The adequacy decision covering it (act and date; partial ones say whom they cover), if any.",
    )


class ObservedFlow(Frozen):
    """One observed flow of a processing activity: a use of a category, or its disclosure to a recipient, over
    people, with its reference (the key to its evidence)."""

    ref: str = Field(description="The flow's reference: `lineage evidence REF` lists the events behind it.")
    kind: Literal["use", "disclosure"] = Field(description="A use of the data, or a disclosure to a recipient.")
    category: Labelled = Field(description="Data category.")
    purpose: Labelled = Field(description="Purpose observed (the activity's or a narrower one).")
    recipient: RecipientRefItem | None = Field(description="The recipient, for a disclosure.")
    subject_type: Labelled = Field(description="Data-subject type the events gave the people.")
    people: int = Field(description="Distinct people in the period.")
    events: int = Field(description="Events in the period.")
    first_seen: date = Field(description="UTC day of the earliest event in the period.")
    last_seen: date = Field(description="UTC day of the latest event in the period.")


class ObservedActivity(Frozen):
    """What the events in the period show of one processing activity: counts, not event ids (the evidence of each
    flow is listed by its reference)."""

    events: int = Field(description="Distinct events with a purpose the activity covers.")
    categories: list[Labelled] = Field(description="Categories observed.")
    purposes: list[Labelled] = Field(description="Observed purposes the activity covers (itself or narrower).")
    recipients: list[RecipientRefItem] = Field(description="Recipients observed, by id.")
    recipient_countries: list[CountryItem] = Field(description="Countries of those recipients, where known.")
    undeclared_recipient_types: list[Labelled] = Field(
        description="Observed recipient types the policy does not declare for this purpose (see the gaps for why)."
    )
    first_seen: date = Field(description="UTC day of the earliest event.")
    last_seen: date = Field(description="UTC day of the latest event.")
    flows: list[ObservedFlow] = Field(
        description="The uses and disclosures observed, by kind, category, purpose, recipient and subject type."
    )


class ProcessingActivity(Frozen):
    """One purpose of processing in one role: the Art. 30(1)(b)-(f) lines for it, declared and observed."""

    purpose: Labelled = Field(description="The purpose (Art. 30(1)(b)).")
    role: Literal["controller", "processor"] = Field(description="SOS's role for this processing.")
    declared_in: list[DeclarationRef] = Field(description="Declarations (and clauses) this activity rests on.")
    data_subjects: list[Labelled] = Field(description="Categories of data subjects (Art. 30(1)(c)).")
    data_categories: list[Labelled] = Field(description="Categories of personal data (Art. 30(1)(c)).")
    recipient_categories: list[Labelled] = Field(description="Categories of recipients declared (Art. 30(1)(d)).")
    third_countries_statement: str = Field(
        description="Declared and observed recipient countries (Art. 30(1)(d), (e))."
    )
    retention: str = Field(description="Erasure time limits (Art. 30(1)(f)).")
    observed: ObservedActivity | None = Field(description="What the events show; null when no event in the period.")


class ProcessorRecord(Frozen):
    """The Art. 30(2) record for what SOS processes as a processor (Customer Data)."""

    controllers_statement: str = Field(description="The controllers on whose behalf SOS acts (Art. 30(2)(a)).")
    activities: list[ProcessingActivity] = Field(description="Categories of processing (Art. 30(2)(b)), by purpose.")
    transfers_statement: str = Field(description="Transfers to third countries (Art. 30(2)(c)).")
    security_statement: str = Field(description="Security measures (Art. 30(2)(d)).")


class RopaReport(Report):
    """GDPR Art. 30(1) record of processing activities, with the Art. 30(2) processor record and the gaps."""

    kind: Literal["ropa"] = Field(default="ropa", description="'ropa'.")
    header: ReportHeader = Field(description="What, when, which policy and period; the controller (Art. 30(1)(a)).")
    representative_statement: str = Field(description="Joint controller or EU representative (Art. 30(1)(a)).")
    activities: list[ProcessingActivity] = Field(description="Processing as controller, by purpose key.")
    aggregated_statement: str = Field(description="What the policy allows for aggregated or de-identified data.")
    retention: RetentionInfo = Field(description="What the policy says about retention.")
    transfers: list[TransferItem] = Field(
        description="Transfers observed in the period (Art. 30(1)(e)): each recipient outside the EEA with its "
        "safeguard, by recipient id."
    )
    transfers_statement: str = Field(
        description="Summary of the transfers and their safeguards, or the statement that there are none."
    )
    security_statement: str = Field(description="Security measures (Art. 30(1)(g)).")
    processor: ProcessorRecord = Field(description="Processing of Customer Data as a processor (Art. 30(2)).")
    gaps: GapsReport = Field(description="Declared vs observed for the same period.")


# -- CCPA -------------------------------------------------------------------------------------------
class CcpaCollected(Frozen):
    """One category of personal information collected in the period."""

    category: Labelled = Field(description="fideslang category.")
    ccpa_category: str = Field(description="The CCPA §1798.140(v) category it falls in.")
    sources: list[Labelled] = Field(description="Categories of sources it came from.")
    purposes: list[Labelled] = Field(description="Business or commercial purposes it was used or disclosed for.")
    people: int = Field(description="Distinct people it was collected about.")
    events: int = Field(description="Distinct events.")
    ref: str = Field(description="Its reference: `lineage evidence REF` lists the events behind it.")


class CcpaDisclosed(Frozen):
    """One category of personal information disclosed in the period, with whom and why."""

    category: Labelled = Field(description="fideslang category.")
    ccpa_category: str = Field(description="The CCPA §1798.140(v) category it falls in.")
    third_party_categories: list[Labelled] = Field(description="Categories (types) of third parties it went to.")
    recipients: list[RecipientRefItem] = Field(description="The recipients themselves, by id.")
    purposes: list[Labelled] = Field(description="Purposes of the disclosures.")
    events: int = Field(description="Distinct events.")
    flows: list[str] = Field(description="References of the flows (one per recipient and purpose) behind it.")


class CcpaReport(Report):
    """The CCPA §1798.130(a)(5) / §1798.115 disclosures for a period (default: the preceding 12 months)."""

    kind: Literal["ccpa"] = Field(default="ccpa", description="'ccpa'.")
    header: ReportHeader = Field(description="What, when, which policy and period.")
    classification_rule: str = Field(
        description="Which disclosures count as sold, as shared, and as for a business purpose, and which "
        "declarations the policy marks as a sale or sharing."
    )
    collected: list[CcpaCollected] = Field(description="Categories collected, sorted by key.")
    collected_statement: str = Field(description="Summary, or the statement that none were collected.")
    sold: list[CcpaDisclosed] = Field(
        description="Categories sold (§1798.140(ad)), sorted by key; a disclosure both sold and shared is in both."
    )
    sold_statement: str = Field(description="Summary by category of third party, or the statement that none were sold.")
    shared: list[CcpaDisclosed] = Field(
        description="Categories shared for cross-context behavioural advertising (§1798.140(ah)), sorted by key."
    )
    shared_statement: str = Field(
        description="Summary by category of third party, or the statement that none were shared."
    )
    business_purpose: list[CcpaDisclosed] = Field(description="Categories disclosed for a business purpose, by key.")
    business_purpose_statement: str = Field(description="Summary, or the statement that none were so disclosed.")
    service_provider_statement: str = Field(
        description="Customer Data processed as a service provider is not the business's own: what was left out."
    )

