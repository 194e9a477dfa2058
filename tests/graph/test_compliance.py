"""Each compliance rule: events that must trigger it, and nearby events that must not."""

from __future__ import annotations

from typing import Any

import pytest

from graph.changes import Finding
from graph.compliance import RULES, PolicyEvaluator, Severity
from policies import default_policy
from schemas.events import event_to_json, validate_event
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
        "undeclared-purpose",
        "undeclared-recipient-type",
        "undeclared-disclosure-purpose",
        "processor-beyond-instructions",
        "identified-where-aggregated-only",
        "transfer-outside-declared-countries",
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
    assert "aggregated-any-purpose" in f.reason and f.clause_text == ""


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
    assert f.policy_version == "2024.1-variant"
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
    assert rules(fraud, ASIA_POLICY) == []  # fraud-exchange names no countries
    both = variant(ASIA_POLICY, **{"fraud-exchange": {"countries": ["GB"]}})
    assert rules(fraud, both) == ["transfer-outside-declared-countries"]


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
