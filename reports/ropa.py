"""The GDPR Art. 30 record of processing activities, declared and observed per purpose, with the gaps report for the
same period (reports.gaps), from the policy and the store's flows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal

from graph.aggregates import ACTIVITY
from graph.store import GraphStore
from reports.gaps import Declared, declaration_ref, gaps_of, gaps_refs, gaps_tables
from reports.transfers import Recipient, country_adequacy, transfer_items, transfer_rows, transfers_statement
from reports.vocab import (
    EEA,
    Table,
    Vocabulary,
    make_header,
    make_period,
    names,
    retention_info,
    utc,
)
from schemas.answers import Flow, FlowSummary, RollupCount
from schemas.policy import Disclosure, Organisation, Policy, Use
from schemas.recipients import RecipientRegistry
from schemas.regulator_reports import (
    CountryItem,
    ObservedActivity,
    ObservedFlow,
    ProcessingActivity,
    ProcessorRecord,
    RopaReport,
)
from schemas.taxonomy import covers


# -- record of processing ---------------------------------------------------------------------------
def ropa_report(
    store: GraphStore,
    policy: Policy,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    now: datetime | None = None,
    controller: Organisation | None = None,
    registry: RecipientRegistry | None = None,
) -> RopaReport:
    """The GDPR Art. 30(1) record (controller) and Art. 30(2) record (processor), each purpose declared and
    observed, with declared-vs-observed gaps for the same period; ``registry`` names the transfers' safeguards."""
    vocab = Vocabulary(policy)
    declared = Declared(policy)
    since, until = utc(since), utc(until)
    summary = store.flow_summary(since=since, until=until)
    roles: tuple[Literal["controller", "processor"], ...] = ("controller", "processor")
    activities = {role: _activities(role, policy, declared, vocab, summary) for role in roles}
    aggregated = [d for d in policy.disclosures if d.identifiability != "identified"]
    retention = retention_info(policy)
    proc_countries = sorted(
        {c.country for a in activities["processor"] if a.observed for c in a.observed.recipient_countries}
    )
    shared = [f.recipient for f in summary.flows if f.rel == "SHARED_WITH" and f.recipient is not None]
    transfers = transfer_items((Recipient(r.id, r.name, r.type, r.country) for r in shared), registry)
    proc_ids = {r.id for a in activities["processor"] if a.observed for r in a.observed.recipients}
    proc_transfers = [t for t in transfers if t.recipient_id in proc_ids]
    return RopaReport(
        header=make_header(
            policy, "Record of processing activities", "GDPR Art. 30(1) and 30(2)", make_period(since, until), now,
            controller,
        ),
        representative_statement="Not stated in the policy: it names no joint controller and no representative.",
        activities=activities["controller"],
        aggregated_statement=(
            "The policy allows aggregated or de-identified information to be used for any business purpose and to go "
            "to: "
            + names(sorted({vocab.recipient_type(t).label.lower() for d in aggregated for t in d.recipient_types}))
            + ". The lineage store does not record whether a flow's data was aggregated, so it is not shown apart."
            if aggregated
            else "The policy says nothing about aggregated or de-identified information."
        ),
        retention=retention,
        transfers=transfers,
        transfers_statement=transfers_statement(transfers, registry, whose="personal data"),
        security_statement="Not stated in the policy (GDPR Art. 30(1)(g), 32).",
        processor=ProcessorRecord(
            controllers_statement=(
                "SOS processes Customer Data on behalf of each Customer (the organisation whose users submit it), "
                "which is its controller. Each Customer Data event records its Customer; the customer agreements "
                "give their names and contact details."
            ),
            activities=activities["processor"],
            transfers_statement=(
                f"Recipient countries of Customer Data observed: {names(proc_countries)}. The policy names none. "
                + transfers_statement(proc_transfers, registry, whose="Customer Data")
                if proc_countries
                else "No recipient country of Customer Data was observed in the period; the policy names none."
            ),
            security_statement="Not stated in the policy (GDPR Art. 30(2)(d), 32).",
        ),
        gaps=gaps_of(store, policy, summary, since, until, now, controller),
    )


def _activities(
    role: Literal["controller", "processor"],
    policy: Policy,
    declared: Declared,
    vocab: Vocabulary,
    summary: FlowSummary,
) -> list[ProcessingActivity]:
    purposes: dict[str, list[Use | Disclosure]] = defaultdict(list)
    for u in policy.uses:
        if u.role.value == role:
            for p in u.purposes:
                purposes[p].append(u)
    identified = [
        d for d in policy.disclosures if d.identifiability == "identified" and role in {r.value for r in d.roles}
    ]
    for d in identified:
        if isinstance(d.purposes, list):
            for p in d.purposes:
                purposes[p]  # noqa: B018 - a purpose declared only for disclosure is an activity too
    # observed flows of this role, each assigned to the narrowest declared purpose that covers it, with the events
    # of each observed purpose (one purpose per event: the sums are distinct counts)
    def narrowest(purpose: str) -> str | None:
        cover = [p for p in purposes if covers(p, purpose)]
        return max(cover, key=len) if cover else None

    observed: dict[str, list[Flow]] = defaultdict(list)
    for f in summary.flows:
        if f.role == role and f.rel in ("USED_FOR", "SHARED_WITH") and (narrow := narrowest(f.purpose)) is not None:
            observed[narrow].append(f)
    counted: dict[str, list[RollupCount]] = defaultdict(list)
    for (r, observed_purpose), c in summary.counts(ACTIVITY).items():
        if r == role and (narrow := narrowest(observed_purpose)) is not None:
            counted[narrow].append(c)
    out = []
    for purpose in sorted(purposes):
        uses = [u for u in purposes[purpose] if isinstance(u, Use)]
        discs = [
            d for d in identified
            if (ps := declared.disclosure_purposes(d)) is None or any(covers(q, purpose) for q in ps)
        ]
        cats: set[str] = set()
        for u in uses:
            cats |= declared.use_categories(u) or declared.collected([role])
        for d in discs:
            if not uses:
                cats |= set(d.data_categories) if d.data_categories is not None else declared.collected([role])
        subjects = {
            s for col in policy.collections if col.role.value == role
            and any(covers(c, k) or covers(k, c) for c in col.data_categories for k in cats)
            for s in col.data_subjects
        }
        countries = sorted({c for d in discs for c in (d.countries or [])})
        declared_types = {t.value for d in discs for t in d.recipient_types}
        obs = _observed(observed.get(purpose, []), counted.get(purpose, []), vocab, declared_types)
        seen = sorted({c.country for c in obs.recipient_countries} if obs else set())
        third = (
            "No disclosure is declared for this purpose."
            if not discs
            else (f"Declared countries: {names(countries)}." if countries else "The policy names no countries.")
        )
        if seen:
            third += " Observed recipient countries: " + names(_country_words(c) for c in seen) + "."
        out.append(ProcessingActivity(
            purpose=vocab.purpose(purpose),
            role=role,
            declared_in=[declaration_ref(u, "use") for u in uses] + [declaration_ref(d, "disclosure") for d in discs],
            data_subjects=[vocab.subject(s) for s in sorted(subjects)],
            data_categories=vocab.categories(cats),
            recipient_categories=[vocab.recipient_type(t) for t in sorted(declared_types)],
            third_countries_statement=third,
            retention=policy.retention.statement,
            observed=obs,
        ))
    return out


def _country_words(country: str) -> str:
    """A recipient country as the record names it: in the EEA, or a third country with its adequacy decision."""
    if country in EEA:
        return f"{country} (EEA)"
    decision = country_adequacy(country)
    return f"{country} (third country; adequacy decision: {decision})" if decision else f"{country} (third country)"


def _observed(
    flows: list[Flow], counts: list[RollupCount], vocab: Vocabulary, declared_types: set[str]
) -> ObservedActivity | None:
    if not flows or not counts:
        return None
    recipients = {f.recipient.id: vocab.recipient(f) for f in flows if f.recipient is not None}
    listed = [f for f in flows if f.rel == "SHARED_WITH" or f.via != "shared"]  # a disclosure's use is itself
    return ObservedActivity(
        events=sum(c.events for c in counts),
        categories=vocab.categories(f.category for f in flows),
        purposes=vocab.purposes(f.purpose for f in flows),
        recipients=[recipients[i] for i in sorted(recipients)],
        recipient_countries=[
            CountryItem(country=c, in_eea=c in EEA, adequacy=None if c in EEA else country_adequacy(c))
            for c in sorted({r.country for r in recipients.values() if r.country})
        ],
        undeclared_recipient_types=[
            vocab.recipient_type(t) for t in sorted({r.type for r in recipients.values()} - declared_types)
        ],
        first_seen=min(c.first_seen for c in counts),
        last_seen=max(c.last_seen for c in counts),
        flows=[
            ObservedFlow(
                ref=f.ref,
                kind="disclosure" if f.rel == "SHARED_WITH" else "use",
                category=vocab.category(f.category),
                purpose=vocab.purpose(f.purpose),
                recipient=recipients[f.recipient.id] if f.recipient is not None else None,
                subject_type=vocab.subject(f.subject_type),
                people=f.subjects,
                events=f.events,
                first_seen=f.first_seen,
                last_seen=f.last_seen,
            )
            for f in sorted(
                listed,
                key=lambda f: (
                    f.rel != "USED_FOR", f.category, f.purpose, f.recipient.id if f.recipient else "", f.subject_type,
                ),
            )
        ],
    )


# -- tables (the CSV form) ----------------------------------------------------------------------------
def ropa_tables(report: RopaReport) -> dict[str, Table]:
    """The record of processing's tables: activities, then the gaps report's (undeclared, unexercised)."""
    rows = []
    for a in [*report.activities, *report.processor.activities]:
        o = a.observed
        rows.append([
            a.role, a.purpose.key, a.purpose.label, [d.id for d in a.declared_in], a.data_subjects,
            a.data_categories, a.recipient_categories, a.third_countries_statement, a.retention,
            o.events if o else 0, o.first_seen if o else None, o.last_seen if o else None,
            [r.id for r in o.recipients] if o else [], o.undeclared_recipient_types if o else [],
            [f.ref for f in o.flows] if o else [],
        ])
    head = ["role", "purpose", "purpose_label", "declared_in", "data_subjects", "data_categories",
            "recipient_categories", "third_countries", "retention", "observed_events", "observed_first_day",
            "observed_last_day", "observed_recipients", "undeclared_recipient_types", "observed_flows"]
    flows = [
        [a.role, a.purpose.key, f.ref, f.kind, f.category, f.purpose, f.recipient.id if f.recipient else None,
         f.subject_type, f.people, f.events, f.first_seen, f.last_seen]
        for a in [*report.activities, *report.processor.activities] if a.observed for f in a.observed.flows
    ]
    flow_head = ["role", "activity", "flow", "kind", "category", "purpose", "recipient_id", "subject_type", "people",
                 "events", "first_day", "last_day"]
    return {
        "activities": (head, rows),
        "flows": (flow_head, flows),
        "transfers": transfer_rows(report.transfers),
        **gaps_tables(report.gaps),
    }


# -- references (what `--evidence` writes) -----------------------------------------------------------------
def ropa_refs(report: RopaReport) -> list[str]:
    """The references the record of processing quotes: its observed flows', then its undeclared flows'."""
    flows = [f.ref for a in [*report.activities, *report.processor.activities] if a.observed for f in a.observed.flows]
    return list(dict.fromkeys(flows + gaps_refs(report.gaps)))
