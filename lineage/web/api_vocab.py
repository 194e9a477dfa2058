"""What the page needs to speak human: the labels of taxonomy keys, recipient and source types and the systems events
name, the compliance rules, and what the policy declares of each recipient type (readers)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from lineage.audit_actions import ACTIONS
from lineage.web.auth import REFUSALS, requires
from lineage.web.console import Console
from lineage.web.models import RecipientTypeInfo, RuleInfo, Vocabulary
from lineage.web.tokens import Principal, Role
from policies.compliance import RULES
from reports.vocab import RECIPIENT_TYPE_LABELS, SOURCE_TYPE_LABELS
from schemas.policy import Policy
from schemas.taxonomy import Dimension


def declared(policy: Policy, recipient_type: str) -> Literal["identified", "aggregated-only", "no"]:
    """Whether the policy declares disclosures to a type of recipient: of identified data, of aggregated or
    de-identified data only, or not at all."""
    kinds = {d.identifiability for d in policy.disclosures if recipient_type in d.recipient_types}
    return "identified" if "identified" in kinds else "aggregated-only" if kinds else "no"


def declared_purposes(policy: Policy, recipient_type: str) -> list[str] | None:
    """The purposes the policy declares disclosures of identified data to a type of recipient for (None: any)."""
    purposes: set[str] = set()
    for d in policy.disclosures:
        if recipient_type not in d.recipient_types or d.identifiability != "identified":
            continue
        if d.purposes == "any":
            return None
        if d.purposes == "any-declared-use":
            purposes.update(p for u in policy.uses if u.role in d.roles for p in u.purposes)
        else:
            purposes.update(d.purposes)
    return sorted(purposes)


def vocabulary(policy: Policy) -> Vocabulary:
    """The policy's vocabulary for the page (computed once per console)."""
    taxonomy = policy.taxonomy()

    def labels(dimension: Dimension) -> dict[str, str]:
        return {key: taxonomy.label(dimension, key) for key in sorted(taxonomy.keys(dimension))}

    return Vocabulary(
        categories=labels(Dimension.DATA_CATEGORY),
        purposes=labels(Dimension.DATA_USE),
        subjects=labels(Dimension.DATA_SUBJECT),
        recipient_types={
            key: RecipientTypeInfo(
                label=text, declared=declared(policy, key), declared_purposes=declared_purposes(policy, key)
            )
            for key, text in RECIPIENT_TYPE_LABELS.items()
        },
        source_types=dict(SOURCE_TYPE_LABELS),
        systems=dict(policy.systems),
        rules=[RuleInfo(id=r.id, title=r.title, severity=r.severity.value) for r in RULES],
        audit_actions=dict(ACTIONS),
    )


def vocabulary_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["flows"])
    readers = requires(console.tokens, Role.DPO, Role.AUDITOR)
    answer = vocabulary(console.policy)

    @r.get("/api/vocabulary", response_model=Vocabulary, responses=REFUSALS)
    def vocabulary_of_the_policy(_: Principal = Depends(readers)) -> Vocabulary:  # noqa: B008
        """Human names for every key the other answers carry, the compliance rules (ids, titles, severities), and
        whether the policy declares disclosures to each recipient type. Carries no personal data."""
        return answer

    return r
