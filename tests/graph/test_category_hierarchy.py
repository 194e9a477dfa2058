"""A declared category covers its descendants: 'billing address' declares the street, 'name' the first name."""

from __future__ import annotations

import pytest

from policies import default_policy
from policies.compliance import PolicyEvaluator
from schemas.parsing import validate_event
from tests.factories import event

POLICY = default_policy()
EVALUATOR = PolicyEvaluator(POLICY)


def rules(**fields: object) -> list[str]:
    ev = validate_event(event("collected", **fields), POLICY.taxonomy())
    return [f.rule for f in EVALUATOR.evaluate(ev, "p_test")]


@pytest.mark.parametrize("category", ["user.contact.address.street", "user.name.first", "user.financial.credit_card"])
def test_descendants_of_declared_categories_are_declared(category: str) -> None:
    assert rules(data_categories=[category], source={"type": "customer"}) == []


@pytest.mark.parametrize(
    "category", ["user.health_and_medical.genetic", "user.authorization.biometric", "user.biometric"]
)
def test_siblings_and_undeclared_branches_are_not(category: str) -> None:
    assert rules(data_categories=[category], source={"type": "customer"}) == ["undeclared-category"]
