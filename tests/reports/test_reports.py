"""Golden tests of the reports: a small hand-written stream whose every report line is stated here."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from io import BytesIO
from typing import Any

import pytest

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore
from policies import default_policy
from reports.access import access_report
from reports.art19 import art19_report
from reports.ccpa import ccpa_report, preceding_12_months
from reports.formats import ReportFormatError, render_csv, render_html, render_json, render_pdf, tables
from reports.gaps import gaps_report
from reports.ropa import ropa_report
from reports.vocab import ccpa_category
from schemas.parsing import validate_event
from schemas.policy import Organisation
from schemas.reports import RecipientDisclosure, Report
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import ADVERTISER, BROKER, event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
HK = {"id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK",
      "contact": "privacy@sos-hk.example"}
POLICE = {"id": "hk-police", "name": "Hong Kong Police Force", "type": "authority", "country": "HK",
          "contact": "cyber@police.example"}


def golden_events() -> list[dict[str, Any]]:
    """Alice (customer): collected from SSO and automatically, used for analytics, shared with the HK affiliate
    (support), an advertiser (DE) and a data broker (US, undeclared); Customer Data collected as processor.
    Bob (employee): collected from his employer, shared with the police for fraud detection. Carol: nothing."""
    bob = {"id": BOB, "type": "employee"}
    return [
        event("collected", event_id="c1", subject_id=ALICE, occurred_at="2026-01-10T09:00:00Z",
              data_categories=["user.contact.email", "user.name"],
              source={"type": "third_party", "name": "office365-sso"}),
        event("collected", event_id="c2", subject_id=ALICE, occurred_at="2026-01-11T09:00:00Z",
              data_categories=["user.device.ip_address"], source={"type": "automatic"}),
        event("used", event_id="u1", subject_id=ALICE, occurred_at="2026-01-12T09:00:00Z",
              data_categories=["user.device.ip_address"], purpose="analytics.reporting"),
        event("shared", event_id="s1", subject_id=ALICE, occurred_at="2026-02-01T09:00:00Z",
              data_categories=["user.contact.email", "user.name"], purpose="essential.service.operations.support",
              recipient=HK),
        event("shared", event_id="s2", subject_id=ALICE, occurred_at="2026-02-15T09:00:00Z",
              data_categories=["user.contact.email"], purpose="marketing.advertising", recipient=ADVERTISER),
        event("collected", event_id="p1", subject_id=ALICE, occurred_at="2026-02-20T09:00:00Z",
              data_categories=["user.content"], role="processor", customer="acme-corp",
              source={"type": "data_subject", "name": "teams-chat"}, purpose="essential.service"),
        event("shared", event_id="s3", subject_id=ALICE, occurred_at="2026-03-01T09:00:00Z",
              data_categories=["user.contact.email"], purpose="marketing.advertising", recipient=BROKER),
        event("collected", event_id="b1", subject=bob, occurred_at="2026-01-20T09:00:00Z",
              data_categories=["user.name"], source={"type": "customer", "name": "acme-hr"}),
        event("shared", event_id="b2", subject=bob, occurred_at="2026-02-10T09:00:00Z",
              data_categories=["user.name"], purpose="essential.fraud_detection", recipient=POLICE),
    ]


def load_golden(store: GraphStore) -> GraphStore:
    handler = Handler(store, POLICY, KEY)
    handler.handle([validate_event(e, handler.taxonomy) for e in golden_events()])
    return store


@pytest.fixture
def store() -> GraphStore:
    return load_golden(SQLiteGraphStore(":memory:"))


def keys(items: list[Any]) -> list[str]:
    return [i.key for i in items]


def by_id(items: list[RecipientDisclosure]) -> dict[str, RecipientDisclosure]:
    return {r.id: r for r in items}


def ids(store: GraphStore, *refs: str, since: datetime | None = None) -> list[str]:
    """The ids of the events behind these references (what `lineage evidence` lists), sorted."""
    return sorted({e.event_id for e in evidence(store, refs, since)})


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# -- Art. 15 ----------------------------------------------------------------------------------------
def test_access_report_for_alice_line_by_line(store: GraphStore) -> None:
    r = access_report(store, KEY, POLICY, ALICE, now=NOW)
    assert (r.kind, r.subject_id, r.data_found) == ("access", ALICE, True)
    assert r.subject_type is not None and (r.subject_type.key, r.subject_type.label) == ("customer", "Customer")
    assert r.header.controller.name == "SOS Group Limited"
    assert r.header.controller.contact is None
    assert r.header.controller.contact_statement == "Contact details not stated in the policy."
    assert r.header.controller.dpo_statement == "Data-protection officer not stated in the policy."
    assert r.header.generated_at == NOW and r.header.period.statement == "All recorded events."

    # (b) categories, with labels, roles, sources, purposes and counts
    cats = {c.key: c for c in r.categories}
    assert list(cats) == ["user.contact.email", "user.content", "user.device.ip_address", "user.name"]
    email = cats["user.contact.email"]
    assert (email.label, email.ccpa_category, email.roles) == ("User Contact Email", "A. Identifiers", ["controller"])
    assert [(s.type, s.name) for s in email.sources] == [("third_party", "office365-sso")]
    assert keys(email.purposes) == ["essential.service.operations.support", "marketing.advertising"]
    assert (email.event_count, email.first_seen, email.last_seen) == (4, at("2026-01-10T09:00"), at("2026-03-01T09:00"))
    content = cats["user.content"]
    assert content.roles == ["processor"] and keys(content.purposes) == ["essential.service"]
    assert [(s.type, s.name) for s in content.sources] == [("data_subject", "teams-chat")]
    ip = cats["user.device.ip_address"]
    assert ip.sources[0].type_label == "Generated automatically by the service as you used it"
    name = cats["user.name"]
    assert (name.event_count, keys(name.purposes)) == (2, ["essential.service.operations.support"])

    # (a) purposes, each with the categories processed for it
    assert [(p.key, keys(p.categories)) for p in r.purposes] == [
        ("analytics.reporting", ["user.device.ip_address"]),
        ("essential.service", ["user.content"]),
        ("essential.service.operations.support", ["user.contact.email", "user.name"]),
        ("marketing.advertising", ["user.contact.email"]),
    ]

    # (c) recipients by actual identity, type, country, contact, with what and why, and the evidence
    recs = by_id(r.recipients)
    assert list(recs) == ["adnet", "brokr", "hk-affiliate"]
    hk = recs["hk-affiliate"]
    assert (hk.name, hk.type_label, hk.country, hk.in_eea, hk.contact) == (
        "SOS Hong Kong Ltd", "Affiliates (companies of the same group)", "HK", False, "privacy@sos-hk.example")
    assert keys(hk.categories) == ["user.contact.email", "user.name"]
    assert keys(hk.purposes) == ["essential.service.operations.support"]
    assert (hk.ccpa_disclosure, hk.ccpa_statement, hk.event_ids) == (
        ["business_purpose"], "Disclosed for a business purpose.", ["s1"])
    adnet = recs["adnet"]
    assert (adnet.country, adnet.in_eea, adnet.ccpa_disclosure) == ("DE", True, ["shared"])
    assert recs["brokr"].event_ids == ["s3"] and recs["brokr"].ccpa_disclosure == ["sold", "shared"]
    assert recs["brokr"].ccpa_statement == "Sold; shared for cross-context behavioural advertising."
    assert recs["brokr"].contact is None and "No contact details" in recs["brokr"].contact_statement
    assert r.recipients_statement == (
        "Your data was disclosed to 3 recipient(s): AdNet GmbH, DataBrokr Inc, SOS Hong Kong Ltd.")
    assert r.evidence_event_ids == ["s1", "s2", "s3"]

    # (g) sources other than the person: the SSO provider, not the chat (Alice) nor the automatic logs
    assert [(s.type, s.name, keys(s.categories)) for s in r.sources_other_than_subject] == [
        ("third_party", "office365-sso", ["user.contact.email", "user.name"])]

    # (d) retention: the policy gives none, and says so
    assert r.retention.declared is False
    assert r.retention.statement == "The policy states no retention period and no criteria for determining it."

    # transfers: no region for a person in the contract, so countries are listed and the limit stated
    assert r.transfers.region is None
    assert "do not show which country or region you are in" in r.transfers.statement
    assert [(c.country, c.in_eea, c.outside_region, c.recipients) for c in r.transfers.countries] == [
        ("DE", True, None, ["AdNet GmbH"]),
        ("HK", False, None, ["SOS Hong Kong Ltd"]),
        ("US", False, None, ["DataBrokr Inc"]),
    ]
    assert "names no countries" in r.transfers.safeguards_statement

    # (e), (f) rights
    rights = {x.right: x.provision for x in r.rights}
    for right in ("Rectification", "Erasure", "Restriction of processing", "Objection",
                  "Complaint to a supervisory authority"):
        assert right in rights
    assert rights["Complaint to a supervisory authority"] == "GDPR Art. 77"

    # Customer Data: SOS is a processor, the Customer the controller
    assert r.processor_statement is not None and "User Content" in r.processor_statement

    # CCPA right to know from the same data
    assert r.ccpa.categories_collected == ["A. Identifiers", "Other personal information (no enumerated category)"]
    assert keys(r.ccpa.categories_of_sources) == ["automatic", "data_subject", "third_party"]
    assert keys(r.ccpa.categories_of_third_parties) == ["advertiser", "affiliate", "data_broker"]
    # sold, shared and disclosed for a business purpose apart, by policies/sale.py's table: the broker bought the
    # address and (for advertising) had it shared; the advertiser had it shared; the affiliate got it for support
    assert (r.ccpa.categories_sold, r.ccpa.categories_shared, r.ccpa.categories_disclosed_for_business_purpose) == (
        ["A. Identifiers"], ["A. Identifiers"], ["A. Identifiers"],
    )  # fmt: skip
    assert r.ccpa.sold_statement == "Sold: A. Identifiers to Data brokers."
    assert r.ccpa.shared_statement == (
        "Shared for cross-context behavioural advertising: A. Identifiers to Advertisers and advertising networks; "
        "A. Identifiers to Data brokers."
    )
    assert r.ccpa.disclosed_for_business_purpose_statement == (
        "Disclosed for a business purpose: A. Identifiers to Affiliates (companies of the same group)."
    )


def test_access_report_with_region_names_transfers_outside_it(store: GraphStore) -> None:
    r = access_report(store, KEY, POLICY, ALICE, region={"DE", "FR"}, now=NOW)
    assert r.transfers.region == ["DE", "FR"]
    assert r.transfers.statement == "Outside your region (DE, FR): DataBrokr Inc, SOS Hong Kong Ltd."
    assert {x.id: x.outside_region for x in r.recipients} == {"adnet": False, "brokr": True, "hk-affiliate": True}


def test_access_report_for_a_period(store: GraphStore) -> None:
    r = access_report(store, KEY, POLICY, ALICE, at("2026-02-10"), at("2026-02-28"), now=NOW)
    # categories whose recorded activity overlaps the period; recipients with a share event inside it
    assert [c.key for c in r.categories] == ["user.contact.email", "user.content"]
    assert [(x.id, x.event_ids) for x in r.recipients] == [("adnet", ["s2"])]
    assert r.header.period.statement == (
        "Recorded events from 2026-02-10 00:00 UTC up to (not including) 2026-02-28 00:00 UTC.")


def test_access_report_for_a_person_with_no_data(store: GraphStore) -> None:
    r = access_report(store, KEY, POLICY, CAROL, now=NOW)
    assert (r.data_found, r.subject_type, r.categories, r.recipients, r.purposes) == (False, None, [], [], [])
    assert r.confirmation == "No personal data about you is recorded."
    assert r.recipients_statement == "None: no disclosure of your data to any recipient is recorded."
    assert r.sources_statement == "None: no data is recorded."
    assert (r.ccpa.sold_statement, r.ccpa.shared_statement, r.ccpa.disclosed_for_business_purpose_statement) == (
        "None: no personal information about you was sold.",
        "None: no personal information about you was shared for cross-context behavioural advertising.",
        "None: no personal information about you was disclosed for a business purpose.",
    )
    assert (r.ccpa.categories_sold, r.ccpa.categories_shared, r.ccpa.categories_disclosed_for_business_purpose) == (
        [], [], [],
    )  # fmt: skip
    assert r.transfers.statement == "No disclosure of your data is recorded, so no transfer is recorded."
    assert r.processor_statement is None and r.evidence_event_ids == []


def test_access_report_for_a_period_with_no_events(store: GraphStore) -> None:
    r = access_report(store, KEY, POLICY, ALICE, at("2030-01-01"), at("2031-01-01"), now=NOW)
    assert (r.data_found, r.categories, r.recipients) == (False, [], [])
    assert r.confirmation == "No personal data about you is recorded in this period."


# -- Art. 19 ----------------------------------------------------------------------------------------
def test_art19_lists_every_recipient_with_contact_and_what_it_received(store: GraphStore) -> None:
    r = art19_report(store, KEY, ALICE, POLICY, now=NOW)
    assert [(x.id, x.contact, keys(x.categories), x.event_ids) for x in r.recipients] == [
        ("adnet", None, ["user.contact.email"], ["s2"]),
        ("brokr", None, ["user.contact.email"], ["s3"]),
        ("hk-affiliate", "privacy@sos-hk.example", ["user.contact.email", "user.name"], ["s1"]),
    ]
    assert r.recipients_without_contact == ["adnet", "brokr"]
    assert r.recipients_statement == (
        "3 recipient(s) to notify: AdNet GmbH, DataBrokr Inc, SOS Hong Kong Ltd. "
        "2 of them have no recorded contact details.")
    assert "Art. 19" in r.obligation and r.evidence_event_ids == ["s1", "s2", "s3"]
    bob = art19_report(store, KEY, BOB, POLICY, now=NOW)
    assert [(x.name, x.contact, x.event_ids) for x in bob.recipients] == [
        ("Hong Kong Police Force", "cyber@police.example", ["b2"])]
    assert bob.recipients_without_contact == []


def test_art19_for_a_person_with_no_data(store: GraphStore) -> None:
    r = art19_report(store, KEY, CAROL, now=NOW)  # the bundled policy by default
    assert (r.data_found, r.recipients, r.recipients_without_contact) == (False, [], [])
    assert r.recipients_statement == "No recipient to notify, as no disclosure of this person's data is recorded."


# -- CCPA -------------------------------------------------------------------------------------------
def test_ccpa_report_for_the_preceding_12_months(store: GraphStore) -> None:
    r = ccpa_report(store, POLICY, now=NOW)
    assert (r.header.period.since, r.header.period.until) == (datetime(2025, 6, 1, tzinfo=UTC), NOW)
    # collected: business (controller) data only; Customer Data is summarised apart
    collected = [(c.category.key, keys(c.sources), keys(c.purposes), c.people, c.events, ids(store, c.ref))
                 for c in r.collected]
    assert collected == [
        ("user.contact.email", ["third_party"], ["essential.service.operations.support", "marketing.advertising"],
         1, 4, ["c1", "s1", "s2", "s3"]),
        ("user.device.ip_address", ["automatic"], ["analytics.reporting"], 1, 2, ["c2", "u1"]),
        ("user.name", ["customer", "third_party"],
         ["essential.fraud_detection", "essential.service.operations.support"],
         2, 4, ["b1", "b2", "c1", "s1"]),
    ]
    assert r.collected_statement == (
        "Categories of personal information collected in the preceding 12 months: A. Identifiers.")
    # sold (the data broker), shared for advertising (the advertiser, and the broker's advertising use): separately,
    # by category of third party; the broker's disclosure is in both
    def listed(items: list[Any]) -> list[Any]:
        return [(d.category.key, keys(d.third_party_categories), [x.id for x in d.recipients], d.events,
                 ids(store, *d.flows)) for d in items]

    assert listed(r.sold) == [("user.contact.email", ["data_broker"], ["brokr"], 1, ["s3"])]
    assert r.sold_statement == "Sold in the preceding 12 months: A. Identifiers to Data brokers."
    assert listed(r.shared) == [("user.contact.email", ["advertiser", "data_broker"], ["adnet", "brokr"], 2,
                                 ["s2", "s3"])]
    assert r.shared_statement == (
        "Shared for cross-context behavioural advertising in the preceding 12 months: A. Identifiers to Advertisers "
        "and advertising networks; A. Identifiers to Data brokers.")
    # disclosed for a business purpose, with recipients
    business = [(d.category.key, keys(d.third_party_categories), [x.id for x in d.recipients], keys(d.purposes),
                 ids(store, *d.flows)) for d in r.business_purpose]
    assert business == [
        ("user.contact.email", ["affiliate"], ["hk-affiliate"], ["essential.service.operations.support"], ["s1"]),
        ("user.name", ["affiliate", "authority"], ["hk-affiliate", "hk-police"],
         ["essential.fraud_detection", "essential.service.operations.support"], ["b2", "s1"]),
    ]
    assert r.service_provider_statement.endswith("not listed above: User Content.")


def test_ccpa_none_statements_when_nothing_was_sold(store: GraphStore) -> None:
    r = ccpa_report(store, POLICY, at("2026-01-01"), at("2026-02-15"), now=NOW)  # s2 (15 Feb) is outside
    assert (r.sold, r.shared) == ([], [])
    assert r.sold_statement == "None: no personal information was sold in the period."
    assert r.shared_statement == (
        "None: no personal information was shared for cross-context behavioural advertising in the period.")
    assert [(d.events, ids(store, *d.flows)) for d in r.business_purpose] == [(1, ["s1"]), (2, ["b2", "s1"])]


def test_ccpa_for_a_period_with_no_events(store: GraphStore) -> None:
    r = ccpa_report(store, POLICY, at("2030-01-01"), at("2031-01-01"), now=NOW)
    assert (r.collected, r.sold, r.shared, r.business_purpose) == ([], [], [], [])
    assert r.collected_statement == "None: no personal information was collected in the period."
    assert r.sold_statement == "None: no personal information was sold in the period."
    assert r.business_purpose_statement == (
        "None: no personal information was disclosed for a business purpose in the period.")
    assert r.service_provider_statement == "No Customer Data was processed as a service provider in the period."


def test_preceding_12_months_are_the_whole_months_before_this_one() -> None:
    assert preceding_12_months(datetime(2028, 2, 29, 12, tzinfo=UTC)) == (
        datetime(2027, 2, 1, tzinfo=UTC), datetime(2028, 2, 1, tzinfo=UTC))
    assert preceding_12_months(datetime(2026, 1, 1, tzinfo=UTC)) == (
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def test_ccpa_categories_take_the_longest_prefix() -> None:
    assert ccpa_category("user.contact.email") == "A. Identifiers"
    assert ccpa_category("user.contact.organization") == "I. Professional or employment-related information"
    assert ccpa_category("user.device.ip_address") == "A. Identifiers"
    assert ccpa_category("user.device.cookie") == "F. Internet or other electronic network activity"
    assert ccpa_category("user.financial.credit_card") == "B. Customer records (Cal. Civ. Code §1798.80(e))"
    assert ccpa_category("user.location.precise") == "G. Geolocation data"
    assert ccpa_category("user.government_id.passport_number") == "L. Sensitive personal information"


# -- declared vs observed ---------------------------------------------------------------------------
EXERCISED = {
    "customer-data", "account-information", "log-data", "device-information",  # p1; c1, b1; c2; c2
    "location-approximate", "contact-import", "social-media-interactions",  # c2 (an IP address); c1; c1 (third party)
    "customer-data-on-instructions", "usage-analytics", "provide-services", "productivity-features",  # p1; u1 x3
    "affiliates", "by-law", "fraud-exchange", "advertisers-investors-marketing",  # s1; b2; b2; s2
}


def test_gaps_report_shows_the_aggregated_clause_exercised_when_flows_rested_on_it() -> None:
    """The store does not record identifiability, but the alerts do: aggregated data sent where only the aggregated
    clause allows it raised no alert, identified data there did."""
    aggregated = event("shared", event_id="a1", occurred_at="2026-02-01T09:00:00Z", recipient=BROKER,
                       data_categories=["user.behavior"], purpose="marketing.advertising", identifiability="aggregated")
    trained = event("used", event_id="a2", occurred_at="2026-02-01T10:00:00Z", data_categories=["user.behavior"],
                    purpose="train_ai_system", identifiability="deidentified")
    identified = {**aggregated, "event_id": "a3", "identifiability": "identified"}
    for stream, exercised in (([aggregated], True), ([trained], True), ([identified], False), ([], False)):
        store = SQLiteGraphStore(":memory:")
        handler = Handler(store, POLICY, KEY)
        handler.handle([validate_event(e, handler.taxonomy) for e in stream])
        status = {u.declaration.id: (u.status, u.why) for u in gaps_report(store, POLICY, now=NOW).unexercised}
        if exercised:
            assert "aggregated-any-purpose" not in status, stream
        else:
            expected = "not-observable" if stream else "never-exercised"
            assert status["aggregated-any-purpose"][0] == expected, stream


def test_gaps_report(store: GraphStore) -> None:
    r = gaps_report(store, POLICY, now=NOW)
    declared = [d.id for group in (POLICY.collections, POLICY.uses, POLICY.disclosures) for d in group]
    assert (r.declarations, r.exercised) == (len(declared), len(EXERCISED))
    assert [u.declaration.id for u in r.unexercised] == [d for d in declared if d not in EXERCISED]
    status = {u.declaration.id: u.status for u in r.unexercised}
    assert status["aggregated-any-purpose"] == "not-observable"
    assert status["payment-processors"] == "never-exercised"
    # support was only disclosed, never used: a disclosure does not exercise a use declaration
    assert status["service-requests"] == "never-exercised"
    # the advertiser got an email address, which the cookie clause does not cover
    assert status["third-party-cookies"] == "never-exercised"
    (flow,) = r.undeclared
    assert (flow.rule, flow.severity, flow.category.key, flow.purpose.key if flow.purpose else None) == (
        "undeclared-recipient-type", "critical", "user.contact.email", "marketing.advertising")
    assert [d for d, st in status.items() if st == "not-observable"] == ["aggregated-any-purpose"]
    assert flow.recipient is not None and (flow.recipient.name, flow.recipient.country) == ("DataBrokr Inc", "US")
    assert (flow.events, flow.people, ids(store, flow.alert_id)) == (1, 1, ["s3"])
    assert r.undeclared_statement == "1 undeclared flow(s) observed in the period: 1 critical."


def test_gaps_for_a_period_with_no_events(store: GraphStore) -> None:
    r = gaps_report(store, POLICY, at("2030-01-01"), at("2031-01-01"), now=NOW)
    assert r.exercised == 0 and r.undeclared == []
    assert r.undeclared_statement == "None: no flow the policy does not declare was observed in the period."
    before = gaps_report(store, POLICY, None, at("2026-03-01"), now=NOW)  # s3 is on 1 March: outside
    assert before.undeclared == []


def test_an_undeclared_flow_counts_its_events_and_people_in_the_period(store: GraphStore) -> None:
    h = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    later = [
        event("shared", event_id=f"late-{i}", subject_id=f"p{i}@example.com", recipient=BROKER,
              purpose="marketing.advertising", occurred_at=f"2026-05-0{i + 1}T00:00:00Z")
        for i in range(3)
    ]  # fmt: skip
    h.handle([validate_event(e, h.taxonomy) for e in later])
    r = gaps_report(store, POLICY, at("2026-05-02"), at("2026-06-01"), now=NOW)
    (flow,) = r.undeclared
    assert (flow.events, flow.people, flow.first_seen, flow.last_seen) == (2, 2, date(2026, 5, 2), date(2026, 5, 3))
    since = at("2026-05-02")
    assert ids(store, flow.alert_id, since=since) == ["late-1", "late-2"]


# -- Art. 30 ----------------------------------------------------------------------------------------
def test_ropa_report(store: GraphStore) -> None:
    r = ropa_report(store, POLICY, now=NOW)
    assert r.header.controller.contact_statement == "Contact details not stated in the policy."
    assert r.security_statement.startswith("Not stated in the policy")
    assert r.retention.statement == "The policy states no retention period and no criteria for determining it."
    acts = {a.purpose.key: a for a in r.activities}
    support = acts["essential.service.operations.support"]
    assert support.role == "controller"
    assert {d.id for d in support.declared_in} >= {"service-requests", "disputes-troubleshooting", "affiliates"}
    # "any contact information" and "otherwise communicate with" are about anyone (reading choice who-you-are)
    anyone = {c.id: c.data_subjects for c in POLICY.collections}["additional-information"]
    assert keys(support.data_subjects) == sorted(anyone) and "job_applicant" in anyone
    assert "user.contact.email" in keys(support.data_categories)
    assert keys(support.recipient_categories) == ["affiliate"]
    assert support.observed is not None
    assert (support.observed.events, [x.id for x in support.observed.recipients]) == (1, ["hk-affiliate"])
    assert [(f.kind, f.category.key, f.people, f.events, ids(store, f.ref)) for f in support.observed.flows] == [
        ("disclosure", "user.contact.email", 1, 1, ["s1"]), ("disclosure", "user.name", 1, 1, ["s1"])]
    assert support.third_countries_statement == (
        "The policy names no countries. Observed recipient countries: HK (third country).")
    ads = acts["marketing"]  # the narrowest declared purpose covering marketing.advertising
    assert ads.observed is not None and ads.observed.events == 2
    assert ids(store, *(f.ref for f in ads.observed.flows)) == ["s2", "s3"]
    assert keys(ads.observed.undeclared_recipient_types) == ["data_broker"]
    assert acts["analytics"].observed is not None  # "Monitor and analyze usage and trends": all of analytics
    assert acts["analytics"].observed.events == 1
    assert [(f.kind, ids(store, f.ref)) for f in acts["analytics"].observed.flows] == [("use", ["u1"])]
    assert acts["finance"].observed is None
    # Customer Data: the Art. 30(2) record, apart
    proc = {a.purpose.key: a for a in r.processor.activities}
    assert proc["essential.service"].observed is not None and proc["essential.service"].observed.events == 1
    assert keys(proc["essential.service"].data_subjects) == ["customer", "employee"]
    assert all(a.role == "processor" for a in r.processor.activities)
    assert "essential.service" not in {a.purpose.key for a in r.activities if a.role == "processor"}
    # declared vs observed, for the same period
    assert [(u.events, ids(store, u.alert_id)) for u in r.gaps.undeclared] == [(1, ["s3"])]


def test_operator_supplied_controller_contact_is_marked_as_such(store: GraphStore) -> None:
    org = Organisation(name="SOS Group Limited", contact="dpo@sos.example")
    r = ropa_report(store, POLICY, now=NOW, controller=org)
    assert r.header.controller.contact == "dpo@sos.example"
    assert r.header.controller.contact_statement == (
        "dpo@sos.example (supplied by the operator; not stated in the policy)")


def test_reports_never_write_to_the_store(store: GraphStore) -> None:
    before = (store.stats(), store.alerts(), store.flows())
    access_report(store, KEY, POLICY, ALICE, now=NOW)
    access_report(store, KEY, POLICY, CAROL, at("2026-01-01"), at("2026-02-01"), now=NOW)
    art19_report(store, KEY, ALICE, POLICY, now=NOW)
    ccpa_report(store, POLICY, now=NOW)
    gaps_report(store, POLICY, now=NOW)
    ropa_report(store, POLICY, now=NOW)
    assert (store.stats(), store.alerts(), store.flows()) == before


# -- formats ----------------------------------------------------------------------------------------
class _Text(HTMLParser):
    """Collects the visible text and checks the page loads nothing from outside."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.external: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        # links within the page (the contents) are its own; anything else would be loaded from elsewhere
        self.external += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    assert parser.external == [], "reports must carry no external assets"
    return " ".join(" ".join(parser.text).split())


def all_reports(store: GraphStore) -> dict[str, Report]:
    return {
        "access": access_report(store, KEY, POLICY, ALICE, now=NOW),
        "art19": art19_report(store, KEY, ALICE, POLICY, now=NOW),
        "ccpa": ccpa_report(store, POLICY, now=NOW),
        "gaps": gaps_report(store, POLICY, now=NOW),
        "ropa": ropa_report(store, POLICY, now=NOW),
    }


EXPECTED_TEXT = {
    "access": ["Access to your personal data", "SOS Hong Kong Ltd", "privacy@sos-hk.example", "DataBrokr Inc",
               "User Contact Email", "Sign-in with your Microsoft 365 (Office 365) work account",
               "The policy states no retention period and no criteria for determining it.",
               "Complaint to a supervisory authority", "Contact details not stated in the policy.",
               "Under the CCPA: Sold; shared for cross-context behavioural advertising.",
               "Under the CCPA: Disclosed for a business purpose."],
    "art19": ["Recipients to notify", "Hong Kong", "No contact details are recorded for: AdNet GmbH, DataBrokr Inc."],
    "ccpa": ["Personal information sold", "Personal information shared", "Sold in the preceding 12 months: "
             "A. Identifiers to Data brokers.", "Shared for cross-context behavioural advertising in the preceding 12 "
             "months: A. Identifiers to Advertisers and advertising networks; A. Identifiers to Data brokers.",
             "disclosed for a business purpose", "Hong Kong Police Force"],
    "gaps": ["Observed flows the policy does not declare", "critical", "DataBrokr Inc", "never exercised",
             "cannot be observed"],
    "ropa": ["Record of processing activities", "Essential for Operations Support", "Art. 30(2)",
             "Recipient types not declared for this purpose: Data brokers"],
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_TEXT))
def test_html_is_self_contained_and_says_what_it_should(store: GraphStore, kind: str) -> None:
    text = visible_text(render_html(all_reports(store)[kind]))
    for phrase in EXPECTED_TEXT[kind]:
        assert phrase in text, phrase


def test_html_states_none_for_an_empty_period(store: GraphStore) -> None:
    text = visible_text(render_html(ccpa_report(store, POLICY, at("2030-01-01"), at("2031-01-01"), now=NOW)))
    assert "None: no personal information was sold in the period." in text
    assert "None: no personal information was shared for cross-context behavioural advertising in the period." in text
    assert "None: no personal information was disclosed for a business purpose in the period." in text
    text = visible_text(render_html(access_report(store, KEY, POLICY, CAROL, now=NOW)))
    assert "No personal data about you is recorded." in text
    assert "None: no disclosure of your data to any recipient is recorded." in text


def test_html_escapes_what_the_events_say(store: GraphStore) -> None:
    evil = dict(HK, id="evil", name="<script>alert(1)</script> Ltd")
    handler = Handler(store, POLICY, KEY)
    handler.handle([validate_event(event("shared", event_id="x1", subject_id=CAROL, recipient=evil))])
    html = render_html(access_report(store, KEY, POLICY, CAROL, now=NOW))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in html


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join((page.extract_text() or "") for page in PdfReader(BytesIO(data)).pages).split())


def _weasyprint() -> None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"WeasyPrint is not usable here: {exc}")


# phrases short enough not to be wrapped inside a table cell (a wrapped line extracts with a space)
PDF_TEXT = {
    "access": ["Access to your personal data", "SOS Hong Kong Ltd", "DataBrokr Inc", "How long we keep it",
               "The policy states no retention period and no criteria for determining it.",
               "Complaint to a supervisory authority", "Page 1 of", "Under the CCPA: Sold; shared for"],
    "ccpa": ["Personal information sold", "Personal information shared", "A. Identifiers to Data brokers",
             "Hong Kong Police Force"],
    "ropa": ["Record of processing activities", "Processing as processor: Customer Data (Art. 30(2))",
             "Observed flows the policy does not declare", "Annex: the observed flows, with their references"],
}


@pytest.mark.parametrize("kind", sorted(PDF_TEXT))
def test_pdf_opens_and_its_text_is_the_report(store: GraphStore, kind: str) -> None:
    _weasyprint()
    data = render_pdf(all_reports(store)[kind])
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    for phrase in PDF_TEXT[kind]:
        assert phrase in text, phrase


def test_json_is_the_model_dump_with_stable_keys(store: GraphStore) -> None:
    import json

    report = access_report(store, KEY, POLICY, ALICE, now=NOW)
    data = json.loads(render_json(report))
    assert list(data)[:5] == ["kind", "header", "subject_id", "subject_type", "data_found"]
    assert type(report).model_validate(data) == report


def test_csv_tables(store: GraphStore) -> None:
    reports = all_reports(store)
    lines = render_csv(reports["access"]).splitlines()
    assert lines[0] == ("recipient_id,name,type,country,in_eea,contact,categories,purposes,ccpa_disclosure,"
                        "first_shared_at,last_shared_at,event_ids")
    assert lines[3] == ("hk-affiliate,SOS Hong Kong Ltd,affiliate,HK,no,privacy@sos-hk.example,"
                        "user.contact.email; user.name,essential.service.operations.support,business_purpose,"
                        "2026-02-01T09:00:00Z,2026-02-01T09:00:00Z,s1")
    assert ",sold; shared," in lines[2]  # the data broker's row: both kinds, in order
    ccpa = render_csv(reports["ccpa"], "business_purpose").splitlines()
    refs = reports["ccpa"].business_purpose[1].flows  # type: ignore[attr-defined]
    assert len(refs) == 2 and ccpa[2].endswith(",2," + "; ".join(refs))
    assert set(tables(reports["ropa"])) == {"activities", "flows", "transfers", "undeclared", "unexercised"}
    with pytest.raises(ReportFormatError, match="no table 'nope'"):
        render_csv(reports["gaps"], "nope")


def test_docs_list_every_report_model_and_key() -> None:
    from pathlib import Path

    from pydantic import BaseModel

    import schemas.regulator_reports
    import schemas.reports

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    modules = (schemas.reports, schemas.regulator_reports)
    for models, name in ((m, n) for m in modules for n in dir(m)):
        cls = getattr(models, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == models.__name__:
            section = doc.split(f"### {name}\n", 1)
            assert len(section) == 2, f"docs/reports.md has no section for {name}"
            table = section[1].split("\n### ", 1)[0]
            for field in cls.model_fields:
                assert f"| `{field}` |" in table, f"docs/reports.md does not document {name}.{field}"


def test_naive_period_bounds_are_utc(store: GraphStore) -> None:
    aware = ccpa_report(store, POLICY, at("2026-01-01"), at("2026-02-15"), now=NOW)
    naive = ccpa_report(store, POLICY, datetime(2026, 1, 1), datetime(2026, 2, 15), now=NOW)
    assert naive == aware
