"""Which disclosures are sold, shared or for a business purpose under the CCPA (policies/sale.py): the table the
rule sale-after-opt-out and the CCPA report share, and the declarations a policy marks."""

from __future__ import annotations

import pytest

from policies import default_policy
from policies.sale import SaleClassifier, classification_rule
from schemas.policy import Clause, Disclosure

S_PLUS = SaleClassifier(default_policy())


@pytest.mark.parametrize(
    ("recipient_type", "purpose", "category", "kinds"),
    [
        ("advertiser", "analytics.reporting", "user.behavior", {"shared"}),
        ("data_broker", "essential.service", "user.contact.email", {"sold"}),
        ("data_broker", "marketing.advertising.third_party", "user.contact.email", {"sold", "shared"}),
        ("affiliate", "marketing.advertising.third_party.targeted", "user.name", {"shared"}),
        ("business_partner", "marketing.communications", "user.name", {"sold"}),
        ("business_partner", "marketing.advertising", "user.name", {"shared"}),
        ("investor", "sales", "user.contact.email", {"sold"}),
        # the S Plus policy marks third parties' cookies that track across other websites as sharing
        ("other_third_party", "analytics", "user.device.cookie_id", {"shared"}),
        ("other_third_party", "analytics", "user.behavior.browsing_history", {"shared"}),
        ("other_third_party", "essential.fraud_detection", "user.device.ip_address", set()),
        ("business_partner", "analytics.reporting", "user.behavior", set()),
        ("affiliate", "marketing.communications", "user.name", set()),
        ("service_provider", "essential.service.payment_processing", "user.financial", set()),
        ("service_provider", "analytics", "user.device.cookie_id", set()),  # the mark names other third parties
        ("authority", "essential.legal_obligation", "user.name", set()),
        ("successor", "operations.business_transfer", "user.account", set()),  # §1798.140(ad)(2)(C)
    ],
)
def test_the_s_plus_classification(recipient_type: str, purpose: str, category: str, kinds: set[str]) -> None:
    assert S_PLUS.kinds(recipient_type, purpose, category, "controller") == kinds


def test_a_declaration_marked_as_a_sale_makes_its_flows_sold_and_only_those() -> None:
    base = default_policy()
    sale = Disclosure(
        id="research-partners",
        clause=Clause(section="Research", text="We sell aggregated usage insights with research partners."),
        recipient_types=["business_partner"],
        purposes=["analytics"],
        data_categories=["user.behavior"],
        ccpa=["sale"],
    )
    marked = SaleClassifier(base.model_copy(update={"disclosures": [*base.disclosures, sale], "source": None}))
    assert marked.kinds("business_partner", "analytics.reporting", "user.behavior", "controller") == {"sold"}
    assert marked.marking("business_partner", "analytics.reporting", "user.behavior", "controller") == sale
    assert marked.kinds("business_partner", "analytics.reporting", "user.name", "controller") == set()  # category
    assert marked.kinds("business_partner", "essential.service", "user.behavior", "controller") == set()  # purpose
    assert marked.kinds("business_partner", "analytics", "user.behavior", "processor") == set()  # role
    assert "'research-partners' (sale)" in classification_rule(marked)
    assert "'third-party-cookies' (sharing)" in classification_rule(S_PLUS)
