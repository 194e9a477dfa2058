"""Each compliance rule: events that must trigger it, and nearby events that must not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from policies import default_policy
from policies.compliance import RULES, PolicyEvaluator, Severity
from policies.consent import ConsentRecord, ConsentState
from policies.findings import Finding
from schemas.events import event_to_json, json_schema
from schemas.parsing import EventError, validate_event
from schemas.policy import Policy
from tests.factories import ADVERTISER, AFFILIATE, BROKER, event

POLICY = default_policy()
SUBJECT = "p_test_subject"
PARTNER = {"id": "northwind", "name": "Northwind Partners", "type": "business_partner", "country": "GB"}
INVESTOR = {"id": "harbour", "name": "Harbour Ventures", "type": "investor", "country": "HK"}
AUTHORITY = {"id": "hk-police", "name": "HK Police", "type": "authority", "country": "HK"}


def judge(ev: dict[str, Any], policy: Policy = POLICY) -> tuple[Finding, ...]:
    evaluator = PolicyEvaluator(policy)
    return evaluator.evaluate(validate_event(ev, policy.taxonomy()), SUBJECT)


def rules(ev: dict[str, Any], policy: Policy = POLICY) -> list[str]:
    return sorted({f.rule for f in judge(ev, policy)})


def variant(policy: Policy, *, add: list[dict[str, Any]] | None = None, **changes: dict[str, Any]) -> Policy:
    """The policy with some disclosure declarations changed (by id) or added, validated like a policy file."""
    data = policy.model_dump(mode="json")
    for d in data["disclosures"]:
        d.update(changes.get(d["id"], {}))
    data["disclosures"].extend(add or [])
    data["version"] = policy.version + "-variant"
    return Policy.model_validate(data)


def test_rule_ids_are_unique_and_stable() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {
        "undeclared-category",
        "undeclared-source",
        "undeclared-subject-type",
        "undeclared-purpose",
        "undeclared-recipient-type",
        "undeclared-disclosure-purpose",
        "processor-beyond-instructions",
        "identified-where-aggregated-only",
        "transfer-outside-declared-countries",
        "disclosure-after-withdrawal",
        "marketing-after-opt-out",
    } <= set(ids)
    assert all(r.severity in Severity for r in RULES)


# -- declared traffic raises nothing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ev",
    [
        event("collected"),
        event("collected", data_categories=["user.device.ip_address"], source={"type": "automatic"}),
        event("used", purpose="analytics.reporting", data_categories=["user.behavior"]),
        event("used", purpose="marketing.communications.email", data_categories=["user.contact.email"]),
        event("shared", recipient=AFFILIATE, purpose="essential.service.operations.support"),
        event("shared", recipient=PARTNER, purpose="marketing.communications"),
        event("shared", recipient=ADVERTISER, purpose="analytics.reporting", data_categories=["user.behavior"]),
        event("shared", recipient=AUTHORITY, purpose="essential.legal_obligation"),
        event(
            "shared",
            recipient=AUTHORITY,
            purpose="third_party_sharing.legal_obligation",
            role="processor",
            customer="acme",
            data_categories=["user.content.private"],
        ),
        event("used", role="processor", customer="acme", data_categories=["user.content.private"]),
    ],
    ids=lambda ev: f"{ev['kind']}-{ev.get('purpose', '')}-{ev.get('recipient', {}).get('type', '')}",
)
def test_declared_flows_raise_nothing(ev: dict[str, Any]) -> None:
    assert judge(ev) == ()


# -- the original rules --------------------------------------------------------------------------------------------


def test_undeclared_category_and_special_categories_are_critical() -> None:
    (health,) = judge(event("collected", data_categories=["user.health_and_medical"]))
    assert (health.rule, health.severity, health.category) == (
        "undeclared-category",
        "critical",
        "user.health_and_medical",
    )
    (age,) = judge(event("collected", data_categories=["user.demographic.age_range"]))
    assert (age.rule, age.severity) == ("undeclared-category", "high")
    assert rules(event("collected", data_categories=["user.contact.email"])) == []


def test_undeclared_source() -> None:
    bought = event("collected", data_categories=["user.device.device_id"], source={"type": "third_party"})
    (f,) = judge(bought)
    assert f.rule == "undeclared-source" and f.clause_section in ("Log data", "Device information")
    assert "from automatic" in f.reason
    assert rules({**bought, "source": {"type": "automatic"}}) == []


def test_undeclared_purpose() -> None:
    assert rules(event("used", purpose="train_ai_system", data_categories=["user.behavior"])) == ["undeclared-purpose"]
    assert rules(event("used", purpose="analytics.reporting", data_categories=["user.behavior"])) == []


def test_undeclared_recipient_type_names_the_aggregated_only_alternative() -> None:
    (f,) = judge(event("shared", recipient=BROKER, purpose="marketing.advertising"))
    assert f.rule == "undeclared-recipient-type" and f.severity == "critical"
    assert (f.recipient_id, f.recipient_type) == ("brokr", "data_broker")
    assert "aggregated-any-purpose" in f.reason
    # the closest clause is the one for any recipient, and the reason says what it allows
    assert f.clause_section == "By Law or to Protect Rights" and "essential.fraud_detection, finance" in f.reason


def test_undeclared_recipient_type_without_a_clause_for_any_recipient_quotes_nothing() -> None:
    narrow = Policy.model_validate(
        {
            **POLICY.model_dump(mode="json"),
            "disclosures": [
                d.model_dump(mode="json") for d in POLICY.disclosures if d.id not in ("by-law", "fraud-exchange")
            ],
        }
    )
    (f,) = judge(event("shared", recipient=BROKER, purpose="marketing.advertising"), narrow)
    assert f.rule == "undeclared-recipient-type" and f.clause_text == ""


def test_undeclared_subject_type() -> None:
    card = event("collected", data_categories=["user.financial.credit_card"], source={"type": "customer"})
    assert rules(card) == []
    applicant = {**card, "subject": {"id": "a@example.com", "type": "job_applicant"}}
    (f,) = judge(applicant)
    assert (f.rule, f.severity, f.category) == ("undeclared-subject-type", "high", "user.financial.credit_card")
    assert f.clause_section == "Community and Account Information" and "Customers that purchase" in f.clause_text
    # the source and the type of person must be declared together: the e-mail of a visitor, supplied by the Customer
    visitor_email = event("collected", subject={"id": "v@example.com", "type": "visitor"}, source={"type": "customer"})
    assert rules(visitor_email) == ["undeclared-subject-type"]
    assert rules({**visitor_email, "source": {"type": "data_subject"}}) == []
    # uses and disclosures are judged on every declaration of the category
    paid = event("used", purpose="finance", data_categories=["user.financial.credit_card"])
    assert rules(paid) == []
    assert rules({**paid, "subject": applicant["subject"]}) == ["undeclared-subject-type"]
    # a source that is not declared is reported as such, not as a subject type too
    assert rules({**applicant, "source": {"type": "automatic"}}) == ["undeclared-source"]


def test_undeclared_disclosure_purpose_quotes_the_clause_for_that_recipient_type() -> None:
    (f,) = judge(event("shared", recipient=ADVERTISER, purpose="personalize.profiling"))
    assert f.rule == "undeclared-disclosure-purpose"
    assert f.clause_text and f.clause_section
    assert rules(event("shared", recipient=ADVERTISER, purpose="marketing.advertising")) == []


def test_processor_beyond_instructions_for_use_and_disclosure() -> None:
    customer_data = {"role": "processor", "customer": "acme", "data_categories": ["user.content.private"]}
    (used,) = judge(event("used", purpose="marketing.communications.email", **customer_data))
    assert used.rule == "processor-beyond-instructions" and "Customer Data" in used.clause_text
    (shared,) = judge(event("shared", recipient=BROKER, purpose="analytics.reporting", **customer_data))
    assert shared.rule == "processor-beyond-instructions"
    assert rules(event("used", purpose="essential.service", **customer_data)) == []


# -- identified-where-aggregated-only ------------------------------------------------------------------------------

AGGREGATED_RESEARCH = {
    "id": "aggregated-research",
    "clause": {"section": "Research", "text": "We share aggregated usage statistics with partners for research."},
    "recipient_types": ["business_partner"],
    "purposes": ["train_ai_system"],
    "identifiability": "aggregated-only",
}
RESEARCH_POLICY = variant(POLICY, add=[AGGREGATED_RESEARCH])


def test_identified_data_where_only_aggregated_data_is_declared() -> None:
    share = event("shared", recipient=PARTNER, purpose="train_ai_system", data_categories=["user.behavior"])
    (f,) = judge(share, RESEARCH_POLICY)
    assert f.rule == "identified-where-aggregated-only" and f.severity == "high"
    assert f.clause_text == AGGREGATED_RESEARCH["clause"]["text"]  # type: ignore[index]
    assert f.policy_version == POLICY.version + "-variant"
    # pseudonymised data is still personal data
    assert rules({**share, "identifiability": "pseudonymised"}, RESEARCH_POLICY) == ["identified-where-aggregated-only"]
    # aggregated or de-identified data is what the declaration allows
    assert rules({**share, "identifiability": "aggregated"}, RESEARCH_POLICY) == []
    assert rules({**share, "identifiability": "deidentified"}, RESEARCH_POLICY) == []
    # without the aggregated-only declaration the same flow is an undeclared purpose for that recipient type
    assert rules(share) == ["undeclared-disclosure-purpose"]


def test_the_s_plus_catch_all_aggregated_clause_covers_aggregated_data_only() -> None:
    aggregated = event("shared", recipient=BROKER, purpose="marketing.advertising", identifiability="aggregated")
    assert judge(aggregated) == ()
    assert rules({**aggregated, "identifiability": "identified"}) == ["undeclared-recipient-type"]
    assert rules({**aggregated, "identifiability": "pseudonymised"}) == ["undeclared-recipient-type"]
    # "may use it for any business purpose": aggregated data may be used for an otherwise undeclared purpose
    use = event("used", purpose="train_ai_system", data_categories=["user.behavior"], identifiability="aggregated")
    assert judge(use) == ()
    assert rules({**use, "identifiability": "identified"}) == ["undeclared-purpose"]


def test_aggregated_customer_data_stays_within_the_processor_role() -> None:
    ev = event(
        "shared",
        recipient=BROKER,
        purpose="analytics.reporting",
        role="processor",
        customer="acme",
        data_categories=["user.content.private"],
        identifiability="aggregated",
    )
    assert rules(ev) == ["processor-beyond-instructions"]  # the aggregated clause declares controller data only


def test_identifiability_is_optional_and_defaults_to_identified() -> None:
    parsed = validate_event(event("shared"))
    assert parsed.identifiability == "identified"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        validate_event(event("shared", identifiability="anonymous-ish"))
    # a version-1 producer's event serialises exactly as before: the default is not written out
    assert "identifiability" not in event_to_json(parsed)
    assert '"identifiability":"aggregated"' in event_to_json(
        validate_event(event("used", identifiability="aggregated"))
    )


# -- transfer-outside-declared-countries ---------------------------------------------------------------------------

ASIA_POLICY = variant(POLICY, affiliates={"countries": ["HK", "SG"]})


def test_transfer_outside_declared_countries() -> None:
    share = event("shared", recipient={**AFFILIATE, "country": "US"}, purpose="essential.service.operations.support")
    (f,) = judge(share, ASIA_POLICY)
    assert f.rule == "transfer-outside-declared-countries"
    assert "US" in f.reason and "HK, SG" in f.reason
    assert f.clause_section == "Affiliates"
    # a declared country, or a policy naming no countries, raises nothing
    assert rules({**share, "recipient": AFFILIATE}, ASIA_POLICY) == []
    assert rules({**share, "recipient": {**AFFILIATE, "country": "SG"}}, ASIA_POLICY) == []
    assert rules(share) == []
    # a recipient whose country is not stated cannot be shown to be inside the declared countries
    no_country = {k: v for k, v in AFFILIATE.items() if k != "country"}
    assert rules({**share, "recipient": no_country}, ASIA_POLICY) == ["transfer-outside-declared-countries"]
    # aggregated data is not personal data
    assert rules({**share, "identifiability": "aggregated"}, ASIA_POLICY) == []


def test_another_declaration_without_countries_also_covering_the_flow_lifts_the_limit() -> None:
    fraud = event("shared", recipient={**AFFILIATE, "country": "US"}, purpose="essential.fraud_detection")
    assert rules(fraud, ASIA_POLICY) == []  # fraud-exchange (and by-law) name no countries
    both = variant(ASIA_POLICY, **{"fraud-exchange": {"countries": ["GB"]}})
    assert rules(fraud, both) == []  # by-law still names none
    every = variant(both, **{"by-law": {"countries": ["GB"]}})
    assert rules(fraud, every) == ["transfer-outside-declared-countries"]


def test_an_undeclared_disclosure_is_not_also_judged_on_countries() -> None:
    share = event("shared", recipient={**AFFILIATE, "country": "US"}, purpose="train_ai_system")
    assert rules(share, ASIA_POLICY) == ["undeclared-disclosure-purpose"]


# -- what every finding carries ------------------------------------------------------------------------------------


def test_a_finding_names_rule_event_subject_category_purpose_recipient_clause_and_version() -> None:
    ev = event("shared", event_id="ev-evidence-1", recipient=ADVERTISER, purpose="personalize.profiling")
    (f,) = judge(ev)
    assert (f.rule, f.event_id, f.subject, f.category, f.purpose) == (
        "undeclared-disclosure-purpose",
        "ev-evidence-1",
        SUBJECT,
        "user.contact.email",
        "personalize.profiling",
    )
    assert (f.recipient_id, f.recipient_type, f.policy_version) == ("adnet", "advertiser", POLICY.version)
    assert f.clause_text in {d.clause.text for d in POLICY.disclosures}
    assert "alice@example.com" not in repr(f)  # only the pseudonym


def test_one_finding_per_category() -> None:
    ev = event("shared", recipient=BROKER, purpose="marketing", data_categories=["user.contact.email", "user.name"])
    assert sorted(f.category for f in judge(ev)) == ["user.contact.email", "user.name"]


# -- consent: disclosure-after-withdrawal and marketing-after-opt-out ----------------------------------------------

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def withdrawal(
    at: datetime, *, purposes: tuple[str, ...] = (), categories: tuple[str, ...] = (), event_id: str = "w-1"
) -> ConsentRecord:
    return ConsentRecord(event_id, "consent_withdrawn", SUBJECT, at, purposes, categories)


def opt_out(at: datetime, scope: str = "marketing", event_id: str = "o-1") -> ConsentRecord:
    return ConsentRecord(event_id, "opted_out", SUBJECT, at, (scope,))


def consent_rules(ev: dict[str, Any], *records: ConsentRecord) -> list[str]:
    evaluator = PolicyEvaluator(POLICY)
    parsed = validate_event(ev, POLICY.taxonomy())
    return sorted({f.rule for f in evaluator.evaluate(parsed, SUBJECT, ConsentState(SUBJECT, records))})


NEWSLETTER = event("used", purpose="marketing.communications.email", occurred_at="2026-03-01T10:00:00Z")
PARTNER_PROMO = event(
    "shared", recipient=PARTNER, purpose="marketing.communications", occurred_at="2026-03-01T10:00:00Z"
)


def test_marketing_after_opt_out() -> None:
    before = T0 - timedelta(days=1)
    assert consent_rules(NEWSLETTER, opt_out(before)) == ["marketing-after-opt-out"]
    assert consent_rules(PARTNER_PROMO, opt_out(before)) == ["marketing-after-opt-out"]
    # the opt-out must come first: not after, not at the same instant
    assert consent_rules(NEWSLETTER, opt_out(T0 + timedelta(seconds=1))) == []
    assert consent_rules(NEWSLETTER, opt_out(T0)) == []
    # a narrower opt-out covers only its own branch
    assert consent_rules(NEWSLETTER, opt_out(before, "marketing.communications.sms")) == []
    assert consent_rules(NEWSLETTER, opt_out(before, "marketing.communications.email")) == ["marketing-after-opt-out"]
    # service messages are not marketing
    service = {**NEWSLETTER, "purpose": "essential.service.notifications.email"}
    assert consent_rules(service, opt_out(before)) == []
    # no consent state, no consent finding
    assert rules(NEWSLETTER) == []


def test_marketing_after_opt_out_says_so_without_the_opt_out_event_and_quotes_the_clause_it_overrides() -> None:
    evaluator = PolicyEvaluator(POLICY)
    parsed = validate_event({**NEWSLETTER, "event_id": "news-1"}, POLICY.taxonomy())
    (f,) = evaluator.evaluate(parsed, SUBJECT, ConsentState(SUBJECT, (opt_out(T0 - timedelta(hours=1)),)))
    assert (f.rule, f.event_id, f.subject, f.category, f.purpose) == (
        "marketing-after-opt-out",
        "news-1",
        SUBJECT,
        "user.contact.email",
        "marketing.communications.email",
    )
    assert "opted out of 'marketing'" in f.reason and f.clause_section == "How We Use Information" and f.clause_text
    assert "o-1" not in f.reason  # nothing of the opt-out that would outlive the person's erasure in the alert
    assert f.policy_version == POLICY.version


def test_disclosure_after_withdrawal_of_all_consent() -> None:
    before = T0 - timedelta(days=1)
    analytics = event("shared", recipient=ADVERTISER, purpose="analytics.reporting", occurred_at="2026-03-01T10:00:00Z")
    assert consent_rules(analytics, withdrawal(before)) == ["disclosure-after-withdrawal"]
    assert consent_rules(NEWSLETTER, withdrawal(before)) == ["disclosure-after-withdrawal"]
    # processing on another legal basis goes on: service, security, legal obligations, billing
    for purpose in ("essential.service.operations.support", "essential.legal_obligation", "finance"):
        assert consent_rules({**NEWSLETTER, "purpose": purpose}, withdrawal(before)) == [], purpose
    assert consent_rules(analytics, withdrawal(T0 + timedelta(minutes=1))) == []


def test_a_withdrawal_limited_to_purposes_or_categories_stops_only_those() -> None:
    before = T0 - timedelta(days=1)
    location = event(
        "collected",
        data_categories=["user.location.precise"],
        source={"type": "automatic"},
        purpose="functional.service",
        occurred_at="2026-03-01T10:00:00Z",
    )
    gps_only = withdrawal(before, categories=("user.location",))
    assert consent_rules(location, gps_only) == ["disclosure-after-withdrawal"]
    assert consent_rules({**location, "data_categories": ["user.device.ip_address"]}, gps_only) == []
    # naming a purpose stops it, even an otherwise exempt one
    security = {**NEWSLETTER, "purpose": "essential.service.security"}
    assert consent_rules(security, withdrawal(before, purposes=("essential.service.security",))) == [
        "disclosure-after-withdrawal"
    ]
    assert consent_rules(NEWSLETTER, withdrawal(before, purposes=("analytics",))) == []


def test_opt_out_and_withdrawal_together_and_aggregated_data() -> None:
    before = T0 - timedelta(days=1)
    both = (opt_out(before), withdrawal(before, event_id="w-2"))
    assert consent_rules(NEWSLETTER, *both) == ["disclosure-after-withdrawal", "marketing-after-opt-out"]
    assert consent_rules({**NEWSLETTER, "identifiability": "aggregated"}, *both) == []
    # consent findings come on top of policy findings
    broker = event("shared", recipient=BROKER, purpose="marketing", occurred_at="2026-03-01T10:00:00Z")
    assert consent_rules(broker, opt_out(before)) == ["marketing-after-opt-out", "undeclared-recipient-type"]


# -- the consent events in the contract ----------------------------------------------------------------------------


def consent_event(kind: str, **fields: Any) -> dict[str, Any]:
    ev = {
        k: v
        for k, v in event("used").items()
        if k in ("schema_version", "event_id", "occurred_at", "emitted_by", "subject")
    }
    return {**ev, "kind": kind, **fields}


def test_consent_events_are_part_of_the_v1_contract_and_its_json_schema() -> None:
    import jsonschema

    withdrawn = validate_event(consent_event("consent_withdrawn", purposes=["marketing", "analytics"]))
    assert withdrawn.kind == "consent_withdrawn" and withdrawn.purposes == ["marketing", "analytics"]  # type: ignore[union-attr]
    raw_opt_out = consent_event("opted_out")
    opted = validate_event(raw_opt_out)
    assert opted.kind == "opted_out" and opted.scope == "marketing"  # type: ignore[union-attr]
    assert validate_event(consent_event("opted_out", scope="marketing.communications.email"))
    for bad in (
        consent_event("opted_out", scope="analytics"),  # not marketing: that is a consent withdrawal
        consent_event("consent_withdrawn", purposes=[]),
        consent_event("consent_withdrawn", purposes=["no.such.purpose"]),
        consent_event("opted_out", data_categories=["user.name"]),  # unknown field for this kind
        {**consent_event("consent_withdrawn"), "schema_version": 2},
    ):
        with pytest.raises(EventError):
            validate_event(bad)

    schema = json_schema()
    assert set(schema["discriminator"]["mapping"]) == {
        "collected",
        "used",
        "shared",
        "consent_withdrawn",
        "opted_out",
        "erased",
    }
    validator = jsonschema.Draft202012Validator(schema)
    for good in (consent_event("consent_withdrawn"), consent_event("opted_out", scope="marketing"), event("shared")):
        assert not list(validator.iter_errors(good)), good
    assert list(validator.iter_errors(consent_event("consent_withdrawn", colour="blue")))
    # the v1 round trip: what a producer sends is what is written back
    assert json.loads(event_to_json(opted)) == raw_opt_out


def test_an_opt_out_of_sale_and_sharing_records_its_signal_and_old_opt_outs_stay_valid() -> None:
    import jsonschema

    gpc = consent_event("opted_out", scope="sale_and_sharing", signal="gpc")
    parsed = validate_event(gpc)
    assert (parsed.scope, parsed.signal) == ("sale_and_sharing", "gpc")  # type: ignore[union-attr]
    assert json.loads(event_to_json(parsed)) == gpc  # the signal goes back on the wire as it came
    asked = validate_event(consent_event("opted_out", scope="sale_and_sharing"))
    assert asked.signal == "user_request"  # type: ignore[union-attr]
    old = validate_event(consent_event("opted_out"))  # an event of before signals: a request to stop marketing
    assert (old.scope, old.signal) == ("marketing", "user_request")  # type: ignore[union-attr]
    problems = {
        "gpc for marketing": (consent_event("opted_out", signal="gpc"), "scope must be 'sale_and_sharing'"),
        "unknown signal": (consent_event("opted_out", scope="sale_and_sharing", signal="dnt"), "signal"),
        "sale as a purpose": (consent_event("opted_out", scope="sale"), "unknown data use"),
    }
    for bad, said in problems.values():
        with pytest.raises(EventError, match=said):
            validate_event(bad)
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not list(validator.iter_errors(gpc))
    assert list(validator.iter_errors({**gpc, "signal": "dnt"}))


def test_lineage_schema_shows_the_consent_events() -> None:
    import io

    from lineage.cli import main

    out = io.StringIO()
    assert main(["schema"], out, io.StringIO()) == 0
    defs = json.loads(out.getvalue())["$defs"]
    assert {"ConsentWithdrawn", "OptedOut"} <= set(defs)
    assert defs["OptedOut"]["properties"]["scope"]["default"] == "marketing"
    assert "identifiability" in defs["DataShared"]["properties"]


def test_consent_events_raise_no_finding_themselves() -> None:
    parsed = validate_event(consent_event("consent_withdrawn"))
    assert PolicyEvaluator(POLICY).evaluate(parsed, SUBJECT) == ()


# -- one evaluator for a whole stream --------------------------------------------------------------------------------


def test_an_evaluator_judges_each_event_as_a_fresh_one_would_whatever_it_judged_before() -> None:
    """The evaluator remembers which event shapes keep to the policy; events differing from a remembered one in any
    judged field (source, recipient type or country, identifiability, purpose, categories, role, consent) must
    still get their own findings, with their own ids."""
    share = event("shared", recipient=AFFILIATE, purpose="essential.service.operations.support")
    stream = [
        event("collected", event_id="c-ok"),
        event("collected", event_id="c-src", source={"type": "automatic"}),
        event("collected", event_id="c-cat", data_categories=["user.contact.email", "user.health_and_medical"]),
        {**share, "event_id": "s-ok"},
        {**share, "event_id": "s-us", "recipient": {**AFFILIATE, "country": "US"}},
        {**share, "event_id": "s-us-other", "recipient": {**AFFILIATE, "id": "sos-other", "country": "US"}},
        {**share, "event_id": "s-type", "recipient": BROKER},
        {**share, "event_id": "s-agg", "recipient": BROKER, "identifiability": "aggregated"},
        {**share, "event_id": "s-purpose", "purpose": "train_ai_system"},
        {**NEWSLETTER, "event_id": "n-ok"},
        {**NEWSLETTER, "event_id": "n-proc", "role": "processor", "customer": "acme"},
    ]
    opted = ConsentState(SUBJECT, (opt_out(T0 - timedelta(days=1)),))
    # a withdrawal and an opt-out of sale: a shape first met with consent that matters is remembered too
    others = ConsentState(SUBJECT, (withdrawal(T0 - timedelta(days=2)), opt_out(T0, "sale_and_sharing", "o-2")))
    later = ConsentState(SUBJECT, (opt_out(T0 + timedelta(days=1)),))  # after the events: nothing counts
    shared = PolicyEvaluator(ASIA_POLICY)
    for n, order in enumerate(((opted, others, later, None), (None, later, others, opted))):
        for ev in stream:
            for consent in order:
                # each time another event (id, time) of the same shape; the findings remembered must not leak them
                each = {**ev, "event_id": f"{ev['event_id']}-{n}", "occurred_at": f"2026-03-01T10:0{n}:00Z"}
                parsed = validate_event(each, POLICY.taxonomy())
                subject = f"{SUBJECT}-{n}"
                got = shared.evaluate(parsed, subject, consent)
                assert got == PolicyEvaluator(ASIA_POLICY).evaluate(parsed, subject, consent), each["event_id"]
                assert all(f.event_id == each["event_id"] and f.subject == subject for f in got)
    judged = {ev["event_id"]: {f.rule for f in shared.evaluate(validate_event(ev), SUBJECT, opted)} for ev in stream}
    assert judged["c-ok"] == judged["s-ok"] == judged["s-agg"] == set()
    assert judged["c-src"] == {"undeclared-source"} and judged["s-us"] == {"transfer-outside-declared-countries"}
    assert judged["n-ok"] == {"marketing-after-opt-out"}
