"""Declared vs observed (the gaps report): declarations no observed flow exercises, and the undeclared flows
(alerts) observed, from the policy and the store's flows and alerts; the record of processing (reports.ropa)
includes it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from graph.aggregates import ALERT, QUIET, ref_of
from graph.store import GraphStore
from policies.compliance import RULES
from reports.vocab import Table, Vocabulary, make_header, make_period, names, retention_info, utc
from schemas.answers import Alert, Flow, FlowSummary
from schemas.policy import Collection, Disclosure, Organisation, Policy, Use
from schemas.regulator_reports import DeclarationRef, GapsReport, UndeclaredFlow, UnexercisedDeclaration
from schemas.reports import RecipientRefItem
from schemas.taxonomy import covers

_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_RULE_TITLES = {r.id: r.title for r in RULES}
_JUDGED_FROM = {r.id: r.judged_from for r in RULES}


class Declared:
    """The policy's declarations indexed for matching against observed flows (mirrors policies.compliance)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.use_purposes = sorted({p for u in policy.uses for p in u.purposes})

    def collected(self, roles: Iterable[str]) -> set[str]:
        wanted = set(roles)
        return {c for col in self.policy.collections if col.role.value in wanted for c in col.data_categories}

    def use_categories(self, u: Use) -> set[str] | None:
        return set(u.data_categories) if u.data_categories is not None else None

    def disclosure_purposes(self, d: Disclosure) -> list[str] | None:
        """Declared purpose keys; None for 'any'."""
        if d.purposes == "any":
            return None
        return self.use_purposes if d.purposes == "any-declared-use" else list(d.purposes)

    def category_ok(self, declared: list[str] | None, category: str, role: str) -> bool:
        """Whether a declaration's categories (None: every category declared collected in the role) cover one."""
        keys = self.collected([role]) if declared is None else declared
        return any(covers(d, category) for d in keys)

    def collection_matches(self, col: Collection, f: Flow) -> bool:
        return (
            f.rel == "COLLECTED_FROM" and f.role == col.role.value and f.source is not None
            and f.source.type in col.sources and any(covers(c, f.category) for c in col.data_categories)
        )

    def use_matches(self, u: Use, f: Flow) -> bool:
        return (
            f.rel == "USED_FOR" and f.role == u.role.value and any(covers(p, f.purpose) for p in u.purposes)
            and self.category_ok(u.data_categories, f.category, f.role)
        )

    def disclosure_matches(self, d: Disclosure, f: Flow) -> bool:
        if f.rel != "SHARED_WITH" or f.recipient is None or d.identifiability != "identified":
            return False
        purposes = self.disclosure_purposes(d)
        return (
            f.recipient.type in d.recipient_types and f.role in {r.value for r in d.roles}
            and (purposes is None or any(covers(p, f.purpose) for p in purposes))
            and self.category_ok(d.data_categories, f.category, f.role)
        )


    def aggregated_matches(self, d: Disclosure, f: Flow) -> bool:
        """Whether an aggregated-only declaration would allow a flow: a disclosure to one of its recipient types,
        or a use, for one of its purposes ("may use it for any business purpose")."""
        purposes = self.disclosure_purposes(d)
        if f.role not in {r.value for r in d.roles} or not self.category_ok(d.data_categories, f.category, f.role):
            return False
        if purposes is not None and not any(covers(p, f.purpose) for p in purposes):
            return False
        if f.rel == "SHARED_WITH":
            return f.recipient is not None and f.recipient.type in d.recipient_types
        return f.rel == "USED_FOR"

    def identified_allows(self, f: Flow) -> bool:
        """Whether a declaration of identified data allows a use or disclosure flow."""
        if f.rel == "SHARED_WITH":
            return any(self.disclosure_matches(d, f) for d in self.policy.disclosures)
        return any(self.use_matches(u, f) for u in self.policy.uses)


def _aggregated_status(
    declared: Declared, d: Disclosure, flows: list[Flow], quiet: set[str]
) -> tuple[Literal["never-exercised", "not-observable"], str] | None:
    """None when flows rested on an aggregated-only declaration, else its status and why.

    The store does not record whether a flow's data was aggregated, but the alerts tell: an event of a flow that
    no declaration of identified data allows raised an alert unless its data was aggregated or de-identified. So
    an event of such a flow that raised none is aggregated data the declaration allowed. ``quiet``: the flows
    (references) with an event in the period that raised no alert (the aggregates' ``quiet`` rollup).
    """
    covered = [f for f in flows if declared.aggregated_matches(d, f)]
    relied = [f for f in covered if not declared.identified_allows(f)]
    if any(f.ref in quiet for f in relied):
        return None
    if not covered:
        return "never-exercised", "No event in the period used or disclosed data as this declaration allows."
    return "not-observable", (
        "Every flow in the period that it allows is also allowed for identified data, or raised an alert as "
        "identified data; the store does not record whether a flow's data was aggregated, so whether any of them "
        "rested on this declaration cannot be told."
    )


def declaration_ref(
    decl: Collection | Use | Disclosure, kind: Literal["collection", "use", "disclosure"]
) -> DeclarationRef:
    return DeclarationRef(id=decl.id, kind=kind, clause_section=decl.clause.section, clause_text=decl.clause.text)


def gaps_report(
    store: GraphStore,
    policy: Policy,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    now: datetime | None = None,
    controller: Organisation | None = None,
) -> GapsReport:
    """Declarations no observed flow in the period exercises, and the undeclared flows (alerts) observed in it."""
    since, until = utc(since), utc(until)
    return gaps_of(store, policy, store.flow_summary(since=since, until=until), since, until, now, controller)


def gaps_of(
    store: GraphStore,
    policy: Policy,
    found: FlowSummary,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None,
    controller: Organisation | None,
) -> GapsReport:
    vocab = Vocabulary(policy)
    declared = Declared(policy)
    flows = found.flows
    # a share also records a USED_FOR edge for its purpose; a use declaration is exercised only by real uses
    uses = [f for f in flows if f.rel == "USED_FOR" and f.via != "shared"]
    shares = [f for f in flows if f.rel == "SHARED_WITH"]
    quiet = {ref_of("flow", r.key) for r in found.rollups if r.rollup == QUIET}
    unexercised: list[UnexercisedDeclaration] = []
    total = 0
    for col in policy.collections:
        total += 1
        if not any(declared.collection_matches(col, f) for f in flows):
            unexercised.append(UnexercisedDeclaration(
                declaration=declaration_ref(col, "collection"),
                summary=f"Collects {names(vocab.category(c).label for c in col.data_categories)} from "
                f"{names(vocab.source_type(s).label.lower() for s in col.sources)} (as {col.role.value}).",
                status="never-exercised",
                why="No event in the period collected any of these categories from these sources in this role.",
            ))
    for u in policy.uses:
        total += 1
        if not any(declared.use_matches(u, f) for f in uses):
            unexercised.append(UnexercisedDeclaration(
                declaration=declaration_ref(u, "use"),
                summary=f"Uses data for {names(vocab.purpose(p).label for p in u.purposes)} (as {u.role.value}).",
                status="never-exercised",
                why="No event in the period used data for these purposes (or narrower ones) in this role.",
            ))
    for d in policy.disclosures:
        total += 1
        purposes = declared.disclosure_purposes(d)
        what = (
            "any purpose" if purposes is None
            else "any purpose declared for use" if d.purposes == "any-declared-use"
            else names(vocab.purpose(p).label for p in purposes)
        )
        summary = f"Discloses to {names(vocab.recipient_type(t).label.lower() for t in d.recipient_types)} for {what}."
        if d.identifiability != "identified":
            status = _aggregated_status(declared, d, [*uses, *shares], quiet)
            if status is not None:
                unexercised.append(UnexercisedDeclaration(
                    declaration=declaration_ref(d, "disclosure"), summary=summary, status=status[0], why=status[1],
                ))
        elif not any(declared.disclosure_matches(d, f) for f in flows):
            unexercised.append(UnexercisedDeclaration(
                declaration=declaration_ref(d, "disclosure"), summary=summary, status="never-exercised",
                why="No event in the period disclosed data to these recipient types for these purposes.",
            ))
    undeclared = _undeclared(store, found, vocab, since)
    never = sum(1 for u in unexercised if u.status == "never-exercised")
    counts: dict[str, int] = defaultdict(int)
    for item in undeclared:
        counts[item.severity] += 1
    return GapsReport(
        header=make_header(
            policy, "Declared vs observed: gaps between the privacy policy and what the events show",
            "GDPR Art. 5(1)(a), 13, 30; CCPA §1798.100(a)", make_period(since, until), now, controller,
        ),
        declarations=total,
        exercised=total - len(unexercised),
        unexercised=unexercised,
        unexercised_statement=(
            f"{never} of {total} declarations were never exercised in the period"
            + (f", and {len(unexercised) - never} cannot be observed from events." if len(unexercised) > never else ".")
            if unexercised
            else f"None: every one of the {total} declarations was exercised in the period."
        ),
        undeclared=undeclared,
        policy_gaps=[f"Retention: {policy.retention.statement} {gap}"] if (gap := retention_info(policy).gap) else [],
        undeclared_statement=(
            f"{len(undeclared)} undeclared flow(s) observed in the period: "
            + names(f"{counts[s]} {s}" for s in _SEVERITY_ORDER if counts[s]) + "."
            if undeclared
            else "None: no flow the policy does not declare was observed in the period."
        ),
    )


def _undeclared(
    store: GraphStore, found: FlowSummary, vocab: Vocabulary, since: datetime | None
) -> list[UndeclaredFlow]:
    # the alerts' own records for what they say; their counts in the period from the aggregates (per alert)
    counts = found.counts(ALERT)
    recipients = {f.recipient.id: vocab.recipient(f) for f in found.flows if f.recipient is not None}
    out = []
    alerts: list[Alert] = store.alerts(since=since)
    for a in alerts:
        c = counts.get((a.alert_id,))
        if c is None:
            continue
        recipient = None
        if a.recipient:
            recipient = recipients.get(a.recipient) or RecipientRefItem(
                id=a.recipient, name=a.recipient, type=a.recipient_type,
                type_label=vocab.recipient_type(a.recipient_type).label, country=None,
            )
        out.append(UndeclaredFlow(
            alert_id=a.alert_id, rule=a.rule, rule_title=_RULE_TITLES.get(a.rule, a.rule), severity=a.severity,
            status=a.status,
            category=vocab.category(a.category), purpose=vocab.purpose(a.purpose) if a.purpose else None,
            recipient=recipient, reason=a.reason, clause_section=a.clause_section, clause_text=a.clause_text,
            policy_version=a.policy_version, events=c.events, people=c.people, first_seen=c.first_seen,
            last_seen=c.last_seen, evidence=f"lineage evidence {a.alert_id}",
        ))
    out.sort(key=lambda u: (
        _SEVERITY_ORDER.get(u.severity, 9), u.rule, u.category.key, u.recipient.id if u.recipient else "",
        u.purpose.key if u.purpose else "", u.alert_id,
    ))
    return out


# -- grouped by rule (the HTML and PDF form) ----------------------------------------------------------
@dataclass(frozen=True)
class ClauseGroup:
    """The undeclared flows of a rule that concern one clause of the policy (none: section and text empty)."""

    clause_section: str
    clause_text: str
    flows: tuple[UndeclaredFlow, ...]


@dataclass(frozen=True)
class UndeclaredGroup:
    """The undeclared flows of one rule and severity: what they share (the rule's title, what it judges from, each
    clause's words), said once, then each flow in a compact line."""

    rule: str
    rule_title: str
    severity: str
    judged_from: str
    clauses: tuple[ClauseGroup, ...]

    @property
    def flows(self) -> tuple[UndeclaredFlow, ...]:
        return tuple(u for c in self.clauses for u in c.flows)

    @property
    def events(self) -> int:
        return sum(u.events for u in self.flows)


def undeclared_groups(flows: Iterable[UndeclaredFlow]) -> list[UndeclaredGroup]:
    """Undeclared flows grouped by rule and severity, then by policy clause, each group in the order of its first
    flow (the report's order: severity, then rule) and each flow in the report's order; every flow is in one."""
    grouped: dict[tuple[str, str], dict[tuple[str, str], list[UndeclaredFlow]]] = {}
    for u in flows:
        grouped.setdefault((u.rule, u.severity), {}).setdefault((u.clause_section, u.clause_text), []).append(u)
    return [
        UndeclaredGroup(
            rule=rule, rule_title=by_clause[next(iter(by_clause))][0].rule_title, severity=severity,
            judged_from=_JUDGED_FROM.get(rule, ""),
            clauses=tuple(ClauseGroup(section, text, tuple(items)) for (section, text), items in by_clause.items()),
        )
        for (rule, severity), by_clause in grouped.items()
    ]


# -- tables (the CSV form) ----------------------------------------------------------------------------
def gaps_tables(report: GapsReport) -> dict[str, Table]:
    """The gaps report's tables: undeclared, unexercised."""
    undeclared = (
        ["alert_id", "rule", "severity", "status", "category", "purpose", "recipient_id", "recipient_name",
         "recipient_type", "recipient_country", "reason", "clause_section", "events", "people", "first_seen",
         "last_seen"],
        [[u.alert_id, u.rule, u.severity, u.status, u.category, u.purpose,
          u.recipient.id if u.recipient else None, u.recipient.name if u.recipient else None,
          u.recipient.type if u.recipient else None, u.recipient.country if u.recipient else None,
          u.reason, u.clause_section, u.events, u.people, u.first_seen, u.last_seen] for u in report.undeclared],
    )
    unexercised = (
        ["declaration_id", "kind", "status", "summary", "why", "clause_section", "clause_text"],
        [[u.declaration.id, u.declaration.kind, u.status, u.summary, u.why, u.declaration.clause_section,
          u.declaration.clause_text] for u in report.unexercised],
    )
    return {"undeclared": undeclared, "unexercised": unexercised}


def gaps_refs(report: GapsReport) -> list[str]:
    """The references the gaps report quotes: its undeclared flows' alert ids."""
    return [u.alert_id for u in report.undeclared]
