"""The simulated S Plus Helpdesk world: customers, people's names, recipients, and the declared and planted flows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Rule ids of policies.compliance.RULES, as plain strings: the simulator stands outside the core it exercises.
_CATEGORY = "undeclared-category"
_SOURCE = "undeclared-source"
_PURPOSE = "undeclared-purpose"
_RECIPIENT_TYPE = "undeclared-recipient-type"
_DISCLOSURE_PURPOSE = "undeclared-disclosure-purpose"
_PROCESSOR = "processor-beyond-instructions"
_SUBJECT_TYPE = "undeclared-subject-type"
_TRANSFER = "transfer-without-safeguard"
_COUNTRY = "recipient-country-mismatch"
NEW = "new-recipient"  # stamped by the simulator on the first disclosure to a recipient the registry lacks
SALE = "sale-after-opt-out"  # stamped on a sale or sharing after the person's opt-out of it (see sold_or_shared)


@dataclass(frozen=True, slots=True)
class Flow:
    """One shape of event the simulator emits; a planted flow also names the rule ids it must trigger."""

    kind: str
    emitted_by: str
    categories: tuple[str, ...]
    role: str
    purpose: str | None
    note: str
    source: dict[str, Any] | None = None
    recipient: dict[str, Any] | None = None
    rules: tuple[str, ...] = ()
    weight: int = 1  # relative frequency among planted flows
    subject_type: str | None = None  # the person's type in this event, when it is not their usual one


def _recipient(rid: str, name: str, rtype: str, country: str, contact: str) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "country": country, "contact": contact}


def _source(stype: str, name: str) -> dict[str, Any]:
    return {"type": stype, "name": name}


# -- the world: customers, people, recipients -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    domain: str
    paid: bool
    sso: str | None  # "office365-sso", "google-sso", or None: users are invited by an admin or sign up
    weight: int


CUSTOMERS = (
    Customer("acme-corp", "acme-corp.example", True, "office365-sso", 9),
    Customer("globex", "globex.example", True, "google-sso", 7),
    Customer("initech", "initech.example", False, "office365-sso", 5),
    Customer("hooli", "hooli.example", True, "google-sso", 6),
    Customer("vandelay", "vandelay-industries.example", False, None, 3),
    Customer("wonka", "wonka-industries.example", True, "office365-sso", 4),
    Customer("tyrell", "tyrell-corp.example", True, "office365-sso", 3),
    Customer("soylent", "soylent.example", False, "google-sso", 2),
    Customer("oceanic", "oceanic-air.example", True, "office365-sso", 4),
    Customer("kowloon-logistics", "kowloon-logistics.example", True, None, 5),
    Customer("pearl-trading", "pearl-trading.example", False, "office365-sso", 3),
    Customer("lantau-bank", "lantau-bank.example", True, "office365-sso", 4),
)
# fmt: off
FIRST_NAMES = (
    "alice", "bob", "carmen", "david", "elena", "farid", "grace", "hiro", "isabel", "jun", "kavya", "liam", "mei",
    "noah", "olga", "pedro", "qiu", "rosa", "samir", "tina", "umar", "vera", "wing", "xavier", "yuki", "zoe",
    "ka-ming", "siu-lan", "ahmed", "bianca", "chloe", "dmitri", "esther", "felix", "gita", "hannah",
)
LAST_NAMES = (
    "chan", "wong", "lee", "cheung", "lau", "ng", "smith", "garcia", "muller", "rossi", "silva", "kim", "tanaka",
    "nguyen", "patel", "okafor", "novak", "jensen", "dubois", "kowalski", "haddad", "santos", "ivanova", "larsen",
    "obrien", "fernandes", "yamamoto", "choi", "ho", "tsang",
)
# fmt: on
CLIENTS = ("teams-bot", "teams-bot", "teams-bot", "desktop-app", "mobile-app", "web-app")

AFFILIATE = _recipient("sos-hk", "SOS Hong Kong Ltd", "affiliate", "HK", "privacy@sos-hk.example")
AFFILIATE_SG = _recipient("sos-sg", "SOS Singapore Pte Ltd", "affiliate", "SG", "privacy@sos-sg.example")
PAYMENTS = _recipient("payflow", "Payflow Payments Ltd", "service_provider", "IE", "privacy@payflow.example")
PARTNER = _recipient("northwind", "Northwind Solutions Partners", "business_partner", "GB", "dpo@northwind.example")
ADVERTISER = _recipient("adverta", "Adverta Media Ltd", "advertiser", "US", "privacy@adverta.example")
INVESTOR = _recipient("harbour-ventures", "Harbour Ventures LP", "investor", "HK", "ir@harbour-ventures.example")
TRACKER = _recipient("clicktrail", "ClickTrail Analytics", "other_third_party", "US", "privacy@clicktrail.example")
FRAUD_NETWORK = _recipient(
    "fraudshield", "FraudShield Network", "other_third_party", "GB", "privacy@fraudshield.example"
)
AUTHORITY = _recipient(
    "hk-cyber-unit", "Cyber Security and Technology Crime Bureau", "authority", "HK", "requests@cstcb.gov.example"
)
SUCCESSOR = _recipient("apex-holdings", "Apex Holdings Group", "successor", "SG", "privacy@apex-holdings.example")
BROKER = _recipient("dataharvest", "DataHarvest Brokers Inc", "data_broker", "US", "optout@dataharvest.example")
AFFILIATE_IN = _recipient("sos-in", "SOS India Pvt Ltd", "affiliate", "IN", "privacy@sos-in.example")
US_GATEWAY = _recipient("paygate-us", "PayGate Inc", "service_provider", "US", "privacy@paygate.example")


def _entry(recipient: dict[str, Any], role: str = "controller", **more: Any) -> dict[str, Any]:
    return {**recipient, "role": role, **more}


def _safeguard(kind: str, reference: str, when: str) -> dict[str, str]:
    return {"kind": kind, "reference": reference, "date": when}


_GROUP_BCR = _safeguard("bcr", "SOS Group binding corporate rules, approved under GDPR Art. 47", "2024-05-02")
#: The recipient registry of the simulated world (``lineage simulate`` writes it beside its output): every recipient
#: of declared traffic with what a transfer to it rests on. The data broker is not in it (its first disclosure is
#: a new recipient), the Indian affiliate has no safeguard and the US gateway is not certified under the EU-US Data
#: Privacy Framework: disclosures to those two are transfers with nothing to rest on.
REGISTRY: tuple[dict[str, Any], ...] = (
    _entry(AFFILIATE, safeguard=_GROUP_BCR),
    _entry(AFFILIATE_SG, safeguard=_GROUP_BCR),
    _entry(AFFILIATE_IN),
    _entry(PAYMENTS, "processor", dpa="DPA-2024-003"),
    _entry(US_GATEWAY, "processor", dpa="DPA-2025-011"),
    _entry(PARTNER),
    _entry(ADVERTISER, dpf_certified=True, person_reference="sha256-email"),
    _entry(INVESTOR, safeguard=_safeguard("scc", "SCC 2021/914 module 1, data-sharing agreement DSA-7", "2024-09-16")),
    _entry(TRACKER, "processor", dpa="DPA-2024-021", dpf_certified=True),
    _entry(FRAUD_NETWORK),
    _entry(
        AUTHORITY,
        safeguard=_safeguard("derogation", "GDPR Art. 49(1)(e): disclosure ordered in legal proceedings", "2025-01-10"),
    ),
    _entry(SUCCESSOR, safeguard=_safeguard("scc", "SCC 2021/914 module 1, asset purchase agreement", "2026-01-01")),
)

# -- declared flows (each one covered by a declaration in policies/s-plus-helpdesk-chatbot.yaml) ------------------
# fmt: off
ACCOUNT = ("user.contact.email", "user.name", "user.contact.organization", "user.account.username")
SIGNUP = {
    sso: Flow("collected", by, (*ACCOUNT, "user.authorization.credentials"), "controller",
              "essential.service.authentication", f"account created via {sso}", _source("third_party", sso))
    for sso, by in (("office365-sso", "teams-bot"), ("google-sso", "web-app"))
}
INVITED = Flow("collected", "web-app", ACCOUNT, "controller", "essential.service.authentication",
                "account created from an administrator's invitation", _source("customer", "admin-invite"))
SIGNED_UP = Flow("collected", "web-app", ACCOUNT, "controller", "essential.service.authentication",
                  "account created by sign-up", _source("data_subject", "signup-form"))
PROFILE_FIELDS = ("user.name", "user.contact.email", "user.job_title", "user.workplace")
PROFILE = Flow("collected", "web-app", PROFILE_FIELDS, "processor", "essential.service",
                "user profile filled in", _source("data_subject", "profile-editor"))
PROFILE_PHOTO = Flow("collected", "web-app", (*PROFILE_FIELDS, "user.content.self_image"), "processor",
                      "essential.service", "user profile filled in, with a photo",
                      _source("data_subject", "profile-editor"))
PROFILE_UPDATE = Flow("collected", "web-app", ("user.job_title", "user.workplace"), "processor", "essential.service",
                       "profile updated", _source("data_subject", "profile-editor"))
WELCOME = Flow("used", "web-app", ("user.contact.email",), "controller", "essential.service.notifications.email",
                "welcome email sent")
BILLING = {
    card: Flow("collected", "billing", (card, "user.contact.address", "user.name"), "controller",
               "essential.service.payment_processing", "billing details supplied by the customer",
               _source("customer", "billing-portal"))
    for card in ("user.financial.credit_card", "user.financial.bank_account")
}
LOG = _source("automatic", "access-log")
WEB_LOG = Flow("collected", "web-app", ("user.device.ip_address", "user.behavior.browsing_history"), "controller",
                "essential.service", "web request logged", LOG)
COOKIES = Flow("collected", "web-app", ("user.device.cookie", "user.device.cookie_id"), "controller",
                "functional.service", "cookies set", _source("automatic", "web-cookies"))
APP_LOG = Flow("collected", "teams-bot", ("user.device.ip_address", "user.demographic.language"), "controller",
                "essential.service", "service access logged", LOG)
DEVICE = Flow("collected", "desktop-app", ("user.device.device_id", "user.telemetry"), "controller",
               "essential.service.operations.improve", "device type, OS and crash data collected",
               _source("automatic", "device-info"))
GPS = Flow("collected", "mobile-app", ("user.location.precise",), "controller", "functional.service",
            "device location collected with consent", _source("automatic", "device-location"))
CHAT = _source("data_subject", "teams-chat")
TICKET = Flow("collected", "teams-bot", ("user.content.private",), "processor", "essential.service.operations.support",
               "helpdesk ticket message received", CHAT)
ANSWER = Flow("used", "teams-bot", ("user.content.private",), "processor", "essential.service.operations.support",
               "chatbot answered the ticket")
COMMENT = Flow("collected", "teams-bot", ("user.content.public",), "processor", "essential.service",
                "comment posted in a community channel", CHAT)
ESCALATION = Flow("used", "crm", ("user.content.private", "user.name"), "processor",
                   "essential.service.operations.support", "ticket escalated to a support agent")
METADATA = _source("automatic", "services-metadata")
SEARCHES = Flow("collected", "teams-bot", ("user.behavior", "user.behavior.search_history"), "controller",
                 "essential.service", "services metadata logged (searches)", METADATA)
VIEWS = Flow("collected", "teams-bot", ("user.behavior", "user.behavior.media_consumption"), "controller",
              "essential.service", "services metadata logged (content viewed)", METADATA)
GEOIP = Flow("collected", "security", ("user.location.imprecise",), "controller", "essential.service.security",
              "approximate location derived from the IP address", _source("automatic", "ip-geolocation"))
SIGNIN_CHECK = Flow("used", "security", ("user.device.ip_address", "user.location.imprecise"), "controller",
                     "essential.service.security", "sign-in checked for anomalies")
FRAUD_CHECK = Flow("used", "security", ("user.device.ip_address", "user.behavior"), "controller",
                    "essential.fraud_detection", "activity screened for fraud")
NOTIFICATION = Flow("used", "web-app", ("user.contact.email",), "controller", "essential.service.notifications.email",
                     "service notification emailed")
SUPPORT_FORM = Flow("collected", "web-app", ("user.contact.email", "user.name", "user.contact.phone_number"),
                     "controller", "essential.service.operations.support", "support request submitted on the website",
                     _source("data_subject", "support-web-form"))
ANALYTICS = Flow("used", "analytics", ("user.behavior", "user.device"), "controller", "analytics.reporting",
                  "usage analysed for product reporting")
PERSONALISE = Flow("used", "analytics", ("user.behavior.search_history",), "controller", "personalize.content",
                    "search results personalised from history")
NEWSLETTER = Flow("used", "marketing", ("user.contact.email", "user.name"), "controller",
                   "marketing.communications.email", "product newsletter sent")
INVOICE = Flow("used", "billing", ("user.financial", "user.contact.email"), "controller", "finance",
                "invoice issued")
CHARGE = Flow("shared", "billing", ("user.financial", "user.contact.address"), "controller",
               "essential.service.payment_processing", "card charged through the payment processor",
               recipient=PAYMENTS)
TO_AFFILIATE = Flow("shared", "crm", ("user.contact.email", "user.name", "user.behavior"), "controller",
                     "essential.service.operations.support", "second-line support handed to the Hong Kong affiliate",
                     recipient=AFFILIATE)
TO_AFFILIATE_SG = Flow("shared", "analytics", ("user.behavior", "user.device"), "controller", "analytics.reporting",
                        "usage reporting shared with the Singapore affiliate", recipient=AFFILIATE_SG)
TO_PARTNER = Flow("shared", "marketing", ("user.contact.email", "user.name", "user.contact.organization"),
                   "controller", "marketing.communications", "contact shared with a business partner for a promotion",
                   recipient=PARTNER)
AD_COOKIE = Flow("shared", "web-app", ("user.device.cookie_id", "user.behavior.browsing_history"), "controller",
                  "marketing.advertising.third_party.targeted", "advertising cookie read by an advertiser",
                  recipient=ADVERTISER)
AD_PERFORMANCE = Flow("shared", "web-app", ("user.device.cookie_id", "user.behavior.browsing_history"), "controller",
                       "analytics.reporting.ad_performance", "ad-performance cookie read by an advertiser",
                       recipient=ADVERTISER)
FRAUD_REPORT = Flow("shared", "security", ("user.device.ip_address", "user.contact.email"), "controller",
                     "essential.fraud_detection", "suspicious sign-in reported to a fraud-prevention network",
                     recipient=FRAUD_NETWORK)
TO_ADVERTISER = Flow("shared", "analytics", ("user.behavior", "user.contact.organization"), "controller",
                      "analytics.reporting", "usage trends shared with an advertiser", recipient=ADVERTISER)
TO_INVESTOR = Flow("shared", "analytics", ("user.behavior", "user.contact.organization"), "controller",
                    "analytics.reporting", "business analysis shared with an investor", recipient=INVESTOR)
ENRICHMENT = Flow("collected", "crm", ("user.contact.organization", "user.location.imprecise"), "controller",
                   "analytics.reporting", "firmographics received from a partner",
                   _source("third_party", "firmographics-partner"))
COURT_ORDER = Flow("shared", "legal", ("user.contact.email", "user.name", "user.device.ip_address"), "controller",
                    "essential.legal_obligation", "account records disclosed under a court order",
                    recipient=AUTHORITY)
PRODUCTION_ORDER = Flow("shared", "legal", ("user.content.private",), "processor",
                         "third_party_sharing.legal_obligation", "ticket content disclosed under a production order",
                         recipient=AUTHORITY)
TRANSFER = Flow("shared", "legal", ("user.contact.email", "user.name", "user.contact.organization", "user.account"),
                 "controller", "operations.business_transfer", "account transferred to the acquirer",
                 recipient=SUCCESSOR)

# A person whose browser sends a Global Privacy Control signal opts out of sale and sharing on their first visit
# (CCPA §1798.135(e)); the service then stops every disclosure that is a sale or sharing, except where a job ignores
# the opt-out, which the simulator plants.
GPC_OPT_OUT = Flow("opted_out", "web-app", (), "", None, "Global Privacy Control signal received: opted out of sale "
                   "and sharing")

# -- which disclosures are a sale or sharing: the simulator's own reading of CCPA §1798.140(ad), (ah), written apart
# from the core it checks (policies/sale.py): advertisers and data brokers always; advertising to anyone; marketing
# or sales by another third party; and third parties' tracking cookies, which the S Plus policy marks as sharing
_ALWAYS = ("advertiser", "data_broker")
_THIRD_PARTIES = ("business_partner", "investor", "other_third_party")
_TRACKING = ("user.device.cookie", "user.device.cookie_id", "user.behavior.browsing_history")


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def sold_or_shared(flow: Flow) -> bool:
    """Whether the flow is a disclosure of personal information that is a sale or sharing under the CCPA."""
    if flow.kind != "shared" or flow.recipient is None or flow.purpose is None:
        return False
    rtype, purpose = flow.recipient["type"], flow.purpose
    if rtype in _ALWAYS or _under(purpose, "marketing.advertising"):
        return True
    if rtype in _THIRD_PARTIES and (_under(purpose, "marketing") or _under(purpose, "sales")):
        return True
    return rtype == "other_third_party" and any(_under(c, t) for c in flow.categories for t in _TRACKING)


# -- planted undeclared flows, with the rule ids each must trigger --------------------------------------------------
PLANTED: tuple[Flow, ...] = (
    Flow("shared", "marketing", ("user.contact.email", "user.contact.organization", "user.behavior"), "controller",
         "marketing.advertising.third_party", "contact list sold to a data broker",
         recipient=BROKER, rules=(_RECIPIENT_TYPE, _TRANSFER), weight=4),
    Flow("shared", "crm", ("user.content.private",), "processor", "analytics.reporting",
         "ticket content shared with a data broker", recipient=BROKER, rules=(_PROCESSOR, _TRANSFER), weight=2),
    Flow("shared", "analytics", ("user.health_and_medical", "user.contact.email"), "controller",
         "marketing.advertising.third_party", "health details and email sold to a data broker",
         recipient=BROKER, rules=(_CATEGORY, _RECIPIENT_TYPE, _TRANSFER)),
    Flow("collected", "teams-bot", ("user.health_and_medical",), "processor", "essential.service.operations.support",
         "health information captured from a support conversation", CHAT, rules=(_CATEGORY,), weight=3),
    Flow("collected", "mobile-app", ("user.biometric.voice",), "controller", "essential.service.authentication",
         "voiceprint captured for voice login", _source("automatic", "voice-login"), rules=(_CATEGORY,), weight=2),
    Flow("shared", "web-app", ("user.behavior.browsing_history", "user.device.cookie_id"), "controller",
         "personalize.profiling", "browsing profile shared with an advertiser for profiling",
         recipient=ADVERTISER, rules=(_DISCLOSURE_PURPOSE,), weight=3),
    Flow("shared", "analytics", ("user.behavior",), "controller", "train_ai_system",
         "usage data shared with an investor to train its AI models", recipient=INVESTOR,
         rules=(_DISCLOSURE_PURPOSE,)),
    Flow("used", "marketing", ("user.content.private",), "processor", "marketing.communications.email",
         "ticket content mined for marketing emails", rules=(_PROCESSOR,), weight=3),
    Flow("shared", "marketing", ("user.content.private", "user.name"), "processor",
         "marketing.advertising.third_party.targeted", "Customer Data shared with an advertiser",
         recipient=ADVERTISER, rules=(_PROCESSOR,), weight=2),
    Flow("used", "teams-bot", ("user.content.private",), "processor", "train_ai_system",
         "ticket transcripts used to train the chatbot model", rules=(_PROCESSOR,), weight=3),
    Flow("used", "analytics", ("user.behavior", "user.behavior.search_history"), "controller", "train_ai_system",
         "services metadata used to train an AI model", rules=(_PURPOSE,), weight=3),
    Flow("collected", "security", ("user.device.device_id",), "controller", "essential.service.security",
         "device identifiers bought from a device-graph vendor", _source("third_party", "device-graph-vendor"),
         rules=(_SOURCE,), weight=2),
    Flow("collected", "marketing", ("user.location.precise",), "controller",
         "marketing.advertising.third_party.targeted", "precise location bought from a vendor for targeted ads",
         _source("third_party", "location-data-vendor"), rules=(_SOURCE, _PURPOSE)),
    # the text names no purpose for third parties' cookies (it points to a Cookie Policy that is not published)
    Flow("shared", "web-app", ("user.device.cookie_id",), "controller", "analytics", "third-party analytics cookie",
         recipient=TRACKER, rules=(_DISCLOSURE_PURPOSE,), weight=2),
    # payment processors receive billing details: not the customer's name or email address
    Flow("shared", "billing", ("user.financial", "user.contact.email"), "controller",
         "essential.service.payment_processing", "customer's email address sent with the card to the payment processor",
         recipient=PAYMENTS, rules=(_DISCLOSURE_PURPOSE,)),
    # Customer Data goes to an authority only as required by law
    Flow("shared", "security", ("user.content.private",), "processor", "essential.fraud_detection",
         "ticket content passed to the police for a fraud inquiry", recipient=AUTHORITY, rules=(_PROCESSOR,)),
    # billing details are declared about customers only
    Flow("collected", "web-app", ("user.financial.credit_card",), "controller", "employment.recruitment",
         "card number taken from a job applicant for a background-check fee", _source("data_subject", "careers-site"),
         rules=(_SUBJECT_TYPE,), subject_type="job_applicant"),
    # transfers: to an affiliate in a country without adequacy and with no safeguard, to a US processor the
    # registry does not say is certified under the Data Privacy Framework, and to an affiliate in another country
    # than the registry records (its group BCR still applies, so that is no transfer without safeguard)
    Flow("shared", "crm", ("user.contact.email", "user.name", "user.behavior"), "controller",
         "essential.service.operations.support", "second-line support handed to the Indian affiliate",
         recipient=AFFILIATE_IN, rules=(_TRANSFER,), weight=2),
    Flow("shared", "billing", ("user.financial", "user.contact.address"), "controller",
         "essential.service.payment_processing", "card charged through a US gateway not certified under the DPF",
         recipient=US_GATEWAY, rules=(_TRANSFER,)),
    Flow("shared", "crm", ("user.contact.email", "user.name", "user.behavior"), "controller",
         "essential.service.operations.support", "second-line support handed to the affiliate's office in China",
         recipient={**AFFILIATE, "country": "CN"}, rules=(_COUNTRY,)),
)
# fmt: on

# The declared sales and sharing, as a job that ignores the person's opt-out sends them (emit marks the rule).
IGNORED_OPT_OUT: dict[int, Flow] = {  # by id() of the declared flow
    id(flow): Flow(
        flow.kind,
        flow.emitted_by,
        flow.categories,
        flow.role,
        flow.purpose,
        f"{flow.note}, despite the person's opt-out of sale and sharing",
        flow.source,
        flow.recipient,
    )
    for flow in (TO_PARTNER, AD_COOKIE, AD_PERFORMANCE, TO_ADVERTISER)
}
