"""The S Plus policy clause by clause: events that must raise an alert and nearby events that must stay silent.

Each case quotes the words of the published text that decide it (checked to be in the source, in the section
named), and, where the text allows more than one reading, the reading choice of the policy file it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from policies import DEFAULT_POLICY_FILE, default_policy
from policies.compliance import PolicyEvaluator
from policies.consent import ConsentRecord, ConsentState
from policies.source_text import normalize, read_source
from schemas.parsing import validate_event
from tests.factories import event

POLICY = default_policy()
SOURCE = read_source(DEFAULT_POLICY_FILE.parent / str(POLICY.source))
CHOICES = {c.id for c in POLICY.reading_choices}

PAYMENTS = {"id": "payflow", "name": "Payflow Payments", "type": "service_provider", "country": "IE"}
TRACKER = {"id": "clicktrail", "name": "ClickTrail Analytics", "type": "other_third_party", "country": "US"}
FRAUD_NET = {"id": "fraudshield", "name": "FraudShield Network", "type": "other_third_party", "country": "GB"}
CREDIT_BUREAU = {"id": "bureau", "name": "Credit Bureau Ltd", "type": "data_broker", "country": "GB"}
BROKER = {"id": "brokr", "name": "DataBrokr Inc", "type": "data_broker", "country": "US"}
AUTHORITY = {"id": "hk-police", "name": "HK Police", "type": "authority", "country": "HK"}
AFFILIATE = {"id": "sos-hk", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK"}
PARTNER = {"id": "northwind", "name": "Northwind Partners", "type": "business_partner", "country": "GB"}
ADVERTISER = {"id": "adnet", "name": "AdNet GmbH", "type": "advertiser", "country": "DE"}
INVESTOR = {"id": "harbour", "name": "Harbour Ventures", "type": "investor", "country": "HK"}
SUCCESSOR = {"id": "apex", "name": "Apex Holdings", "type": "successor", "country": "SG"}
LIQUIDATOR = {"id": "assetco", "name": "Asset Buyers Ltd", "type": "other_third_party", "country": "HK"}
LITIGANT = {"id": "claimant", "name": "Claimant's solicitors", "type": "business_partner", "country": "GB"}


def who(kind: str) -> dict[str, str]:
    return {"id": f"someone-{kind}@example.com", "type": kind}


CUSTOMER_DATA = {"role": "processor", "customer": "acme-corp"}


def collected(categories: list[str], source: str, subject: str = "customer", **more: Any) -> dict[str, Any]:
    return event("collected", data_categories=categories, source={"type": source}, subject=who(subject), **more)


def used(categories: list[str], purpose: str, **more: Any) -> dict[str, Any]:
    return event("used", data_categories=categories, purpose=purpose, **more)


def shared(categories: list[str], recipient: dict[str, str], purpose: str, **more: Any) -> dict[str, Any]:
    return event("shared", data_categories=categories, recipient=recipient, purpose=purpose, **more)


@dataclass(frozen=True)
class Case:
    """An event, the rules it must raise (none: it must stay silent), and the words of the policy that decide it."""

    name: str
    section: str
    decides: str
    event: dict[str, Any]
    rules: tuple[str, ...] = ()
    choice: str | None = None
    after_gpc: bool = False  # judged after the person's Global Privacy Control signal (an opt-out of sale and sharing)


SILENT: tuple[str, ...] = ()
CATEGORY, SOURCE_RULE, SUBJECT = ("undeclared-category",), ("undeclared-source",), ("undeclared-subject-type",)
PURPOSE, PROCESSOR = ("undeclared-purpose",), ("processor-beyond-instructions",)
RECIPIENT_TYPE, DISCLOSURE_PURPOSE = ("undeclared-recipient-type",), ("undeclared-disclosure-purpose",)

CASES = (
    # -- Customer Data --------------------------------------------------------------------------------------------
    Case(
        "ticket text from the user",
        "Customer Data",
        "Customers or individuals granted access to a S Plus Helpdesk Chatbot Community (“Authorized Users”) "
        "routinely submit Customer Data",
        collected(["user.content.private"], "data_subject", **CUSTOMER_DATA),
        choice="customer-data-is-content",
    ),
    Case(
        "feedback about a colleague, submitted by another user",
        "Customer Data",
        "Some examples of Customer Data include feedback items, responses to feedback",
        collected(["user.content.private"], "third_party", "employee", **CUSTOMER_DATA),
        choice="another-user-is-a-third-party",
    ),
    Case(
        "the manager's name entered by a user in their profile",
        "Customer Data",
        "information about their manager and/or direct reports",
        collected(["user.name", "user.job_title"], "third_party", "employee", **CUSTOMER_DATA),
        choice="another-user-is-a-third-party",
    ),
    Case(
        "Customer Data generated automatically, not submitted",
        "Customer Data",
        "Content and information submitted by users of the Services is referred to in this policy as “Customer Data.”",
        collected(["user.content.private"], "automatic", **CUSTOMER_DATA),
        SOURCE_RULE,
        choice="another-user-is-a-third-party",
    ),
    Case(
        "Customer Data about a job applicant",
        "Customer Data",
        "Customers or individuals granted access to a S Plus Helpdesk Chatbot Community (“Authorized Users”)",
        collected(["user.content.private"], "data_subject", "job_applicant", **CUSTOMER_DATA),
        SUBJECT,
        choice="who-you-are",
    ),
    Case(
        "health data found in a ticket",
        "Customer Data",
        "Some examples of Customer Data include feedback items, responses to feedback, comments, images and videos.",
        collected(["user.health_and_medical"], "data_subject", **CUSTOMER_DATA),
        CATEGORY,
        choice="customer-data-is-content",
    ),
    Case(
        "a phone number typed into the profile",
        "Customer Data",
        "such as name, email address, photo and information related to their position",
        collected(["user.contact.phone_number"], "data_subject", **CUSTOMER_DATA),
        CATEGORY,
        choice="examples-are-the-declaration",
    ),
    Case(
        "a profile photo",
        "Customer Data",
        "such as name, email address, photo",
        collected(["user.content.self_image"], "data_subject", **CUSTOMER_DATA),
        choice="examples-are-the-declaration",
    ),
    Case(
        "a name typed into the profile",
        "Customer Data",
        "A user of the services is able to enter information into their user profile such as name",
        collected(["user.name"], "data_subject", **CUSTOMER_DATA),
        choice="customer-data-processor",
    ),
    Case(
        "the profile's email mined for a newsletter",
        "Customer Data",
        "Where S Plus Helpdesk Chatbot collects or processes Customer Data, it does so on behalf of the Customer.",
        used(["user.contact.email"], "marketing.communications.email", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-data-processor",
    ),
    # -- Community and Account Information ------------------------------------------------------------------------
    Case(
        "credentials from Office 365 single sign-on",
        "Community and Account Information",
        "authentication information via common social providers (i. e Google / Office 365)",
        collected(["user.authorization.credentials"], "third_party", "employee"),
    ),
    Case(
        "an account e-mail supplied by the employer",
        "Community and Account Information",
        "you or your Customer (e. g. , your employer) supply S Plus Helpdesk Chatbot with an email address",
        collected(["user.contact.email"], "customer", "employee"),
    ),
    Case(
        "login credentials of a website visitor",
        "Community and Account Information",
        "To create or update a community account, you or your Customer (e. g. , your employer) supply",
        collected(["user.authorization.credentials"], "data_subject", "visitor"),
        SUBJECT,
        choice="who-you-are",
    ),
    Case(
        "a customer's card, given by the customer",
        "Community and Account Information",
        "Customers that purchase a paid version of the Services provide S Plus Helpdesk Chatbot (or its payment "
        "processors) with billing details such as credit card information",
        collected(["user.financial.credit_card"], "customer"),
        choice="customer-person-or-organisation",
    ),
    Case(
        "a customer's bank account, given by the person",
        "Community and Account Information",
        "billing details such as credit card information, banking information and/or a billing address",
        collected(["user.financial.bank_account"], "data_subject"),
        choice="customer-person-or-organisation",
    ),
    Case(
        "a job applicant's credit card number",
        "Community and Account Information",
        "Customers that purchase a paid version of the Services provide",
        collected(["user.financial.credit_card"], "data_subject", "job_applicant"),
        SUBJECT,
        choice="who-you-are",
    ),
    Case(
        "an employee's own card",
        "Community and Account Information",
        "Customers that purchase a paid version of the Services provide",
        collected(["user.financial.credit_card"], "data_subject", "employee"),
        SUBJECT,
        choice="who-you-are",
    ),
    Case(
        "card numbers bought from a third party",
        "Community and Account Information",
        "Customers that purchase a paid version of the Services provide",
        collected(["user.financial.credit_card"], "third_party"),
        SOURCE_RULE,
    ),
    Case(
        "a prospect's card details",
        "Community and Account Information",
        "Customers that purchase a paid version of the Services provide",
        collected(["user.financial.credit_card"], "data_subject", "prospect"),
        SUBJECT,
        choice="customer-person-or-organisation",
    ),
    # -- Services Metadata, Log data, Device information -------------------------------------------------------------
    Case(
        "searches logged as services metadata",
        "Services Metadata",
        "metadata is generated that provides additional context about the way Authorized Users work",
        collected(["user.behavior.search_history"], "automatic", "employee"),
    ),
    Case(
        "a website visitor's IP address in the access log",
        "Log data",
        "our servers automatically collect information when you access or use our Websites or Services",
        collected(["user.device.ip_address"], "automatic", "visitor"),
        choice="who-you-are",
    ),
    Case(
        "an anonymous visitor's cookie data in the log",
        "Log data",
        "language preferences and cookie data",
        collected(["user.device.cookie"], "automatic", "anonymous_user"),
        choice="who-you-are",
    ),
    Case(
        "application IDs",
        "Device information",
        "application IDs, unique device identifiers and crash data",
        collected(["user.unique_id"], "automatic"),
    ),
    Case(
        "application IDs bought from an SDK vendor",
        "Device information",
        "S Plus Helpdesk Chatbot collects information about devices accessing the Services",
        collected(["user.unique_id"], "third_party"),
        SOURCE_RULE,
    ),
    Case(
        "crash data of a website visitor",
        "Device information",
        "S Plus Helpdesk Chatbot collects information about devices accessing the Services",
        collected(["user.telemetry"], "automatic", "visitor"),
        SUBJECT,
        choice="who-you-are",
    ),
    # -- Location, Cookies -------------------------------------------------------------------------------------------
    Case(
        "GPS location from the device",
        "Location information",
        "S Plus Helpdesk Chatbot may also collect location information from devices in accordance with the consent "
        "process provided by your device.",
        collected(["user.location.precise"], "automatic"),
    ),
    Case(
        "precise location bought from a data vendor",
        "Location information",
        "S Plus Helpdesk Chatbot may also collect location information from devices",
        collected(["user.location.precise"], "third_party"),
        SOURCE_RULE,
    ),
    Case(
        "approximate location from a third party",
        "Location information",
        "We receive information from you, your Customer and other third-parties that helps us approximate your "
        "location.",
        collected(["user.location.imprecise"], "third_party"),
    ),
    Case(
        "a cookie id set on an anonymous visitor",
        "Cookie Information",
        "S Plus Helpdesk Chatbot uses cookies and similar technologies in our Websites and Services",
        collected(["user.device.cookie_id"], "automatic", "anonymous_user"),
    ),
    Case(
        "cookie ids bought from a data vendor",
        "Cookie Information",
        "S Plus Helpdesk Chatbot uses cookies and similar technologies in our Websites and Services",
        collected(["user.device.cookie_id"], "third_party"),
        SOURCE_RULE,
    ),
    # -- Contact Information: imported address books --------------------------------------------------------------
    Case(
        "a prospect's phone number imported by a user",
        "Contact Information",
        "any contact information that an Authorized User chooses to import (such as an address book from a device)",
        collected(["user.contact.phone_number", "user.name"], "third_party", "prospect"),
        choice="imported-contacts",
    ),
    Case(
        "a relative's address imported from a user's address book",
        "Contact Information",
        "any contact information that an Authorized User chooses to import",
        collected(["user.contact.address", "user.contact.email"], "third_party", "next_of_kin"),
        choice="imported-contacts",
    ),
    Case(
        "phone numbers generated by the service",
        "Contact Information",
        "any contact information that an Authorized User chooses to import",
        collected(["user.contact.phone_number"], "automatic", "prospect"),
        SOURCE_RULE,
        choice="imported-contacts",
    ),
    # -- Third Party Data -----------------------------------------------------------------------------------------
    Case(
        "firmographics of a prospect from a partner",
        "Third Party Data",
        "S Plus Helpdesk Chatbot may receive data about organizations, industries, Website visitors, marketing "
        "campaigns and other matters related to our business from affiliates and subsidiaries, our partners or others",
        collected(["user.contact.organization"], "third_party", "prospect"),
    ),
    Case(
        "credit history bought from a partner",
        "Third Party Data",
        "data about organizations, industries, Website visitors, marketing campaigns",
        collected(["user.financial"], "third_party"),
        SOURCE_RULE,
    ),
    # -- Additional Information -----------------------------------------------------------------------------------
    Case(
        "a job application's text",
        "Additional Information Provided to S Plus Helpdesk Chatbot",
        "We receive Other Information when submitted to our Websites or if you participate in a focus group, "
        "contest, activity or event, apply for a job",
        collected(
            ["user.content", "user.job_title", "user.workplace"],
            "data_subject",
            "job_applicant",
            purpose="employment.recruitment",
        ),
        choice="other-business-activities",
    ),
    Case(
        "a support request's text from a visitor",
        "Additional Information Provided to S Plus Helpdesk Chatbot",
        "request support",
        collected(
            ["user.content.private", "user.contact.email"],
            "data_subject",
            "visitor",
            purpose="essential.service.operations.support",
        ),
    ),
    Case(
        "comments on SOS's social media page",
        "Additional Information Provided to S Plus Helpdesk Chatbot",
        "interact with our social media accounts",
        collected(["user.social", "user.name"], "third_party", "prospect"),
    ),
    Case(
        "a job applicant's health details",
        "Additional Information Provided to S Plus Helpdesk Chatbot",
        "apply for a job",
        collected(["user.health_and_medical"], "data_subject", "job_applicant"),
        CATEGORY,
    ),
    # -- How We Use Information: Customer Data ----------------------------------------------------------------------
    Case(
        "Customer Data used to answer the ticket",
        "How We Use Information",
        "Customer Data will be used by S Plus Helpdesk Chatbot in accordance with Customer’s instructions",
        used(["user.content.private"], "essential.service.operations.support", **CUSTOMER_DATA),
        choice="customer-instructions",
    ),
    Case(
        "Customer Data disclosed under a court order, used for it",
        "How We Use Information",
        "and as required by applicable law",
        used(["user.content.private"], "essential.legal_obligation", **CUSTOMER_DATA),
    ),
    Case(
        "Customer Data used to improve the product",
        "How We Use Information",
        "Customer Data will be used by S Plus Helpdesk Chatbot in accordance with Customer’s instructions",
        used(["user.content.private"], "functional.service.improve", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-instructions",
    ),
    Case(
        "Customer Data used for marketing",
        "How We Use Information",
        "Offer new products, services",
        used(["user.content.private"], "marketing.communications.email", **CUSTOMER_DATA),
        PROCESSOR,
        choice="other-information-uses",
    ),
    Case(
        "Customer Data used for fraud detection",
        "How We Use Information",
        "S Plus Helpdesk Chatbot is a processor of Customer Data and Customer is the controller.",
        used(["user.content.private"], "essential.fraud_detection", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-instructions",
    ),
    # -- How We Use Information: Other Information ------------------------------------------------------------------
    Case(
        "usage analysed under the generic analytics key",
        "How We Use Information",
        "Monitor and analyze usage and trends to improve your experience with our Services.",
        used(["user.behavior"], "analytics"),
    ),
    Case(
        "suggestions personalised from history",
        "How We Use Information",
        "make Services suggestions based on historical use and predictive models",
        used(["user.behavior.search_history"], "personalize.content"),
        choice="no-ai-training",
    ),
    Case(
        "usage data training an AI model",
        "How We Use Information",
        "make Services suggestions based on historical use and predictive models",
        used(["user.behavior"], "train_ai_system"),
        PURPOSE,
        choice="no-ai-training",
    ),
    Case(
        "a business transfer, as a use",
        "How We Use Information",
        "Perform other business activities as needed.",
        used(["user.account"], "operations.business_transfer"),
        choice="other-business-activities",
    ),
    Case(
        "a job application assessed",
        "How We Use Information",
        "Perform other business activities as needed.",
        used(["user.content"], "employment.recruitment", subject=who("job_applicant")),
        choice="other-business-activities",
    ),
    Case(
        "data stored for a purpose not yet defined",
        "How We Use Information",
        "Perform other business activities as needed.",
        used(["user.behavior"], "collect"),
        PURPOSE,
        choice="other-business-activities",
    ),
    Case(
        "third-party ad targeting as SOS's own use",
        "How We Use Information",
        "Offer new products, services, and/or recommendations to you.",
        used(["user.behavior"], "marketing.advertising.third_party.targeted"),
        PURPOSE,
    ),
    Case(
        "a newsletter from the account email",
        "How We Use Information",
        "These are marketing messages so you can control whether you receive them.",
        used(["user.contact.email"], "marketing.communications.email"),
        choice="other-information-uses",
    ),
    Case(
        "sales outreach",
        "How We Use Information",
        "Offer new products, services, and/or recommendations to you.",
        used(["user.contact.email"], "sales"),
    ),
    Case(
        "marketing with no narrower purpose",
        "How We Use Information",
        "These are marketing messages so you can control whether you receive them.",
        used(["user.contact.email"], "marketing"),
        PURPOSE,
        choice="purpose-keys-cover-their-descendants",
    ),
    Case(
        "an SMS newsletter",
        "How We Use Information",
        "we sometimes send emails about new product features, promotional communications",
        used(["user.contact.phone_number"], "marketing.communications.sms"),
        choice="purpose-keys-cover-their-descendants",
    ),
    Case(
        "a support request's content used to answer it",
        "How We Use Information",
        "If you contact us, we may use your Other Information to respond.",
        used(["user.content.private"], "essential.service.operations.support", subject=who("visitor")),
    ),
    # -- Community and Account Information: payment processors ------------------------------------------------------
    Case(
        "a card charged through the payment processor",
        "Community and Account Information",
        "(or its payment processors) with billing details such as credit card information",
        shared(
            ["user.financial.credit_card", "user.contact.address"], PAYMENTS, "essential.service.payment_processing"
        ),
    ),
    Case(
        "the customer's name sent to the payment processor",
        "Community and Account Information",
        "billing details such as credit card information, banking information and/or a billing address",
        shared(["user.name"], PAYMENTS, "essential.service.payment_processing"),
        DISCLOSURE_PURPOSE,
        choice="examples-are-the-declaration",
    ),
    Case(
        "the customer's email sent to the payment processor",
        "Community and Account Information",
        "billing details such as credit card information, banking information and/or a billing address",
        shared(["user.contact.email"], PAYMENTS, "essential.service.payment_processing"),
        DISCLOSURE_PURPOSE,
        choice="examples-are-the-declaration",
    ),
    Case(
        "card data sent to the payment processor for analytics",
        "Community and Account Information",
        "(or its payment processors)",
        shared(["user.financial"], PAYMENTS, "analytics"),
        DISCLOSURE_PURPOSE,
    ),
    # -- Cookie Information: third parties' cookies -----------------------------------------------------------------
    Case(
        "a third-party analytics cookie",
        "Cookie Information",
        "cookies and similar tracking technologies of third parties, which may collect Other Information about you",
        shared(["user.device.cookie_id"], TRACKER, "analytics"),
        DISCLOSURE_PURPOSE,
        choice="third-party-cookies-name-no-purpose",
    ),
    Case(
        "a third-party cookie used for advertising by a tracker",
        "Cookie Information",
        "cookies and similar tracking technologies of third parties",
        shared(["user.behavior.browsing_history"], TRACKER, "marketing.advertising"),
        DISCLOSURE_PURPOSE,
        choice="third-party-cookies-name-no-purpose",
    ),
    Case(
        "an analytics vendor's cookie (a service provider)",
        "Cookie Information",
        "cookies and similar tracking technologies of third parties",
        shared(["user.device.cookie_id"], PAYMENTS, "analytics"),
        DISCLOSURE_PURPOSE,
        choice="third-party-cookies-name-no-purpose",
    ),
    Case(
        "an advertiser's cookie for targeted ads",
        "Other Third Parties",
        "We may also share your information with such third parties for marketing purposes, as permitted by law.",
        shared(["user.device.cookie_id"], ADVERTISER, "marketing.advertising.third_party.targeted"),
        choice="third-party-cookies-name-no-purpose",
    ),
    # -- the CCPA: which disclosures an opt-out of sale and sharing stops ---------------------------------------------
    Case(
        "a tracker's cookie id after the person's Global Privacy Control signal",
        "Cookie Information",
        "across other websites and online services",
        shared(["user.device.cookie_id"], TRACKER, "analytics"),
        (*DISCLOSURE_PURPOSE, "sale-after-opt-out"),
        choice="tracking-across-websites-is-sharing",
        after_gpc=True,
    ),
    Case(
        "a suspicious sign-in reported to a fraud network (no tracking) after a GPC signal",
        "By Law or to Protect Rights",
        "This includes exchanging information with other entities for fraud protection",
        shared(["user.device.ip_address"], FRAUD_NET, "essential.fraud_detection"),
        choice="tracking-across-websites-is-sharing",
        after_gpc=True,
    ),
    Case(
        "an account transferred to the successor after a GPC signal (no sale)",
        "Sale or Bankruptcy",
        "we may transfer your information to the successor entity",
        shared(["user.account"], SUCCESSOR, "operations.business_transfer"),
        choice="tracking-across-websites-is-sharing",
        after_gpc=True,
    ),
    # -- By Law or to Protect Rights --------------------------------------------------------------------------------
    Case(
        "account records under a court order",
        "By Law or to Protect Rights",
        "to respond to legal process",
        shared(["user.contact.email", "user.name"], AUTHORITY, "essential.legal_obligation"),
    ),
    Case(
        "an IP address given to the police about abuse",
        "By Law or to Protect Rights",
        "to investigate or remedy potential violations of our policies",
        shared(["user.device.ip_address"], AUTHORITY, "essential.service.security"),
    ),
    Case(
        "records produced to a litigant under a court order",
        "By Law or to Protect Rights",
        "we may share your information as permitted or required by any applicable law, rule, or regulation",
        shared(["user.contact.email"], LITIGANT, "third_party_sharing.legal_obligation"),
        choice="by-law-any-recipient",
    ),
    Case(
        "account data to an authority for its marketing",
        "By Law or to Protect Rights",
        "If we believe the release of information about you is necessary to respond to legal process",
        shared(["user.contact.email"], AUTHORITY, "marketing"),
        RECIPIENT_TYPE,
        choice="by-law-any-recipient",
    ),
    Case(
        "Customer Data produced under a court order",
        "By Law or to Protect Rights",
        "we may share your information as permitted or required by any applicable law",
        shared(["user.content.private"], AUTHORITY, "third_party_sharing.legal_obligation", **CUSTOMER_DATA),
        choice="customer-data-disclosed-by-law-only",
    ),
    Case(
        "Customer Data disclosed as the law requires, to a court",
        "By Law or to Protect Rights",
        "required by any applicable law",
        shared(["user.content.private"], AUTHORITY, "essential.legal_obligation", **CUSTOMER_DATA),
        choice="customer-data-disclosed-by-law-only",
    ),
    Case(
        "Customer Data to the police for a fraud inquiry",
        "How We Use Information",
        "Customer Data will be used by S Plus Helpdesk Chatbot in accordance with Customer’s instructions, "
        "including any applicable terms in the Customer’s Use of Service, and as required by applicable law.",
        shared(["user.content.private"], AUTHORITY, "essential.fraud_detection", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-data-disclosed-by-law-only",
    ),
    Case(
        "Customer Data to the police to protect someone's safety",
        "By Law or to Protect Rights",
        "or to protect the rights, property, and safety of others",
        shared(["user.content.private"], AUTHORITY, "essential.service.security", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-data-disclosed-by-law-only",
    ),
    Case(
        "Customer Data to the affiliate for support",
        "Affiliates",
        "We may share your information with our affiliates",
        shared(["user.content.private"], AFFILIATE, "essential.service.operations.support", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-data-disclosed-by-law-only",
    ),
    Case(
        "a suspicious sign-in reported to a fraud-prevention network",
        "By Law or to Protect Rights",
        "This includes exchanging information with other entities for fraud protection",
        shared(["user.device.ip_address", "user.contact.email"], FRAUD_NET, "essential.fraud_detection"),
        choice="by-law-any-recipient",
    ),
    Case(
        "payment history exchanged with a credit bureau",
        "By Law or to Protect Rights",
        "exchanging information with other entities for fraud protection and credit risk reduction",
        shared(["user.financial"], CREDIT_BUREAU, "finance"),
        choice="credit-risk-is-finance",
    ),
    Case(
        "payment history sold to a credit bureau for marketing",
        "By Law or to Protect Rights",
        "exchanging information with other entities for fraud protection and credit risk reduction",
        shared(["user.financial"], CREDIT_BUREAU, "marketing"),
        RECIPIENT_TYPE,
        choice="credit-risk-is-finance",
    ),
    Case(
        "ad fraud signals exchanged with an advertiser",
        "By Law or to Protect Rights",
        "exchanging information with other entities for fraud protection",
        shared(["user.device.ip_address"], ADVERTISER, "essential.fraud_detection"),
        choice="by-law-any-recipient",
    ),
    Case(
        "a contact list sold to a data broker",
        "By Law or to Protect Rights",
        "exchanging information with other entities for fraud protection and credit risk reduction",
        shared(["user.contact.email"], BROKER, "marketing.advertising.third_party"),
        RECIPIENT_TYPE,
        choice="by-law-any-recipient",
    ),
    Case(
        "a profile sold to a data broker for profiling",
        "By Law or to Protect Rights",
        "exchanging information with other entities for fraud protection and credit risk reduction",
        shared(["user.behavior"], BROKER, "personalize.profiling"),
        RECIPIENT_TYPE,
        choice="by-law-any-recipient",
    ),
    # -- Affiliates -----------------------------------------------------------------------------------------------
    Case(
        "second-line support by the affiliate",
        "Affiliates",
        "we will require those affiliates to honor this Privacy Policy",
        shared(["user.contact.email", "user.behavior"], AFFILIATE, "essential.service.operations.support"),
        choice="affiliates-honor-the-policy",
    ),
    Case(
        "a job application handled by the affiliate",
        "Affiliates",
        "we will require those affiliates to honor this Privacy Policy",
        shared(["user.content"], AFFILIATE, "employment.recruitment", subject=who("job_applicant")),
        choice="affiliates-honor-the-policy",
    ),
    Case(
        "the affiliate training an AI model",
        "Affiliates",
        "we will require those affiliates to honor this Privacy Policy",
        shared(["user.behavior"], AFFILIATE, "train_ai_system"),
        DISCLOSURE_PURPOSE,
        choice="affiliates-honor-the-policy",
    ),
    Case(
        "the affiliate targeting third-party ads",
        "Affiliates",
        "we will require those affiliates to honor this Privacy Policy",
        shared(["user.behavior"], AFFILIATE, "marketing.advertising.third_party.targeted"),
        DISCLOSURE_PURPOSE,
    ),
    # -- Business Partners ----------------------------------------------------------------------------------------
    Case(
        "a contact shared with a partner for a promotion",
        "Business Partners",
        "We may share your information with our business partners to offer you certain products, services or "
        "promotions.",
        shared(["user.contact.email", "user.name"], PARTNER, "marketing.communications"),
    ),
    Case(
        "a lead passed to a partner's sales team",
        "Business Partners",
        "to offer you certain products, services or promotions",
        shared(["user.contact.email"], PARTNER, "sales"),
    ),
    Case(
        "usage shared with a partner for its analytics",
        "Business Partners",
        "to offer you certain products, services or promotions",
        shared(["user.behavior"], PARTNER, "analytics.reporting"),
        DISCLOSURE_PURPOSE,
    ),
    Case(
        "account data to a partner in a business transfer",
        "Business Partners",
        "to offer you certain products, services or promotions",
        shared(["user.account"], PARTNER, "operations.business_transfer"),
        DISCLOSURE_PURPOSE,
    ),
    # -- Other Third Parties --------------------------------------------------------------------------------------
    Case(
        "usage trends to an investor",
        "Other Third Parties",
        "We may share your information with advertisers and investors for the purpose of conducting general "
        "business analysis.",
        shared(["user.behavior"], INVESTOR, "analytics.reporting"),
    ),
    Case(
        "analysis with an advertiser under the generic key",
        "Other Third Parties",
        "for the purpose of conducting general business analysis",
        shared(["user.behavior"], ADVERTISER, "analytics"),
        choice="general-business-analysis",
    ),
    Case(
        "an investor training an AI model",
        "Other Third Parties",
        "for the purpose of conducting general business analysis",
        shared(["user.behavior"], INVESTOR, "train_ai_system"),
        DISCLOSURE_PURPOSE,
        choice="general-business-analysis",
    ),
    Case(
        "an investor's marketing",
        "Other Third Parties",
        "for marketing purposes, as permitted by law",
        shared(["user.contact.email"], INVESTOR, "marketing.communications.email"),
    ),
    Case(
        "an advertiser building profiles",
        "Other Third Parties",
        "for marketing purposes, as permitted by law",
        shared(["user.behavior.browsing_history"], ADVERTISER, "personalize.profiling"),
        DISCLOSURE_PURPOSE,
    ),
    Case(
        "an advertiser in a business transfer",
        "Other Third Parties",
        "We may share your information with advertisers and investors",
        shared(["user.account"], ADVERTISER, "operations.business_transfer"),
        DISCLOSURE_PURPOSE,
    ),
    # -- Sale or Bankruptcy ---------------------------------------------------------------------------------------
    Case(
        "accounts transferred to the acquirer",
        "Sale or Bankruptcy",
        "we may transfer your information to the successor entity",
        shared(["user.contact.email", "user.account"], SUCCESSOR, "operations.business_transfer"),
    ),
    Case(
        "assets bought in a bankruptcy by a third party",
        "Sale or Bankruptcy",
        "your information would be an asset transferred or acquired by a third party",
        shared(["user.contact.email"], LIQUIDATOR, "operations.business_transfer"),
    ),
    Case(
        "the acquirer's marketing before the transfer",
        "Sale or Bankruptcy",
        "we may transfer your information to the successor entity",
        shared(["user.contact.email"], SUCCESSOR, "marketing"),
        DISCLOSURE_PURPOSE,
    ),
    Case(
        "Customer Data transferred to the acquirer",
        "Sale or Bankruptcy",
        "we may transfer your information to the successor entity",
        shared(["user.content.private"], SUCCESSOR, "operations.business_transfer", **CUSTOMER_DATA),
        PROCESSOR,
        choice="customer-data-disclosed-by-law-only",
    ),
    # -- the aggregated clause ------------------------------------------------------------------------------------
    Case(
        "aggregated usage statistics sold to a broker",
        "DISCLOSURE OF YOUR INFORMATION",
        "If Information is aggregated or de-identified so it is no longer reasonably associated with an identified "
        "or identifiable natural person, S Plus Helpdesk Chatbot may use it for any business purpose.",
        shared(["user.behavior"], BROKER, "marketing.advertising", identifiability="aggregated"),
        choice="use-of-aggregated-data-includes-disclosure",
    ),
    Case(
        "de-identified data used to train a model",
        "DISCLOSURE OF YOUR INFORMATION",
        "may use it for any business purpose",
        used(["user.behavior"], "train_ai_system", identifiability="deidentified"),
    ),
    Case(
        "pseudonymised data sold to a broker",
        "DISCLOSURE OF YOUR INFORMATION",
        "so it is no longer reasonably associated with an identified or identifiable natural person",
        shared(["user.behavior"], BROKER, "marketing.advertising", identifiability="pseudonymised"),
        RECIPIENT_TYPE,
        choice="use-of-aggregated-data-includes-disclosure",
    ),
    Case(
        "aggregated account data sold to a broker",
        "DISCLOSURE OF YOUR INFORMATION",
        "If Information is aggregated or de-identified",
        shared(["user.account"], BROKER, "analytics", identifiability="aggregated"),
        choice="aggregated-customer-data-stays-the-customers",
    ),
    Case(
        "aggregated Customer Data sold to a broker",
        "DISCLOSURE OF YOUR INFORMATION",
        "If Information is aggregated or de-identified",
        shared(["user.content.private"], BROKER, "analytics", identifiability="aggregated", **CUSTOMER_DATA),
        PROCESSOR,
        choice="aggregated-customer-data-stays-the-customers",
    ),
    Case(
        "aggregated Customer Data used for SOS's analytics",
        "DISCLOSURE OF YOUR INFORMATION",
        "S Plus Helpdesk Chatbot may use it for any business purpose",
        used(["user.content.private"], "analytics", identifiability="aggregated", **CUSTOMER_DATA),
        PROCESSOR,
        choice="aggregated-customer-data-stays-the-customers",
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_clause(case: Case) -> None:
    evaluator = PolicyEvaluator(POLICY)
    gpc = ConsentRecord(
        "gpc", "opted_out", "p_case", datetime(2026, 1, 1, tzinfo=UTC), ("sale_and_sharing",), (), "gpc"
    )
    consent = ConsentState("p_case", (gpc,)) if case.after_gpc else None
    findings = evaluator.evaluate(validate_event(case.event, POLICY.taxonomy()), "p_case", consent)
    assert tuple(sorted({f.rule for f in findings})) == tuple(sorted(case.rules)), [f.reason for f in findings]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_quotes_the_words_that_decide_it(case: Case) -> None:
    section = " ".join(s.text for s in SOURCE.sentences if s.section == case.section)
    assert section, f"no section {case.section!r} in the source"
    assert normalize(case.decides) in section
    assert case.choice is None or case.choice in CHOICES


def test_every_disclosure_clause_and_every_contested_reading_has_an_alert_and_a_silent_case() -> None:
    by_section: dict[str, set[bool]] = {}
    by_choice: dict[str, set[bool]] = {}
    for case in CASES:
        by_section.setdefault(case.section, set()).add(bool(case.rules))
        if case.choice:
            by_choice.setdefault(case.choice, set()).add(bool(case.rules))
    disclosure_sections = {d.clause.section for d in POLICY.disclosures}
    assert {s for s in disclosure_sections if by_section.get(s) != {True, False}} == set()
    contested = {c.id for c in POLICY.reading_choices if c.id not in ("structure-of-the-text", "stated-as-absent")}
    assert {c for c in contested if by_choice.get(c) != {True, False}} == set()


def test_alert_reasons_quote_the_clause_that_names_the_recipient() -> None:
    """A business transfer to an advertiser quotes Other Third Parties (not Cookie Information); a partner flow
    quotes Business Partners (not By Law); each says what is missing, and no reason claims that only aggregated data
    may go to a recipient that identified data may reach."""
    evaluator = PolicyEvaluator(POLICY)

    def only(ev: dict[str, Any]) -> Any:
        (finding,) = evaluator.evaluate(validate_event(ev, POLICY.taxonomy()), "p")
        return finding

    transfer = only(shared(["user.account"], ADVERTISER, "operations.business_transfer"))
    assert transfer.clause_section == "Other Third Parties"
    assert "not 'operations.business_transfer'" in transfer.reason
    partner = only(shared(["user.behavior"], PARTNER, "analytics.reporting"))
    assert (
        partner.clause_section == "Business Partners" and "for marketing, sales (business-partners)" in partner.reason
    )
    assert "only aggregated or de-identified data may go to a business_partner for 'analytics.reporting'" in (
        partner.reason
    )
    name = only(shared(["user.name"], PAYMENTS, "essential.service.payment_processing"))
    assert name.clause_section == "Community and Account Information" and "not of 'user.name'" in name.reason
    cookie = only(shared(["user.device.cookie_id"], TRACKER, "analytics"))
    assert cookie.clause_section == "Cookie Information" and "names no purpose" in cookie.reason
    police = only(shared(["user.content.private"], AUTHORITY, "essential.fraud_detection", **CUSTOMER_DATA))
    assert "as required by applicable law" in police.clause_text
    assert "essential.legal_obligation, third_party_sharing.legal_obligation" in police.reason
    broker = only(shared(["user.contact.email"], BROKER, "marketing"))
    assert broker.severity == "critical" and "no clause of the policy names data_broker recipients" in broker.reason
    assert broker.clause_section == "By Law or to Protect Rights"
    applicant = only(collected(["user.financial.credit_card"], "data_subject", "job_applicant"))
    assert applicant.clause_section == "Community and Account Information"
    assert "about a job_applicant" in applicant.reason and "only about customer" in applicant.reason
