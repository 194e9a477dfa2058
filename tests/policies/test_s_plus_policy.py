"""The S Plus Helpdesk policy as code: traceable to the published text sentence by sentence, and faithful to it.

Traceability (every quote in its own section, every sentence accounted for, every key read from a phrase) is what
`lineage policy check` verifies (tests/policies/test_policy_check.py). Content is what this file adds: a reviewer's
own list of what the sentences say, phrase by phrase, held against the declarations, so that a sentence cannot be
"covered" while what it says is left out (the fraud sentence's "credit risk reduction") or more is declared than
it says (recipients and purposes the cookie sentence never names).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEFAULT_POLICY_FILE, SOURCE_DIR, default_policy, load_policy
from policies.source_text import normalize, read_source
from schemas.events import RecipientType
from schemas.policy import Collection, Disclosure, Use
from schemas.taxonomy import Dimension, covers

POLICY = default_policy()
Decl = Collection | Use | Disclosure

# (section, words of a sentence of it, what they must be encoded as: field -> keys the declarations quoting those
# words must cover). Written from the text, not from the YAML.
CONTENT: tuple[tuple[str, str, dict[str, set[str]]], ...] = (
    ("Customer Data", "Content and information submitted by users",
     {"data_categories": {"user.content"}, "sources": {"data_subject"}}),
    ("Customer Data", "Customers or individuals granted access", {"sources": {"customer"}}),
    ("Customer Data", "feedback items, responses to feedback, comments", {"data_categories": {"user.content.private"}}),
    ("Customer Data", "images and videos", {"data_categories": {"user.content.self_image"}}),
    ("Customer Data", "such as name, email address, photo",
     {"data_categories": {"user.name", "user.contact.email", "user.content.self_image"}}),
    ("Customer Data", "their position in their organizational hierarchy", {"data_categories": {"user.job_title"}}),
    ("Community and Account Information", "you or your Customer (e. g. , your employer)",
     {"sources": {"data_subject", "customer"}, "data_subjects": {"customer", "employee"}}),
    ("Community and Account Information", "an email address, domain",
     {"data_categories": {"user.contact.email", "user.contact.organization"}}),
    ("Community and Account Information", "authentication information via common social providers",
     {"data_categories": {"user.authorization.credentials"}, "sources": {"third_party"}}),
    ("Community and Account Information", "credit card information, banking information and/or a billing address",
     {"data_categories": {"user.financial.credit_card", "user.financial.bank_account", "user.contact.address"},
      "data_subjects": {"customer"}}),
    ("Community and Account Information", "(or its payment processors)",
     {"recipient_types": {"service_provider"}, "purposes": {"essential.service.payment_processing"}}),
    ("Services Metadata", "people, features, and content you interact with",
     {"data_categories": {"user.behavior.media_consumption"}, "data_subjects": {"employee"}}),
    ("Services Metadata", "metadata is generated",
     {"data_categories": {"user.behavior.media_consumption"}, "sources": {"automatic"}}),
    ("Log data", "the Internet Protocol (IP) address",
     {"data_categories": {"user.device.ip_address"}, "data_subjects": {"visitor"}}),
    ("Log data", "the address of the web page visited before", {"data_categories": {"user.behavior.browsing_history"}}),
    ("Log data", "language preferences and cookie data",
     {"data_categories": {"user.demographic.language", "user.device.cookie"}}),
    ("Device information", "application IDs", {"data_categories": {"user.unique_id"}}),
    ("Device information", "unique device identifiers and crash data",
     {"data_categories": {"user.device.device_id", "user.telemetry"}, "sources": {"automatic"}}),
    ("Location information", "from you, your Customer and other third-parties",
     {"data_categories": {"user.location.imprecise"}, "sources": {"data_subject", "customer", "third_party"}}),
    ("Location information", "a business address submitted by your employer",
     {"data_categories": {"user.contact.address"}}),
    ("Location information", "collect location information from devices",
     {"data_categories": {"user.location.precise"}, "sources": {"automatic"}}),
    ("Cookie Information", "uses cookies and similar technologies",
     {"data_categories": {"user.device.cookie", "user.device.cookie_id"}, "data_subjects": {"visitor"}}),
    ("Cookie Information", "tracking technologies of third parties",
     {"recipient_types": {"other_third_party"}, "data_categories": {"user.device.cookie_id"}}),
    ("Contact Information", "any contact information that an Authorized User chooses to import",
     {"data_categories": {"user.contact.phone_number", "user.contact.email", "user.name"},
      "sources": {"third_party"}, "data_subjects": {"prospect", "next_of_kin", "supplier_vendor"}}),
    ("Third Party Data", "data about organizations, industries, Website visitors",
     {"data_categories": {"user.contact.organization", "user.behavior"}, "sources": {"third_party"},
      "data_subjects": {"visitor", "prospect"}}),
    ("Third Party Data", "which IP addresses correspond to zip codes or countries",
     {"data_categories": {"user.location.imprecise"}}),
    ("Additional Information Provided to S Plus Helpdesk Chatbot", "apply for a job, request support",
     {"data_categories": {"user.content", "user.contact.email", "user.name"}, "sources": {"data_subject"},
      "data_subjects": {"job_applicant", "visitor", "prospect"}}),
    ("Additional Information Provided to S Plus Helpdesk Chatbot", "interact with our social media accounts",
     {"data_categories": {"user.social"}}),
    ("How We Use Information", "Create and manage your account", {"purposes": {"essential.service.authentication"}}),
    ("How We Use Information", "Email you regarding your account or order",
     {"purposes": {"essential.service.notifications.email"}}),
    ("How We Use Information", "Fulfil and manage purchases, orders, payments",
     {"purposes": {"essential.service.payment_processing", "finance"}}),
    ("How We Use Information", "Monitor and analyze usage and trends",
     {"purposes": {"analytics", "functional.service.improve"}}),
    ("How We Use Information", "Notify you of updates to our Services", {"purposes": {"essential.service.upgrades"}}),
    ("How We Use Information", "Offer new products, services, and/or recommendations to you",
     {"purposes": {"marketing.communications", "personalize", "sales"}}),
    ("How We Use Information", "Perform other business activities as needed",
     {"purposes": {"operations.business_transfer", "employment.recruitment"}}),
    ("How We Use Information", "Prevent fraudulent transactions, monitor against theft",
     {"purposes": {"essential.fraud_detection", "essential.service.security"}}),
    ("How We Use Information", "Request feedback and contact you", {"purposes": {"functional.service.improve"}}),
    ("How We Use Information", "Resolve disputes and troubleshoot problems",
     {"purposes": {"essential.service.operations.support"}}),
    ("How We Use Information", "Respond to product and customer service requests",
     {"purposes": {"essential.service.operations.support"}}),
    ("How We Use Information", "in accordance with Customer’s instructions",
     {"purposes": {"essential.service.operations.support", "essential.legal_obligation"}, "roles": {"processor"}}),
    ("How We Use Information", "To provide, update, maintain and protect our Services",
     {"purposes": {"essential.service", "essential.service.security", "analytics.reporting"}}),
    ("How We Use Information", "As required by applicable law, legal process or regulation",
     {"purposes": {"essential.legal_obligation"}}),
    ("How We Use Information", "To communicate with you by responding to your requests",
     {"purposes": {"essential.service.operations.support"}}),
    ("How We Use Information", "To develop and provide search, learning and productivity tools",
     {"purposes": {"personalize.content", "functional.service.improve", "analytics.reporting"}}),
    ("How We Use Information", "To send emails and other communications",
     {"purposes": {"essential.service.notifications.email"}}),
    ("How We Use Information", "These are marketing messages", {"purposes": {"marketing.communications.email"}}),
    ("How We Use Information", "For billing, account management and other administrative matters",
     {"purposes": {"finance", "essential.service.payment_processing"}}),
    ("How We Use Information", "To investigate and help prevent security issues and abuse",
     {"purposes": {"essential.service.security", "essential.fraud_detection"}}),
    ("By Law or to Protect Rights", "to respond to legal process",
     {"purposes": {"essential.legal_obligation", "third_party_sharing.legal_obligation"},
      "recipient_types": {"authority"}, "roles": {"controller", "processor"}}),
    ("By Law or to Protect Rights", "to protect the rights, property, and safety of others",
     {"purposes": {"essential.service.security"}}),
    ("By Law or to Protect Rights", "fraud protection", {"purposes": {"essential.fraud_detection"}}),
    ("By Law or to Protect Rights", "credit risk reduction", {"purposes": {"finance"}}),
    ("By Law or to Protect Rights", "exchanging information with other entities",
     {"recipient_types": {t.value for t in RecipientType}}),
    ("Affiliates", "We may share your information with our affiliates",
     {"recipient_types": {"affiliate"}, "purposes": {"essential.service.operations.support", "analytics.reporting"}}),
    ("Business Partners", "to offer you certain products, services or promotions",
     {"recipient_types": {"business_partner"}, "purposes": {"marketing.communications", "sales"}}),
    ("Other Third Parties", "conducting general business analysis",
     {"recipient_types": {"advertiser", "investor"}, "purposes": {"analytics.reporting"}}),
    ("Other Third Parties", "for marketing purposes",
     {"recipient_types": {"advertiser", "investor"}, "purposes": {"marketing.advertising.third_party"}}),
    ("Sale or Bankruptcy", "we may transfer your information to the successor entity",
     {"recipient_types": {"successor"}, "purposes": {"operations.business_transfer"}}),
    ("Sale or Bankruptcy", "acquired by a third party",
     {"recipient_types": {"other_third_party"}, "purposes": {"operations.business_transfer"}}),
    ("DISCLOSURE OF YOUR INFORMATION", "may use it for any business purpose",
     {"recipient_types": {"data_broker"}, "purposes": {"train_ai_system"}}),
)  # fmt: skip

# What the text never says, which no declaration may say either (finding: invented permissions).
NEVER: tuple[tuple[str, str, dict[str, set[str]]], ...] = (
    ("Cookie Information", "tracking technologies of third parties",
     {"recipient_types": {"advertiser", "service_provider"}, "purposes": {"analytics", "marketing.advertising"}}),
    ("Community and Account Information", "(or its payment processors)",
     {"data_categories": {"user.name", "user.contact.email"}}),
    ("Community and Account Information", "Customers that purchase",
     {"data_subjects": {"job_applicant", "employee", "visitor"}}),
    ("How We Use Information", "in accordance with Customer’s instructions",
     {"purposes": {"functional.service.improve", "marketing", "train_ai_system", "essential.fraud_detection"}}),
    ("How We Use Information", "predictive models", {"purposes": {"train_ai_system"}}),
    ("By Law or to Protect Rights", "to respond to legal process",
     {"purposes": {"marketing", "analytics"}}),
    ("DISCLOSURE OF YOUR INFORMATION", "may use it for any business purpose", {"roles": {"processor"}}),
)  # fmt: skip


def quoting(section: str, words: str) -> list[Decl]:
    return [
        d
        for d in (*POLICY.collections, *POLICY.uses, *POLICY.disclosures)
        if d.clause.section == section and normalize(words) in normalize(d.clause.text)
    ]


def covered(decls: list[Decl], field: str, key: str) -> bool:
    for d in decls:
        if field == "roles":
            roles = d.roles if isinstance(d, Disclosure) else [d.role]
            if key in {r.value for r in roles}:
                return True
            continue
        declared = getattr(d, field, None)
        if isinstance(d, Disclosure) and field == "purposes":
            if declared == "any":
                return True
            if declared == "any-declared-use":
                declared = [p for u in POLICY.uses if u.role.value == "controller" for p in u.purposes]
        if isinstance(d, Disclosure) and field == "data_categories" and declared is None:
            return True
        if isinstance(declared, list) and any(covers(str(k), key) for k in declared):
            return True
    return False


@pytest.mark.parametrize(("section", "words", "wanted"), CONTENT, ids=lambda v: v if isinstance(v, str) else "")
def test_what_each_sentence_says_is_encoded(section: str, words: str, wanted: dict[str, set[str]]) -> None:
    decls = quoting(section, words)
    assert decls, f"no declaration quotes {words!r} in {section!r}"
    missing = {f"{field}:{key}" for field, keys in wanted.items() for key in keys if not covered(decls, field, key)}
    assert missing == set()


@pytest.mark.parametrize(("section", "words", "unwanted"), NEVER, ids=lambda v: v if isinstance(v, str) else "")
def test_nothing_the_sentence_does_not_say_is_declared(section: str, words: str, unwanted: dict[str, set[str]]) -> None:
    decls = quoting(section, words)
    assert decls
    invented = {f"{field}:{key}" for field, keys in unwanted.items() for key in keys if covered(decls, field, key)}
    assert invented == set()


def test_the_content_list_reaches_every_declaring_sentence() -> None:
    """Every sentence a declaration quotes is checked for content by at least one entry of CONTENT."""
    source = read_source(DEFAULT_POLICY_FILE.parent / str(POLICY.source))
    checked = {(section, normalize(words)) for section, words, _ in CONTENT}
    unchecked = []
    for d in (*POLICY.collections, *POLICY.uses, *POLICY.disclosures):
        for sentence in source.locate(d.clause.section, d.clause.text):
            if not any(section == sentence.section and words in sentence.text for section, words in checked):
                unchecked.append(sentence.text[:70])
    # sentences that only frame the one before them (their content is in that one)
    framing = {
        "As further explained below, Customer Data is controlled by the organization or other third party entiti",
        "Where S Plus Helpdesk Chatbot collects or processes Customer Data, it does so on behalf of the Customer.",
        "Whether we collect some or all this Other Information often depends on the type of device used and its se",
        "This data may be combined with Other Information we collect and might include aggregate level data, such",
        "Or it might be more specific: for example, how well an online marketing or email campaign performed.",
        "S Plus Helpdesk Chatbot is a processor of Customer Data and Customer is the controller.",
        "Customer may, for example, use the Services to grant and remove access to a Community, assign roles and c",
        "This includes use of Other Information to support delivery of the Services under a Customer Agreement, p",
        "If you contact us, we may use your Other Information to respond.",
        "S Plus Helpdesk Chatbot tries to make the Services as useful as possible for specific Communities and Aut",
        "For example, we may improve search functionality by using Other Information to help determine and rank t",
        "We may send you service, technical and other administrative emails, messages and other types of communic",
        "We may also contact you to inform you about changes in our Services, our Services offerings, and importan",
        "These communications are considered part of the Services and you may not opt out of them.",
        "In addition, we sometimes send emails about new product features, promotional communications or other ne",
        "S Plus Helpdesk Chatbot may need to contact you for invoicing, account management and similar reasons and",
        "Affiliates include our parent company and any subsidiaries, joint venture partners or other companies th",
        "If we reorganize or sell all or a portion of our assets, undergo a merger, or are acquired by another ent",
        "If we believe the release of information about you is necessary to respond to legal process, to investiga",
        "You acknowledge that such transfers may occur and that the transferee may decline honor commitments we ma",
        "If Information is aggregated or de-identified so it is no longer reasonably associated with an identified",
        "A user of the services is able to enter information into their user profile such as name, email address,",
        "As with most websites and technology services delivered over the Internet, our servers automatically col",
        "When an Authorized User interacts with the Services, metadata is generated that provides additional cont",
    }
    assert sorted({u for u in unchecked if not any(u[:60] in f for f in framing)}) == []


def test_the_bundled_policy_holds_to_its_source() -> None:
    assert POLICY.source is not None
    assert load_policy(DEFAULT_POLICY_FILE) == POLICY  # no problem found: every quote, sentence and key checked


def test_the_structured_source_is_the_published_text_word_for_word() -> None:
    """The Markdown source adds only structure (headings, list items, bold run-in titles, ---, a comment) to the
    published text: without that markup the two are the same characters in the same order."""
    import re

    published = (SOURCE_DIR / POLICY.source_document).read_text(encoding="utf-8")
    structured = (DEFAULT_POLICY_FILE.parent / str(POLICY.source)).read_text(encoding="utf-8")
    structured = re.sub(r"<!--.*?-->", "", structured, flags=re.S)
    structured = re.sub(r"(?m)^#+ |^- |^---$|\*\*", "", structured)
    published = published.replace("•", "")

    def squeeze(text: str) -> str:
        return re.sub(r"\s+", "", text.replace("\u00a0", " "))

    assert squeeze(structured) == squeeze(published)


@pytest.mark.parametrize(
    ("recipient_type", "named"),
    [
        ("authority", False), ("affiliate", True), ("business_partner", True), ("advertiser", True),
        ("investor", True), ("successor", True), ("service_provider", True), ("data_broker", False),
        ("other_third_party", True),
    ],
)  # fmt: skip
def test_recipient_types_the_disclosure_clauses_name(recipient_type: str, named: bool) -> None:
    """Named by a clause of its own; authorities and data brokers only by the clauses for any recipient
    (reading choice by-law-any-recipient), which allow legal, security, fraud and credit-risk purposes only."""
    everyone = set(RecipientType)
    own = {
        t.value
        for d in POLICY.disclosures
        if d.identifiability == "identified" and set(d.recipient_types) != everyone
        for t in d.recipient_types
    }
    assert (recipient_type in own) is named


def test_customer_data_is_processed_only_as_processor() -> None:
    processor = {c for col in POLICY.collections if col.role.value == "processor" for c in col.data_categories}
    assert "user.content" in processor
    assert {p for u in POLICY.uses if u.role.value == "processor" for p in u.purposes} == {
        "essential.service",
        "essential.legal_obligation",
    }
    # and is disclosed only as required by law (reading choice customer-data-disclosed-by-law-only)
    assert {p for d in POLICY.disclosures if "processor" in d.roles for p in d.purposes} == {
        "essential.legal_obligation",
        "third_party_sharing.legal_obligation",
    }


def test_every_reading_choice_is_used_and_every_use_names_one_that_exists() -> None:
    used = {c for d in (*POLICY.collections, *POLICY.uses, *POLICY.disclosures) for c in d.choices}
    used |= {r.choice for d in (*POLICY.collections, *POLICY.uses, *POLICY.disclosures) for r in d.reads if r.choice}
    used |= {c.id for c in POLICY.reading_choices if c.id in " ".join(n.why for n in POLICY.not_declarations)}
    unused = (
        {c.id for c in POLICY.reading_choices}
        - used
        - {"structure-of-the-text", "stated-as-absent", "purpose-keys-cover-their-descendants"}
    )
    assert unused == set()


def test_custom_key_extends_the_taxonomy() -> None:
    tax = POLICY.taxonomy()
    assert tax.has(Dimension.DATA_USE, "operations.business_transfer")
    assert tax.entry(Dimension.DATA_USE, "operations.business_transfer").custom
    assert tax.has(Dimension.DATA_USE, "essential.service.operations.support")


def test_a_policy_can_be_read_without_the_package(tmp_path: Path) -> None:
    """The source is found relative to the policy file, wherever the two are copied together."""
    import shutil

    shutil.copy(DEFAULT_POLICY_FILE, tmp_path / "policy.yaml")
    shutil.copytree(SOURCE_DIR, tmp_path / "source")
    assert load_policy(tmp_path / "policy.yaml") == POLICY
