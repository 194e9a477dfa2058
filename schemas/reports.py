"""Report models: the stable JSON shapes every report shares, and those of the reports about one person (access,
Art. 19); the RoPA, CCPA and declared-vs-observed reports are in schemas/regulator_reports.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from schemas.base import Frozen
from schemas.notices import NoticeStatus

DisclosureKind = Literal["sold", "shared", "business_purpose"]


# -- shared pieces ----------------------------------------------------------------------------------
class Labelled(Frozen):
    """A key (fideslang or our own) with the human name a reader sees."""

    key: str = Field(description="The machine key, e.g. 'user.contact.email' or 'advertiser'.")
    label: str = Field(description="Its human name, e.g. 'User Contact Email' or 'Advertisers'.")


class Period(Frozen):
    """The time window of the events a report rests on: [since, until)."""

    since: datetime | None = Field(description="Start (inclusive); null means from the first recorded event.")
    until: datetime | None = Field(description="End (exclusive); null means up to the last recorded event.")
    statement: str = Field(description="The period in words.")


class ControllerDetails(Frozen):
    """Who the controller is and how to reach it (GDPR Art. 13(1)(a), 30(1)(a))."""

    name: str = Field(description="Legal name of the controller.")
    contact: str | None = Field(
        description="Contact details; null when neither the policy nor the operator states them."
    )
    contact_statement: str = Field(description="The contact details, or a plain statement that they are not stated.")
    dpo: str | None = Field(description="Data-protection officer's contact; null when not stated.")
    dpo_statement: str = Field(description="The DPO's contact, or a plain statement that none is stated.")


class ReportHeader(Frozen):
    """What every report starts with: what it is, when it was made, from which policy and period."""

    title: str = Field(description="Title of the report.")
    legal_basis: str = Field(description="The provisions the report answers, e.g. 'GDPR Art. 15; CCPA §1798.110'.")
    generated_at: datetime = Field(description="When the report was generated (UTC).")
    policy_id: str = Field(description="Id of the policy declaration the report uses.")
    policy_version: str = Field(description="Version of that declaration.")
    policy_title: str = Field(description="Title of the published policy.")
    controller: ControllerDetails = Field(
        description="The controller named in the policy (or supplied by the operator)."
    )
    period: Period = Field(description="The events the observed parts rest on.")


class Report(Frozen):
    """What every report is: its kind (the key of its line in ``reports.registry.REPORTS``) and its header."""

    kind: str = Field(description="Which report this is.")
    header: ReportHeader = Field(description="What, when, which policy and period.")


class RetentionInfo(Frozen):
    """Retention as the policy declares it (GDPR Art. 15(1)(d), 30(1)(f))."""

    statement: str = Field(description="The period or criteria, or the policy's plain statement that it gives none.")
    declared: bool = Field(description="True when the policy quotes a retention clause; false when it gives none.")
    clause_section: str | None = Field(description="Section of the policy the retention clause comes from, if any.")
    clause_text: str | None = Field(description="The retention clause quoted, if any.")
    periods: list[str] = Field(
        default_factory=list,
        description="Each period the policy declares: its categories, purposes, days or criteria, and id.",
    )
    gap: str | None = Field(
        default=None,
        description="When the policy declares no period per category and purpose: that this is a gap of the policy "
        "itself (GDPR Art. 5(1)(e), 13(2)(a), 30(1)(f)).",
    )


class SourceItem(Frozen):
    """A source data came from."""

    type: str = Field(description="data_subject, customer, third_party or automatic.")
    type_label: str = Field(description="The source type in words.")
    name: str | None = Field(description="The named source system or party, when the events name one.")
    description: str | None = Field(
        default=None,
        description="What the named system is, in words a reader understands (from the policy's `systems` or the "
        "names file, LINEAGE_NAMES_FILE); null when neither describes it (the letter then shows the type only).",
    )


class SourceOfData(Frozen):
    """A source and the categories of the person's data that came from it (GDPR Art. 15(1)(g))."""

    type: str = Field(description="data_subject, customer, third_party or automatic.")
    type_label: str = Field(description="The source type in words.")
    name: str | None = Field(description="The named source system or party, when the events name one.")
    description: str | None = Field(
        default=None,
        description="What the named system is, in words a reader understands (from the policy's `systems` or the "
        "names file, LINEAGE_NAMES_FILE); null when neither describes it (the letter then shows the type only).",
    )
    categories: list[Labelled] = Field(description="Categories of data that came from this source (sorted by key).")


class RecipientRefItem(Frozen):
    """A recipient by actual identity (CJEU C-154/21), as the store knows it now."""

    id: str = Field(description="Recipient id.")
    name: str = Field(description="Recipient's name.")
    type: str = Field(description="Recipient type key.")
    type_label: str = Field(description="Recipient type in words.")
    country: str | None = Field(description="ISO 3166-1 alpha-2 country where it receives the data; null when unknown.")


class RecipientDisclosure(Frozen):
    """One recipient of one person's data: who, where, how to reach it, what it got, why, and the evidence."""

    id: str = Field(description="Recipient id.")
    name: str = Field(description="The recipient's actual name (CJEU C-154/21).")
    type: str = Field(description="Recipient type key.")
    type_label: str = Field(description="Recipient type in words.")
    country: str | None = Field(
        description="Country where it receives the data (ISO 3166-1 alpha-2); null when unknown."
    )
    in_eea: bool | None = Field(description="Whether that country is in the EEA; null when the country is unknown.")
    outside_region: bool | None = Field(
        description="Whether the country is outside the region given for the person; null when either is unknown."
    )
    contact: str | None = Field(description="Contact details of the recipient, when the events record them.")
    contact_statement: str = Field(description="The contact details, or a plain statement that none are recorded.")
    categories: list[Labelled] = Field(description="Categories of the person's data it received (sorted by key).")
    purposes: list[Labelled] = Field(description="Purposes it received them for (sorted by key).")
    ccpa_disclosure: list[DisclosureKind] = Field(
        description="How these disclosures count under the CCPA, by policies/sale.py's table: each of 'sold', "
        "'shared' (for cross-context behavioural advertising) and 'business_purpose' that some category it received "
        "falls under, in that order (see docs/reports.md)."
    )
    ccpa_statement: str = Field(
        description="The same in words: 'Sold; shared for cross-context behavioural advertising.', 'Disclosed for a "
        "business purpose.'"
    )
    first_shared_at: datetime = Field(description="First recorded disclosure to this recipient.")
    last_shared_at: datetime = Field(description="Latest recorded disclosure to this recipient.")
    event_ids: list[str] = Field(description="Ids of the share events this rests on (sorted).")


class RightInfo(Frozen):
    """A right the person has, where it comes from and how to use it."""

    right: str = Field(description="The right, e.g. 'Rectification'.")
    provision: str = Field(description="Where it comes from, e.g. 'GDPR Art. 16'.")
    statement: str = Field(description="What it means for this person, in words.")


class CountryRecipients(Frozen):
    """The recipients in one country (or of unknown country)."""

    country: str | None = Field(description="ISO 3166-1 alpha-2 code; null for recipients whose country is unknown.")
    in_eea: bool | None = Field(description="Whether the country is in the EEA (a GDPR 'third country' is outside it).")
    outside_region: bool | None = Field(
        description="Outside the person's region, when that region is given; else null."
    )
    recipients: list[str] = Field(description="Names of the recipients there (sorted).")


class TransferItem(Frozen):
    """A transfer to one recipient outside the EEA and what it rests on (GDPR Chapter V: Art. 15(2), 30(1)(e))."""

    recipient_id: str = Field(description="Recipient id.")
    recipient_name: str = Field(description="The recipient's name.")
    country: str | None = Field(description="Where it receives the data (ISO 3166-1 alpha-2); null when unknown.")
    basis: Literal["adequacy", "safeguard", "none", "unknown"] = Field(
        description="'adequacy' (an adequacy decision covers it), 'safeguard' (the recipient registry names one), "
        "'none' (nothing known to rest on) or 'unknown' (no country known)."
    )
    statement: str = Field(description="What it rests on, in words (the decision or the safeguard, with dates).")
    decision: str | None = Field(description="The adequacy decision's act, when one covers it.")
    decision_date: date | None = Field(description="When the Commission adopted that decision.")
    safeguard: str | None = Field(description="The registry's safeguard: adequacy, scc, bcr or derogation.")
    safeguard_reference: str | None = Field(description="The safeguard's reference, as the registry gives it.")
    safeguard_date: date | None = Field(description="The safeguard's date, as the registry gives it.")
    in_registry: bool = Field(description="Whether the recipient registry lists the recipient.")


class TransferInfo(Frozen):
    """Transfers of the person's data by recipient country (GDPR Art. 15(1)(c), 15(2))."""

    region: list[str] | None = Field(
        description="Countries taken as the person's region (given by the operator); null when unknown, as the "
        "event contract records no region for a person."
    )
    statement: str = Field(description="What is known about transfers outside the person's region, in words.")
    countries: list[CountryRecipients] = Field(description="Recipients by country, sorted by code, unknown last.")
    transfers: list[TransferItem] = Field(
        description="Each recipient outside the EEA (or of unknown country) with the safeguard its transfer rests on, "
        "by recipient id."
    )
    safeguards_statement: str = Field(
        description="The safeguards the transfers rest on, and what the policy declares about transfers."
    )


# -- GDPR Art. 15 / CCPA right to know -------------------------------------------------------------
class HeldCategory(Frozen):
    """One category of the person's data held, with where it came from and what it was used for."""

    key: str = Field(description="fideslang data-category key.")
    label: str = Field(description="Its human name.")
    ccpa_category: str = Field(description="The CCPA §1798.140(v) category it falls in (see docs/reports.md).")
    roles: list[str] = Field(description="SOS's roles for it: controller, and/or processor (Customer Data).")
    sources: list[SourceItem] = Field(description="Where it came from.")
    purposes: list[Labelled] = Field(description="Purposes it was used or disclosed for.")
    first_seen: datetime = Field(description="Earliest recorded event about this category of this person.")
    last_seen: datetime = Field(description="Latest recorded event about this category of this person.")
    event_count: int = Field(description="Number of distinct recorded events about it.")


class PurposeItem(Frozen):
    """One purpose the person's data was processed for, with the categories concerned."""

    key: str = Field(description="fideslang data-use key.")
    label: str = Field(description="Its human name.")
    categories: list[Labelled] = Field(description="Categories of the person's data processed for it.")


class RightToKnow(Frozen):
    """The CCPA §1798.110 answer for one consumer, from the same data as the GDPR part."""

    categories_collected: list[str] = Field(description="CCPA §1798.140(v) categories collected (sorted).")
    categories_of_sources: list[Labelled] = Field(description="Categories of sources (source types).")
    purposes: list[Labelled] = Field(description="Business or commercial purposes for collecting, selling or sharing.")
    categories_of_third_parties: list[Labelled] = Field(description="Categories (types) of third parties disclosed to.")
    categories_sold: list[str] = Field(description="CCPA categories sold (sorted; empty: none), §1798.115(a)(2).")
    sold_statement: str = Field(
        description="The categories sold, by category of third party, or the statement that none were."
    )
    categories_shared: list[str] = Field(
        description="CCPA categories shared for cross-context behavioural advertising (sorted; empty: none)."
    )
    shared_statement: str = Field(
        description="The categories shared, by category of third party, or the statement that none were."
    )
    categories_disclosed_for_business_purpose: list[str] = Field(
        description="CCPA categories disclosed for a business purpose (sorted; empty: none), §1798.115(a)(3)."
    )
    disclosed_for_business_purpose_statement: str = Field(
        description="The categories disclosed for a business purpose, by category of third party, or the statement "
        "that none were."
    )
    specific_pieces_statement: str = Field(description="Where the specific pieces of information can be obtained.")


class AccessReport(Report):
    """GDPR Art. 15 access report for one person, with the CCPA right-to-know fields."""

    kind: Literal["access"] = Field(default="access", description="'access'.")
    header: ReportHeader = Field(description="What, when, which policy and period.")
    subject_id: str = Field(description="The person's identifier as given in the request (never stored in the graph).")
    subject_type: Labelled | None = Field(description="The person's data-subject type, when known.")
    data_found: bool = Field(
        description="Whether any personal data of the person is recorded (Art. 15(1) confirmation)."
    )
    reference: str = Field(
        description="The letter's reference number: ACC-<date>-<8 hex digits of a hash of the person's pseudonym and "
        "the time it was made>; it names no one."
    )
    confirmation: str = Field(description="The confirmation in words.")
    categories: list[HeldCategory] = Field(description="Categories held (Art. 15(1)(b)), sorted by key.")
    purposes: list[PurposeItem] = Field(description="Purposes (Art. 15(1)(a)), sorted by key.")
    recipients: list[RecipientDisclosure] = Field(description="Recipients by name (Art. 15(1)(c)), sorted by id.")
    recipients_statement: str = Field(description="Summary of the recipients, or the statement that there are none.")
    sources_other_than_subject: list[SourceOfData] = Field(
        description="Sources other than the person (Art. 15(1)(g)): the person's organisation and third parties."
    )
    sources_statement: str = Field(description="Summary of those sources, or the statement that there are none.")
    retention: RetentionInfo = Field(description="Retention (Art. 15(1)(d)).")
    transfers: TransferInfo = Field(description="Recipient countries and transfers (Art. 15(1)(c), 15(2)).")
    rights: list[RightInfo] = Field(description="Rights (Art. 15(1)(e), (f)).")
    automated_decisions_statement: str = Field(
        description="What is known of automated decision-making (Art. 15(1)(h))."
    )
    processor_statement: str | None = Field(
        description="When some data is Customer Data (SOS a processor): who the controller is and where to ask."
    )
    copy_statement: str = Field(description="Where the copy of the data itself (Art. 15(3)) comes from.")
    ccpa: RightToKnow = Field(description="The CCPA right-to-know fields.")
    evidence_event_ids: list[str] = Field(
        description="Ids of the recorded disclosure events the report rests on (sorted)."
    )
    evidence_statement: str = Field(description="What the evidence covers and what it does not.")
    evidence_annex: bool = Field(
        default=False,
        description="Whether the letter (HTML, PDF) carries the annex of evidence event ids; the JSON and CSV forms "
        "always carry them.",
    )


# -- GDPR Art. 19 -----------------------------------------------------------------------------------
class Art19Report(Report):
    """Every recipient to tell of a rectification, erasure or restriction of one person's data (GDPR Art. 19)."""

    kind: Literal["art19"] = Field(default="art19", description="'art19'.")
    header: ReportHeader = Field(description="What, when, which policy and period.")
    subject_id: str = Field(description="The person's identifier as given in the request.")
    data_found: bool = Field(description="Whether any personal data of the person is recorded.")
    obligation: str = Field(description="What Art. 19 requires, in words.")
    recipients: list[RecipientDisclosure] = Field(description="Recipients to notify, sorted by id.")
    recipients_statement: str = Field(description="Summary, or the statement that there is no one to notify.")
    recipients_without_contact: list[str] = Field(description="Ids of recipients with no recorded contact details.")
    evidence_event_ids: list[str] = Field(description="Ids of the share events the list rests on (sorted).")
    notices: list[NoticeStatus] = Field(
        default_factory=list,
        description="Each recipient on the Art. 19 list of each of the person's erasures (its tombstone, kept when "
        "the evidence is gone) and where its notice stands: not sent, sent (when, through what) or acknowledged.",
    )
    notices_statement: str = Field(
        default="No erasure is recorded for this person, so no notice is due.",
        description="Summary of the notices, or the statement that none is due.",
    )
