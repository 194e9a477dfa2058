"""Declared vs observed: pure evaluation of an event against the policy declaration in force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from policies.closest import (
    a,
    closest_collection,
    most_specific,
)
from policies.consent import ConsentRecord, ConsentState
from policies.disclosures import NO_CLAUSE, DisclosureRules, any_covers, clause_of
from policies.findings import Finding
from policies.rules import (  # the rule table lives in policies/rules.py; re-exported for the callers of this module
    DISCLOSURE_AFTER_WITHDRAWAL,
    IDENTIFIED_WHERE_AGGREGATED_ONLY,
    MARKETING_AFTER_OPT_OUT,
    PROCESSOR_BEYOND_INSTRUCTIONS,
    RULES,
    SALE_AFTER_OPT_OUT,
    SPECIAL_CATEGORIES,
    TRANSFER_OUTSIDE_DECLARED_COUNTRIES,
    UNDECLARED_CATEGORY,
    UNDECLARED_DISCLOSURE_PURPOSE,
    UNDECLARED_PURPOSE,
    UNDECLARED_RECIPIENT_TYPE,
    UNDECLARED_SOURCE,
    UNDECLARED_SUBJECT_TYPE,
    Rule,
    Severity,
)
from policies.sale import SaleClassifier
from schemas.events import (
    DATA_EVENTS,
    AnyEvent,
    DataCollected,
    DataEvent,
    DataShared,
    Identifiability,
    Role,
)
from schemas.keys import SALE_AND_SHARING
from schemas.policy import Clause, Collection, Policy
from schemas.taxonomy import covers

__all__ = [
    "DISCLOSURE_AFTER_WITHDRAWAL",
    "IDENTIFIED_WHERE_AGGREGATED_ONLY",
    "MARKETING_AFTER_OPT_OUT",
    "NOT_CONSENT_BASED",
    "PROCESSOR_BEYOND_INSTRUCTIONS",
    "RULES",
    "SALE_AFTER_OPT_OUT",
    "PolicyEvaluator",
    "Rule",
    "SPECIAL_CATEGORIES",
    "Severity",
    "TRANSFER_OUTSIDE_DECLARED_COUNTRIES",
    "UNDECLARED_CATEGORY",
    "UNDECLARED_DISCLOSURE_PURPOSE",
    "UNDECLARED_PURPOSE",
    "UNDECLARED_RECIPIENT_TYPE",
    "UNDECLARED_SOURCE",
    "UNDECLARED_SUBJECT_TYPE",
]

# What a withdrawal that names no purposes does not stop: processing that rests on another legal basis than
# consent (service delivery, security, fraud prevention, legal obligations, billing under the contract) and
# keeping the person's privacy choice itself. A withdrawal that names purposes stops exactly those.
NOT_CONSENT_BASED = (
    "essential",
    "finance",
    "third_party_sharing.legal_obligation",
    "functional.storage.privacy_preferences",
)

# Pseudonymised data is still personal data (GDPR Recital 26): only these escape an aggregated-only clause's limits.
_NOT_PERSONAL = (Identifiability.AGGREGATED, Identifiability.DEIDENTIFIED)

# Compliant event shapes remembered at most (then forgotten all at once): shapes are combinations of taxonomy keys,
# roles and recipient types, few in practice, but the lists of categories could combine without end.
_SHAPES = 65_536


def _exempt(purpose: str) -> bool:
    return any(covers(k, purpose) for k in NOT_CONSENT_BASED)


class PolicyEvaluator(DisclosureRules):
    """Evaluates events against one policy; indexes the declarations once (the disclosure rules are in
    :mod:`policies.disclosures`)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.version = policy.version
        self._declared_use_purposes: list[str] = sorted({p for u in policy.uses for p in u.purposes})
        # What the (immutable) declarations say about a (category, purpose, role) is worked out once: the same few
        # combinations recur in every batch, and scanning the declarations for each event cost more than parsing it.
        # Bounded by the taxonomy: keys are taxonomy keys, roles and recipient types.
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._compliant: set[tuple[Any, ...]] = set()  # shapes of events that raise no finding (see evaluate)
        self._found: dict[tuple[Any, ...], tuple[Finding, ...]] = {}  # the findings of the other shapes (_evaluate)
        self.sales = SaleClassifier(policy)  # which disclosures are a sale or sharing under the CCPA

    # -- declarations ---------------------------------------------------------------------------
    def collected_categories(self, role: Role) -> list[str]:
        return sorted({c for col in self.policy.collections if col.role is role for c in col.data_categories})

    def _category_declared(self, category: str, role: Role) -> bool:
        return bool(self._declared_collections(category, role))

    def _declared_collections(self, category: str, role: Role) -> list[Collection]:
        """The collection declarations of ``role`` covering ``category`` (shared: do not modify)."""
        key = ("collections", category, role)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = [
                col for col in self.policy.collections if col.role is role and any_covers(col.data_categories, category)
            ]
        return found

    def _use_clauses(self, category: str, purpose: str, role: Role) -> list[Clause]:
        key = ("uses", category, purpose, role)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = [
                u.clause
                for u in self.policy.uses
                if u.role is role
                and any(covers(p, purpose) for p in u.purposes)
                and any_covers(u.data_categories, category)
            ]
        return list(found)

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, event: AnyEvent, subject: str, consent: ConsentState | None = None) -> tuple[Finding, ...]:
        """Findings for one event; ``subject`` is the pseudonym to record (never the raw id).

        ``consent`` is what is known of the person's withdrawals and opt-outs when the event is judged; only
        those that occurred before the event count (see :meth:`_consent_findings`). Consent events themselves
        raise nothing.
        """
        if not isinstance(event, DATA_EVENTS):  # consent and erasure events raise nothing
            return ()
        aggregated = not isinstance(event, DataCollected) and event.identifiability in _NOT_PERSONAL
        consent_matters = consent is not None and bool(consent.records) and event.purpose is not None and not aggregated
        # What the declarations say about an event depends only on its shape (below), never on who or when, and
        # nearly every event keeps to the policy: an event of a shape known to raise nothing is not looked at again.
        shape = (
            event.kind,
            event.role,
            event.subject.type,
            event.purpose,
            tuple(event.data_categories),
            event.source.type if isinstance(event, DataCollected) and event.source is not None else None,
            (event.recipient.type, event.recipient.country) if isinstance(event, DataShared) else None,
            aggregated,
        )
        # A person who withdrew or opted out has their events judged for consent too; the declarations' part is
        # still known from the shape (skipped when it raises nothing).
        known = shape in self._compliant
        if known and not consent_matters:
            return ()
        return self._evaluate(
            event, subject, consent if consent_matters else None, aggregated, None if known else shape
        )

    def _evaluate(
        self,
        event: DataEvent,
        subject: str,
        consent: ConsentState | None,
        aggregated: bool,
        shape: tuple[Any, ...] | None,
    ) -> tuple[Finding, ...]:
        """The findings of the declarations (``shape`` None: the event's shape is known to raise none, so they are
        not looked at; else the shape is remembered, with its findings if it raises some), then of ``consent``."""
        findings: list[Finding] = []
        recipient_id = recipient_type = ""
        if isinstance(event, DataShared):
            recipient_id, recipient_type = event.recipient.id, event.recipient.type.value
        purpose = event.purpose or ""

        def add(
            rule: Rule,
            category: str,
            reason: str,
            clause: tuple[str, str] = NO_CLAUSE,
            *,
            severity: Severity | None = None,
        ) -> None:
            findings.append(
                Finding(
                    rule=rule.id,
                    severity=(severity or rule.severity).value,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at.astimezone(UTC),
                    subject=subject,
                    category=category,
                    purpose=purpose if event.kind != "collected" else "",
                    recipient_id=recipient_id,
                    recipient_type=recipient_type,
                    reason=reason,
                    clause_section=clause[0],
                    clause_text=clause[1],
                    policy_version=self.version,
                )
            )

        if shape is not None:
            # what the declarations say depends on the shape and the recipient alone (its id is in some reasons): an
            # event of a shape that broke them before gets the same findings, with its own id, time and person
            key = (shape, recipient_id)
            template = self._found.get(key)
            if template is not None:
                at = event.occurred_at.astimezone(UTC)
                findings.extend(f.for_event(event.event_id, at, subject) for f in template)
            else:
                self._declared_findings(add, event, aggregated)
                if len(self._compliant) + len(self._found) >= _SHAPES:
                    self._compliant.clear()
                    self._found.clear()
                if findings:
                    self._found[key] = tuple(findings)
                else:
                    self._compliant.add(shape)
        if consent is not None and event.purpose is not None:
            self._consent_findings(add, event, event.purpose, consent.records)
        return tuple(findings)

    def _declared_findings(self, add: Callable[..., None], event: DataEvent, aggregated: bool) -> None:
        """What the declarations say of the event, category by category."""
        role = event.role
        for category in event.data_categories:
            declared = self._declared_collections(category, role)
            if not declared:
                self._category_finding(add, category, role)
                continue
            self._collection_findings(add, event, category, declared)
            if event.purpose is None:
                continue
            if event.kind == "used" or (event.kind == "collected"):
                if not self._use_clauses(category, event.purpose, role) and not (
                    aggregated and self._aggregated_use_declared(category, event.purpose, role)
                ):
                    self._purpose_finding(add, role, category, event.purpose)
            elif isinstance(event, DataShared):
                self._share_findings(add, role, category, event.purpose, event.recipient, aggregated)

    def _category_finding(self, add: Callable[..., None], category: str, role: Role) -> None:
        special = any(covers(s, category) for s in SPECIAL_CATEGORIES)
        other = Role.CONTROLLER if role is Role.PROCESSOR else Role.PROCESSOR
        elsewhere = self._declared_collections(category, other)
        hint = (
            f"; it declares it only as {'Customer Data' if other is Role.PROCESSOR else 'Other Information'} "
            f"({other.value}, declaration {elsewhere[0].id!r})"
            if elsewhere
            else ""
        )
        add(
            UNDECLARED_CATEGORY,
            category,
            f"the policy never declares collecting {category!r} (as {role.value}){hint}",
            clause_of(elsewhere[0] if elsewhere else None),
            severity=Severity.CRITICAL if special else None,
        )

    def _collection_findings(
        self, add: Callable[..., None], event: DataEvent, category: str, declared: list[Collection]
    ) -> None:
        """Where the data came from (collections) and whom it is about, against the declarations of its category.

        A collection is judged on the declarations that name its source, so the source and the type of person must
        be declared together; a use or disclosure on every declaration of the category."""
        subject_type = event.subject.type
        source = event.source.type if isinstance(event, DataCollected) and event.source is not None else None
        pool = declared
        if source is not None:
            pool = [c for c in declared if source in c.sources]
            if not pool:
                sources = ", ".join(sorted({s.value for c in declared for s in c.sources}))
                add(
                    UNDECLARED_SOURCE,
                    category,
                    f"{category!r} collected from {a(source.value)} source; the policy declares it only from {sources}",
                    clause_of(closest_collection(declared, source, subject_type)),
                )
                return
        if any(covers(s, subject_type) for c in pool for s in c.data_subjects):
            return
        subjects = ", ".join(sorted({s for c in pool for s in c.data_subjects}))
        what = "collected" + (f" from {a(source.value)} source" if source is not None else "")
        if not isinstance(event, DataCollected):
            what = "disclosed" if isinstance(event, DataShared) else "used"
        add(
            UNDECLARED_SUBJECT_TYPE,
            category,
            f"{category!r} {what} about {a(subject_type)}; the policy declares collecting it"
            + (f" from {source.value} sources" if source is not None else "")
            + f" only about {subjects}",
            clause_of(closest_collection(pool, source, subject_type)),
        )

    def _consent_findings(
        self, add: Callable[..., None], event: DataEvent, purpose: str, records: tuple[ConsentRecord, ...]
    ) -> None:
        """Processing after a withdrawal or opt-out that covers it.

        Only records whose ``occurred_at`` is strictly earlier than the event's count, and only those known when
        the event is judged (earlier batches and its own batch): a withdrawal that arrives later does not
        retroactively flag processing judged before it arrived. Aggregated or de-identified data is exempt.
        """
        at = event.occurred_at.astimezone(UTC)
        earlier = [r for r in records if r.occurred_at < at]
        if not earlier:
            return
        opted_out = [r for r in earlier if r.kind == "opted_out" and r.purposes != (SALE_AND_SHARING,)]
        no_sale = [r for r in earlier if r.kind == "opted_out" and r.purposes == (SALE_AND_SHARING,)]
        for category in event.data_categories:
            opted = [r for r in opted_out if any(covers(p, purpose) for p in r.purposes)]
            withdrawn = [
                r
                for r in earlier
                if r.kind == "consent_withdrawn"
                and (any(covers(p, purpose) for p in r.purposes) if r.purposes else not _exempt(purpose))
                and (not r.categories or any(covers(c, category) for c in r.categories))
            ]
            sale = self.sales.after_opt_out(event, category, purpose, no_sale[-1]) if no_sale else None
            if not (opted or sale or withdrawn):
                continue
            what = "disclosed to " + event.recipient.id if isinstance(event, DataShared) else event.kind
            clause = self._permission_clause(event, category, purpose)
            if opted:
                r = opted[-1]
                add(
                    MARKETING_AFTER_OPT_OUT,
                    category,
                    # no id or time of the opt-out: an alert's reason outlives the person's erasure (the evidence
                    # event ids, which erasure removes, lead to it)
                    f"{category!r} {what} for {purpose!r} after its subject opted out of {r.purposes[0]!r}",
                    clause,
                )
            if sale is not None:  # the clause marking it a sale or sharing, else the one that would allow it
                add(SALE_AFTER_OPT_OUT, category, sale[0], sale[1] if sale[1] != NO_CLAUSE else clause)
            if withdrawn:
                r = withdrawn[-1]
                scope = ", ".join(r.purposes) if r.purposes else "every purpose resting on consent"
                add(
                    DISCLOSURE_AFTER_WITHDRAWAL,
                    category,
                    f"{category!r} {what} for {purpose!r} after its subject withdrew consent for {scope}",
                    clause,
                )

    def _permission_clause(self, event: DataEvent, category: str, purpose: str) -> tuple[str, str]:
        """The clause that would otherwise allow this processing (quoted in consent findings), if any."""
        role = event.role
        if isinstance(event, DataShared):
            rtype = event.recipient.type.value
            allowing = [
                d
                for d in self.policy.disclosures
                if rtype in d.recipient_types
                and role in d.roles
                and d.identifiability == "identified"
                and self._disclosure_purposes_cover(d, purpose)
                and any_covers(d.data_categories, category)
            ]
            return clause_of(most_specific(allowing))
        clauses = self._use_clauses(category, purpose, role)
        return (clauses[0].section, clauses[0].text) if clauses else NO_CLAUSE

    def _aggregated_use_declared(self, category: str, purpose: str, role: Role) -> bool:
        """Aggregated or de-identified data may be used as an aggregated-only declaration allows (any recipient)."""
        key = ("aggregated-use", category, purpose, role)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = any(
                d.identifiability == "aggregated-only"
                and role in d.roles
                and self._disclosure_purposes_cover(d, purpose)
                and any_covers(d.data_categories, category)
                for d in self.policy.disclosures
            )
        return found

    def _purpose_finding(self, add: Callable[..., None], role: Role, category: str, purpose: str) -> None:
        if role is Role.PROCESSOR:
            proc = [u for u in self.policy.uses if u.role is Role.PROCESSOR]
            clause = (proc[0].clause.section, proc[0].clause.text) if proc else NO_CLAUSE
            allowed = ", ".join(sorted({p for u in proc for p in u.purposes})) or "nothing"
            add(
                PROCESSOR_BEYOND_INSTRUCTIONS,
                category,
                f"Customer Data {category!r} used for {purpose!r}; SOS is only the Customer's processor, and the "
                f"policy uses Customer Data only for {allowed}",
                clause,
            )
        else:
            add(
                UNDECLARED_PURPOSE,
                category,
                f"{category!r} used for {purpose!r}, a purpose the policy does not declare",
            )
