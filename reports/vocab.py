"""The words reports use: labels of keys, CCPA categories, the sold-or-shared rule, the EEA, headers and periods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from policies.sale import SaleClassifier
from schemas.answers import Flow
from schemas.events import RecipientType, SourceType
from schemas.policy import Organisation, Policy
from schemas.reports import (
    ControllerDetails,
    Labelled,
    Period,
    RecipientRefItem,
    ReportHeader,
    RetentionInfo,
)
from schemas.taxonomy import Dimension, Taxonomy

#: How many evidence ids a report asks the store for per flow; past it, lists are marked incomplete.
EVIDENCE_LIMIT = 100_000

def names(items: Iterable[str]) -> str:
    """Items in a sentence: comma-separated."""
    return ", ".join(items)


#: One tabular part of a report (its CSV form): the column names and the rows of values, which the formats turn
#: into text (reports.formats).
Table = tuple[list[str], list[list[Any]]]

RECIPIENT_TYPE_LABELS: dict[str, str] = {
    RecipientType.AUTHORITY: "Government entities, courts and law enforcement",
    RecipientType.AFFILIATE: "Affiliates (companies of the same group)",
    RecipientType.BUSINESS_PARTNER: "Business partners",
    RecipientType.ADVERTISER: "Advertisers and advertising networks",
    RecipientType.INVESTOR: "Investors",
    RecipientType.SUCCESSOR: "Successors in a merger, acquisition or bankruptcy",
    RecipientType.SERVICE_PROVIDER: "Service providers acting on our behalf",
    RecipientType.DATA_BROKER: "Data brokers",
    RecipientType.OTHER_THIRD_PARTY: "Other third parties",
}

SOURCE_TYPE_LABELS: dict[str, str] = {
    SourceType.DATA_SUBJECT: "You (provided by you)",
    SourceType.CUSTOMER: "Your organisation (the Customer)",
    SourceType.THIRD_PARTY: "Third parties",
    SourceType.AUTOMATIC: "Generated automatically by the service as you used it",
}

#: EU member states plus Iceland, Liechtenstein and Norway: a GDPR "third country" is any other.
EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})

# CCPA §1798.140(v)(1) categories. Each fideslang key maps to the category of its longest matching prefix;
# a key can fit several statutory categories, and this table names the one a reader would look for first.
_A = "A. Identifiers"
_B = "B. Customer records (Cal. Civ. Code §1798.80(e))"
_C = "C. Characteristics of protected classifications"
_D = "D. Commercial information"
_E = "E. Biometric information"
_F = "F. Internet or other electronic network activity"
_G = "G. Geolocation data"
_H = "H. Audio, electronic, visual or similar information"
_I = "I. Professional or employment-related information"
_K = "K. Inferences drawn to create a profile"
_L = "L. Sensitive personal information"
_O = "Other personal information (no enumerated category)"
CCPA_CATEGORIES: dict[str, str] = {
    "user": _O,
    "system": _O,
    "user.name": _A,
    "user.contact": _A,
    "user.account": _A,
    "user.unique_id": _A,
    "user.device.ip_address": _A,
    "user.device.device_id": _A,
    "user.device.cookie_id": _A,
    "user.device": _F,
    "user.behavior": _F,
    "user.telemetry": _F,
    "user.behavior.purchase_history": _D,
    "user.financial": _B,
    "user.payment": _B,
    "user.demographic": _C,
    "user.demographic.language": _O,
    "user.demographic.profile": _K,
    "user.biometric": _E,
    "user.authorization.biometric": _E,
    "user.location": _G,
    "user.content.self_image": _H,
    "user.sensor": _H,
    "user.user_sensor": _H,
    "user.job_title": _I,
    "user.workplace": _I,
    "user.contact.organization": _I,
    "user.authorization": _L,
    "user.government_id": _L,
    "user.health_and_medical": _L,
    "user.demographic.race_ethnicity": _L,
    "user.demographic.religious_belief": _L,
    "user.demographic.sexual_orientation": _L,
}


def ccpa_category(key: str) -> str:
    """The CCPA category of a fideslang data-category key (longest matching prefix wins)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        found = CCPA_CATEGORIES.get(".".join(parts[:n]))
        if found:
            return found
    return _O


class Vocabulary:
    """Labels for the keys of one policy's taxonomy and for our own recipient and source types."""

    def __init__(self, policy: Policy, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or policy.taxonomy()
        self.sales = SaleClassifier(policy)  # which disclosures are sold or shared under the CCPA

    def category(self, key: str) -> Labelled:
        return Labelled(key=key, label=self.taxonomy.label(Dimension.DATA_CATEGORY, key))

    def purpose(self, key: str) -> Labelled:
        return Labelled(key=key, label=self.taxonomy.label(Dimension.DATA_USE, key))

    def subject(self, key: str) -> Labelled:
        return Labelled(key=key, label=self.taxonomy.label(Dimension.DATA_SUBJECT, key))

    def categories(self, keys: Iterable[str]) -> list[Labelled]:
        return [self.category(k) for k in sorted(set(keys))]

    def purposes(self, keys: Iterable[str]) -> list[Labelled]:
        return [self.purpose(k) for k in sorted(set(keys))]

    @staticmethod
    def recipient_type(key: str) -> Labelled:
        return Labelled(key=key, label=RECIPIENT_TYPE_LABELS.get(key, key))

    @classmethod
    def recipient(cls, flow: Flow) -> RecipientRefItem:
        """The recipient of a SHARED_WITH flow, labelled for a report."""
        r = flow.recipient
        assert r is not None  # SHARED_WITH flows always carry their recipient
        return RecipientRefItem(
            id=r.id, name=r.name, type=r.type, type_label=cls.recipient_type(r.type).label, country=r.country
        )

    @staticmethod
    def source_type(key: str) -> Labelled:
        return Labelled(key=key, label=SOURCE_TYPE_LABELS.get(key, key))


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc(value: datetime | None) -> datetime | None:
    """A period bound in UTC; a naive datetime is taken as UTC (as the CLI reads dates)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_period(since: datetime | None, until: datetime | None) -> Period:
    since, until = utc(since), utc(until)
    if since is None and until is None:
        words = "All recorded events."
    elif since is None:
        assert until is not None
        words = f"Recorded events before {_when(until)}."
    elif until is None:
        words = f"Recorded events from {_when(since)} on."
    else:
        words = f"Recorded events from {_when(since)} up to (not including) {_when(until)}."
    return Period(since=since, until=until, statement=words)


def controller_details(policy: Policy, override: Organisation | None = None) -> ControllerDetails:
    """The controller from the policy; an operator-supplied ``override`` fills what the policy leaves out."""
    name = (override.name if override else None) or policy.controller.name
    contact = policy.controller.contact or (override.contact if override else None)
    dpo = policy.controller.dpo or (override.dpo if override else None)

    def said(value: str | None, in_policy: str | None, what: str) -> str:
        if value is None:
            return f"{what} not stated in the policy."
        return value if value == in_policy else f"{value} (supplied by the operator; not stated in the policy)"

    return ControllerDetails(
        name=name,
        contact=contact,
        contact_statement=said(contact, policy.controller.contact, "Contact details"),
        dpo=dpo,
        dpo_statement=said(dpo, policy.controller.dpo, "Data-protection officer"),
    )


def make_header(
    policy: Policy,
    title: str,
    legal_basis: str,
    period: Period,
    now: datetime | None,
    controller: Organisation | None,
) -> ReportHeader:
    return ReportHeader(
        title=title,
        legal_basis=legal_basis,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        policy_id=policy.id,
        policy_version=policy.version,
        policy_title=policy.title,
        controller=controller_details(policy, controller),
        period=period,
    )


#: What the reports say when a policy declares no retention period: a gap of the policy, not of the data.
RETENTION_GAP = (
    "A gap of the policy itself: it declares no retention period and no criteria per category of data and purpose, "
    "which GDPR Art. 5(1)(e), 13(2)(a) and 30(1)(f) require; nothing can be checked against it."
)


def retention_info(policy: Policy) -> RetentionInfo:
    clause = policy.retention.clause
    periods = [
        f"{', '.join(p.data_categories)}"
        + (f" for {', '.join(p.purposes)}" if p.purposes else "")
        + (f": {p.days} days from when the data was first recorded" if p.days else "")
        + (f": {p.criteria}" if p.criteria else "")
        + f" ({p.id})"
        for p in policy.retention.periods
    ]
    return RetentionInfo(
        statement=policy.retention.statement,
        declared=clause is not None or bool(periods),
        clause_section=clause.section if clause else None,
        clause_text=clause.text if clause else None,
        periods=periods,
        gap=None if periods else RETENTION_GAP,
    )


def in_period(value: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or value >= since) and (until is None or value < until)


def overlaps(first: datetime, last: datetime, since: datetime | None, until: datetime | None) -> bool:
    """Whether the span [first, last] can hold an instant of [since, until)."""
    return (since is None or last >= since) and (until is None or first < until)


def to_third_parties(pairs: Iterable[tuple[str, str]]) -> str:
    """(CCPA category, category of third party) pairs in words, by category of third party: "A. Identifiers to Data
    brokers; A. Identifiers, F. Internet activity to Advertisers" (the CCPA's statement of what was sold, shared or
    disclosed, §1798.115(c); the access report's right to know says it the same way)."""
    by_type: dict[str, set[str]] = defaultdict(set)
    for category, third_party in pairs:
        by_type[third_party].add(category)
    return "; ".join(f"{names(sorted(cats))} to {label}" for label, cats in sorted(by_type.items()))
