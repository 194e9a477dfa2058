"""The CCPA §1798.130(a)(5) / §1798.115 disclosures report, from the store's flows and the policy."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from graph.aggregates import CATEGORY
from graph.store import GraphStore
from policies.sale import KINDS, SHARED, SOLD, SaleClassifier, classification_rule
from reports.vocab import (
    Table,
    Vocabulary,
    ccpa_category,
    make_header,
    make_period,
    names,
    to_third_parties,
    utc,
)
from schemas.answers import Flow
from schemas.policy import Organisation, Policy
from schemas.regulator_reports import CcpaCollected, CcpaDisclosed, CcpaReport

_BUSINESS = "business_purpose"


def preceding_12_months(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The twelve whole calendar months (UTC) before the month of ``now``: the CCPA §1798.130(a)(5) look-back.

    Whole months: the same report whatever the day it is made in the month, and answered from the month buckets
    of the flow aggregates without reading any event (docs/reports.md).
    """
    end = (now or datetime.now(UTC)).astimezone(UTC)
    until = datetime(end.year, end.month, 1, tzinfo=UTC)
    return until.replace(year=until.year - 1), until


def ccpa_report(
    store: GraphStore,
    policy: Policy,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    now: datetime | None = None,
    controller: Organisation | None = None,
) -> CcpaReport:
    """CCPA §1798.130(a)(5) / §1798.115 disclosures; without a period, the preceding 12 months up to ``now``.

    Only data held as the business (controller) counts; Customer Data processed as a service provider is
    summarised separately. Which disclosures are sold, shared (both, for some) or for a business purpose is decided
    by :class:`policies.sale.SaleClassifier`, the table the rule sale-after-opt-out uses too.
    """
    since, until = utc(since), utc(until)
    default = since is None and until is None
    if default:
        since, until = preceding_12_months(now)
    vocab = Vocabulary(policy)
    sales = SaleClassifier(policy)
    found = store.flow_summary(since=since, until=until)
    flows = found.flows
    mine = [f for f in flows if f.role == "controller"]
    when = "in the preceding 12 months" if default else "in the period"

    sources: dict[str, set[str]] = defaultdict(set)
    purposes: dict[str, set[str]] = defaultdict(set)
    shared: dict[tuple[str, str], list[Flow]] = defaultdict(list)
    for f in mine:
        if f.rel == "COLLECTED_FROM" and f.source is not None:
            sources[f.category].add(f.source.type)
        elif f.rel in ("USED_FOR", "SHARED_WITH"):
            purposes[f.category].add(f.purpose)
        if f.rel == "SHARED_WITH" and f.recipient is not None:
            kinds = sales.kinds(f.recipient.type, f.purpose, f.category, f.role) or {_BUSINESS}
            for kind in kinds:  # a disclosure both sold and shared is listed in both sections
                shared[(kind, f.category)].append(f)

    # people and events per category as the business: the category rollup counts them over every data-subject type
    per_category = {cat: c for (role, cat), c in found.counts(CATEGORY).items() if role == "controller"}
    collected = [
        CcpaCollected(
            category=vocab.category(cat), ccpa_category=ccpa_category(cat),
            sources=[vocab.source_type(t) for t in sorted(sources[cat])], purposes=vocab.purposes(purposes[cat]),
            people=c.people, events=c.events, ref=c.ref,
        )
        for cat, c in sorted(per_category.items())
    ]

    def disclosed(kind: str) -> list[CcpaDisclosed]:
        out = []
        for (k, cat), fs in sorted(shared.items()):
            if k != kind:
                continue
            refs = {r.id: r for r in (vocab.recipient(f) for f in fs)}
            out.append(
                CcpaDisclosed(
                    category=vocab.category(cat), ccpa_category=ccpa_category(cat),
                    third_party_categories=[vocab.recipient_type(t) for t in sorted({r.type for r in refs.values()})],
                    recipients=[refs[i] for i in sorted(refs)], purposes=vocab.purposes(f.purpose for f in fs),
                    # an event discloses a category to one recipient for one purpose: the sum is a distinct count
                    events=sum(f.events for f in fs), flows=sorted(f.ref for f in fs),
                )
            )
        return out

    by_kind, business = {k: disclosed(k) for k in KINDS}, disclosed(_BUSINESS)

    def summary(items: list[CcpaDisclosed], none: str, verb: str) -> str:
        pairs = [(d.ccpa_category, t.label) for d in items for t in d.third_party_categories]
        return f"{verb} {when}: {to_third_parties(pairs)}." if items else none

    processor = sorted({cat for role, cat in found.counts(CATEGORY) if role == "processor"})
    processor_shares = sorted({f.recipient.name for f in flows if f.role == "processor" and f.recipient is not None})
    return CcpaReport(
        header=make_header(
            policy, "CCPA disclosures: personal information collected, sold, shared, and disclosed",
            "CCPA §1798.100, §1798.110, §1798.115, §1798.130(a)(5)", make_period(since, until), now, controller,
        ),
        classification_rule=classification_rule(sales),
        collected=collected,
        collected_statement=(
            f"Categories of personal information collected {when}: "
            f"{names(sorted({c.ccpa_category for c in collected}))}."
            if collected
            else f"None: no personal information was collected {when}."
        ),
        sold=by_kind[SOLD],
        sold_statement=summary(by_kind[SOLD], f"None: no personal information was sold {when}.", "Sold"),
        shared=by_kind[SHARED],
        shared_statement=summary(
            by_kind[SHARED],
            f"None: no personal information was shared for cross-context behavioural advertising {when}.",
            "Shared for cross-context behavioural advertising",
        ),
        business_purpose=business,
        business_purpose_statement=summary(
            business, f"None: no personal information was disclosed for a business purpose {when}.",
            "Disclosed for a business purpose",
        ),
        service_provider_statement=(
            "Customer Data processed as a service provider on behalf of Customers is not listed above: "
            f"{names(vocab.category(c).label for c in processor)}."
            + (f" Disclosures of it were recorded to: {names(processor_shares)}." if processor_shares else "")
            if processor
            else f"No Customer Data was processed as a service provider {when}."
        ),
    )


# -- tables (the CSV form) ----------------------------------------------------------------------------
def _disclosed_rows(items: list[CcpaDisclosed]) -> Table:
    head = ["category", "label", "ccpa_category", "third_party_categories", "recipients", "purposes", "events",
            "flows"]
    rows = [[d.category.key, d.category.label, d.ccpa_category, d.third_party_categories,
             [r.id for r in d.recipients], d.purposes, d.events, d.flows] for d in items]
    return head, rows


def ccpa_tables(report: CcpaReport) -> dict[str, Table]:
    """The CCPA report's tables: collected, sold, shared, business_purpose."""
    return {
        "collected": (
            ["category", "label", "ccpa_category", "sources", "purposes", "people", "events", "ref"],
            [[c.category.key, c.category.label, c.ccpa_category, c.sources, c.purposes, c.people, c.events,
              c.ref] for c in report.collected],
        ),
        "sold": _disclosed_rows(report.sold),
        "shared": _disclosed_rows(report.shared),
        "business_purpose": _disclosed_rows(report.business_purpose),
    }


def ccpa_refs(report: CcpaReport) -> list[str]:
    """The references the CCPA report quotes: per category collected, then the disclosures' flows."""
    refs = [c.ref for c in report.collected]
    refs += [ref for d in [*report.sold, *report.shared, *report.business_purpose] for ref in d.flows]
    return list(dict.fromkeys(refs))
