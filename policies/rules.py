"""The compliance rules: stable ids (alerts and their consumers key on them), severities and titles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Rule:
    """A compliance rule: a stable id (used in alerts and by consumers), a severity and a title.

    ``judged_from`` says, for a rule the policy's declarations do not feed, what it judges a flow against (the
    recipient registry, the adequacy decisions, what the store has seen); empty for the policy's own rules.
    """

    id: str
    severity: Severity
    title: str
    judged_from: str = ""


UNDECLARED_CATEGORY = Rule("undeclared-category", Severity.HIGH, "Data category the policy never declares collecting")
UNDECLARED_SOURCE = Rule(
    "undeclared-source", Severity.MEDIUM, "Data collected from a source the policy does not declare"
)
UNDECLARED_PURPOSE = Rule("undeclared-purpose", Severity.HIGH, "Use for a purpose the policy does not declare")
UNDECLARED_RECIPIENT_TYPE = Rule(
    "undeclared-recipient-type", Severity.CRITICAL, "Disclosure to a type of recipient the policy does not declare"
)
UNDECLARED_DISCLOSURE_PURPOSE = Rule(
    "undeclared-disclosure-purpose", Severity.HIGH, "Disclosure to a declared recipient type for an undeclared purpose"
)
PROCESSOR_BEYOND_INSTRUCTIONS = Rule(
    "processor-beyond-instructions",
    Severity.CRITICAL,
    "Customer Data (SOS as processor) used or disclosed beyond the customer's instructions",
)
IDENTIFIED_WHERE_AGGREGATED_ONLY = Rule(
    "identified-where-aggregated-only",
    Severity.HIGH,
    "Identified data disclosed where the policy allows only aggregated or de-identified data",
)
TRANSFER_OUTSIDE_DECLARED_COUNTRIES = Rule(
    "transfer-outside-declared-countries",
    Severity.HIGH,
    "Disclosure to a recipient in a country the matching policy declaration does not name",
)
DISCLOSURE_AFTER_WITHDRAWAL = Rule(
    "disclosure-after-withdrawal",
    Severity.HIGH,
    "Use or disclosure resting on consent after the person withdrew it",
)
UNDECLARED_SUBJECT_TYPE = Rule(
    "undeclared-subject-type",
    Severity.HIGH,
    "Data about a type of person the policy does not declare collecting it about",
)
MARKETING_AFTER_OPT_OUT = Rule(
    "marketing-after-opt-out",
    Severity.HIGH,
    "Use or disclosure for marketing after the person opted out of it",
)
SALE_AFTER_OPT_OUT = Rule(
    "sale-after-opt-out",
    Severity.CRITICAL,
    "Sale or sharing of personal information after the person opted out of it (CCPA §1798.120)",
    "the person's opt-outs of sale and sharing (a request or a Global Privacy Control signal) and which disclosures "
    "are a sale or sharing: to an advertiser or a data broker, for advertising, to other third parties for marketing "
    "or sales, or under a declaration the policy marks as a sale or sharing (policies/sale.py)",
)
TRANSFER_WITHOUT_SAFEGUARD = Rule(
    "transfer-without-safeguard",
    Severity.HIGH,
    "Disclosure to a recipient outside the EEA with no adequacy decision and no safeguard",
    "the recipient's country (the event's, else the recipient registry's), the European Commission's adequacy "
    "decisions shipped with the project (policies/adequacy.yaml) and the safeguard the recipient registry names",
)
RECIPIENT_COUNTRY_MISMATCH = Rule(
    "recipient-country-mismatch",
    Severity.MEDIUM,
    "Disclosure to a recipient in another country than the recipient registry records",
    "the recipient registry (LINEAGE_RECIPIENTS)",
)
NEW_RECIPIENT = Rule(
    "new-recipient",
    Severity.MEDIUM,
    "First disclosure ever observed to a recipient the recipient registry does not list",
    "the recipient registry (LINEAGE_RECIPIENTS) and the recipients the store has seen (with no registry, every "
    "recipient not seen before)",
)
RETENTION_EXCEEDED = Rule(
    "retention-exceeded",
    Severity.HIGH,
    "Data used, disclosed or held past the retention period the policy declares for it",
    "the retention periods the policy declares per category and purpose (retention.periods, none in the S Plus "
    "policy) and when the person's data of the category was first recorded",
)
RULES: tuple[Rule, ...] = (
    UNDECLARED_CATEGORY,
    UNDECLARED_SOURCE,
    UNDECLARED_SUBJECT_TYPE,
    UNDECLARED_PURPOSE,
    UNDECLARED_RECIPIENT_TYPE,
    UNDECLARED_DISCLOSURE_PURPOSE,
    PROCESSOR_BEYOND_INSTRUCTIONS,
    IDENTIFIED_WHERE_AGGREGATED_ONLY,
    TRANSFER_OUTSIDE_DECLARED_COUNTRIES,
    DISCLOSURE_AFTER_WITHDRAWAL,
    MARKETING_AFTER_OPT_OUT,
    SALE_AFTER_OPT_OUT,
    TRANSFER_WITHOUT_SAFEGUARD,
    RECIPIENT_COUNTRY_MISMATCH,
    NEW_RECIPIENT,
    RETENTION_EXCEEDED,
)

# Special categories (GDPR Art. 9/10) raise the severity of an undeclared category to critical.
SPECIAL_CATEGORIES = (
    "user.biometric",
    "user.health_and_medical",
    "user.genetic",
    "user.criminal_history",
    "user.demographic.political_opinion",
    "user.demographic.race_ethnicity",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.authorization.biometric",
)
