"""The disclosure half of the policy judgement (policies.compliance): whether a disclosure is declared, to whom,
for what and where, and the helpers both halves share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies.closest import (
    a,
    allowed_purposes,
    any_recipient,
    closest_disclosure,
    declared_for_type,
    missing_text,
)
from policies.rules import (
    IDENTIFIED_WHERE_AGGREGATED_ONLY,
    PROCESSOR_BEYOND_INSTRUCTIONS,
    TRANSFER_OUTSIDE_DECLARED_COUNTRIES,
    UNDECLARED_DISCLOSURE_PURPOSE,
    UNDECLARED_RECIPIENT_TYPE,
)
from schemas.events import Recipient, RecipientType, Role
from schemas.policy import Collection, Disclosure, Policy
from schemas.taxonomy import covers

NO_CLAUSE = ("", "")


def any_covers(declared: list[str] | None, key: str) -> bool:
    return declared is None or any(covers(d, key) for d in declared)


def clause_of(d: Collection | Disclosure | None) -> tuple[str, str]:
    return (d.clause.section, d.clause.text) if d is not None else NO_CLAUSE


def _catch_all(d: Disclosure) -> bool:
    """An aggregated-only declaration for every recipient type and any purpose ("aggregated data may go anywhere").

    It holds for every flow, so it cannot tell which identified flows were meant to be aggregated: an identified
    flow only it would cover keeps its recipient-type or purpose finding (whose reason mentions it) instead of
    becoming ``identified-where-aggregated-only``, which is kept for declarations that single flows out.
    """
    return d.purposes == "any" and any_recipient(d)


class DisclosureRules:
    """Judging a disclosure: the declarations covering it, the recipient's country, Customer Data beyond the
    Customer's instructions, identified data where only aggregated data may go. A part of
    :class:`policies.compliance.PolicyEvaluator`, which provides the policy and its memo."""

    policy: Policy
    _memo: dict[tuple[Any, ...], Any]
    _declared_use_purposes: list[str]

    def _disclosure_purposes_cover(self, d: Disclosure, purpose: str) -> bool:
        if d.purposes == "any":
            return True
        key = ("disclosure-purposes", id(d), purpose)  # d is one of self.policy's declarations, alive as long as it
        found = self._memo.get(key)
        if found is None:
            declared = self._declared_use_purposes if d.purposes == "any-declared-use" else d.purposes
            found = self._memo[key] = any(covers(p, purpose) for p in declared)
        return found

    def _share_findings(
        self,
        add: Callable[..., None],
        role: Role,
        category: str,
        purpose: str,
        recipient: Recipient,
        aggregated: bool,
    ) -> None:
        recipient_type = recipient.type.value
        covered: dict[int, bool] = self._memo.setdefault(("cover", recipient_type, role, purpose, category), {})

        def cover(d: Disclosure) -> bool:
            found = covered.get(id(d))
            if found is None:
                found = covered[id(d)] = (
                    recipient_type in d.recipient_types
                    and role in d.roles
                    and self._disclosure_purposes_cover(d, purpose)
                    and any_covers(d.data_categories, category)
                )
            return found

        identified = [d for d in self.policy.disclosures if d.identifiability == "identified"]
        aggregated_only = [d for d in self.policy.disclosures if d.identifiability == "aggregated-only"]
        # aggregated or de-identified data may go wherever identified data may, and where aggregated-only clauses allow
        pool = identified + aggregated_only if aggregated else identified
        matching = [d for d in pool if cover(d)]
        if matching:
            if not aggregated:  # not personal data once aggregated: transfer limits concern personal data
                self._country_finding(add, category, purpose, recipient, matching)
            return
        if role is Role.PROCESSOR:
            self._processor_share_finding(add, category, purpose, recipient.type, pool)
            return
        only_aggregated = [] if aggregated else [d for d in aggregated_only if cover(d)]
        specific = [d for d in only_aggregated if not _catch_all(d)]
        if specific:
            add(
                IDENTIFIED_WHERE_AGGREGATED_ONLY,
                category,
                f"identified {category!r} disclosed to {a(recipient_type)} for {purpose!r}; the policy allows this "
                f"disclosure only for aggregated or de-identified data (declaration {specific[0].id!r})",
                clause_of(specific[0]),
            )
            return
        note = (
            f"; only aggregated or de-identified data may go to {a(recipient_type)} for {purpose!r} "
            f"(declaration {only_aggregated[0].id!r})"
            if only_aggregated
            else ""
        )
        mine = [d for d in pool if role in d.roles]
        closest = closest_disclosure(
            mine,
            recipient.type,
            role,
            lambda d: self._disclosure_purposes_cover(d, purpose),
            lambda d: any_covers(d.data_categories, category),
        )
        named = [d for d in mine if recipient.type in d.recipient_types and not any_recipient(d)]
        if not named:
            agnostic = [d for d in mine if any_recipient(d)]
            add(
                UNDECLARED_RECIPIENT_TYPE,
                category,
                f"{category!r} disclosed to {a(recipient_type)} for {purpose!r}; no clause of the policy names "
                f"{recipient_type} recipients"
                + (" for identified data" if only_aggregated else "")
                + (
                    f", and the clauses for any recipient allow only {allowed_purposes(agnostic, recipient.type)}"
                    if agnostic
                    else ""
                )
                + note,
                clause_of(closest if closest is not None and recipient.type in closest.recipient_types else None),
            )
            return
        assert closest is not None  # named is not empty
        purpose_ok = self._disclosure_purposes_cover(closest, purpose)
        category_ok = any_covers(closest.data_categories, category)
        add(
            UNDECLARED_DISCLOSURE_PURPOSE,
            category,
            f"{category!r} disclosed to {a(recipient_type)} for {purpose!r}; the closest declaration, {closest.id!r}, "
            f"does not cover it ({missing_text(closest, purpose, category, purpose_ok, category_ok)}). "
            f"Declared for {recipient_type}: {declared_for_type(mine, recipient.type)}" + note,
            clause_of(closest),
        )

    def _processor_share_finding(
        self,
        add: Callable[..., None],
        category: str,
        purpose: str,
        recipient_type: RecipientType,
        pool: list[Disclosure],
    ) -> None:
        """Customer Data disclosed beyond what the policy allows for it; quotes the Customer Data use clause."""
        proc = [u for u in self.policy.uses if u.role is Role.PROCESSOR]
        allowed = [d for d in pool if Role.PROCESSOR in d.roles]
        which = (
            f"only for {allowed_purposes(allowed, recipient_type)}"
            if any(recipient_type in d.recipient_types for d in allowed)
            else f"to no {recipient_type.value} recipient"
        )
        add(
            PROCESSOR_BEYOND_INSTRUCTIONS,
            category,
            f"Customer Data {category!r} disclosed to {a(recipient_type.value)} for {purpose!r}; SOS is only the "
            f"Customer's processor, and the policy lets Customer Data be disclosed {which}",
            (proc[0].clause.section, proc[0].clause.text) if proc else NO_CLAUSE,
        )

    def _country_finding(
        self, add: Callable[..., None], category: str, purpose: str, recipient: Recipient, matching: list[Disclosure]
    ) -> None:
        """A covered disclosure still breaks the policy when every declaration covering it names countries, and
        the recipient is in none of them (or does not say where it is)."""
        if any(d.countries is None for d in matching):
            return
        allowed = sorted({c for d in matching for c in d.countries or []})
        if recipient.country in allowed:
            return
        where = f"in {recipient.country}" if recipient.country else "whose country the event does not state"
        clause = matching[0].clause
        add(
            TRANSFER_OUTSIDE_DECLARED_COUNTRIES,
            category,
            f"{category!r} disclosed to {recipient.id!r} ({recipient.type.value}) {where} for {purpose!r}; the policy "
            f"declares this disclosure only to {', '.join(allowed) or 'no country'} (declaration {matching[0].id!r})",
            (clause.section, clause.text),
        )
