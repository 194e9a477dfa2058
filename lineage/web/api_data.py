"""Endpoints over aggregates: health, who am I, stats, recipients, alerts (list and acknowledge)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import TypeAdapter

from graph.aggregate_reads import evidence
from graph.aggregates import RECIPIENT
from lineage.web.api_vocab import declared
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import Instant, audited, aware
from lineage.web.console import Console
from lineage.web.models import (
    Acknowledged,
    EvidenceItem,
    EvidencePage,
    Health,
    Me,
    Problem,
    RecipientFlow,
    RecipientSummary,
    RecipientView,
)
from lineage.web.tokens import Principal, Role
from policies.adequacy import recipient_transfer
from policies.compliance import RULES
from policies.rules import Severity
from schemas.answers import Alert, Flow, FlowSummary, RollupCount, StoreStats

_ALERTS = TypeAdapter(list[Alert])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such object."}}


Since = Annotated[Instant | None, Query(description="Only evidence at or after this time (ISO 8601; UTC if no zone).")]
Until = Annotated[Instant | None, Query(description="Only evidence before this time (ISO 8601; UTC if no zone).")]
Limit = Annotated[int, Query(ge=1, le=100_000, description="At most this many events.")]
# a rule id that is not one of the known rules is refused (422), not answered with an empty list a typo would hide
RuleId = Annotated[
    str | None,
    Query(pattern="^(" + "|".join(r.id for r in RULES) + ")$", description="Only alerts of this rule (a known id)."),
]


def _version() -> str:
    try:
        return version("privacy-lineage")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def recipient_view(flows: list[Flow], total: RollupCount) -> RecipientView:
    """Fold the share flows of one recipient into what it received; ``total``: its own counts (distinct people and
    events over all its flows)."""
    assert flows and flows[0].recipient is not None  # noqa: S101 - callers pass a non-empty list of share flows
    return RecipientView(
        recipient=flows[0].recipient,
        ref=total.ref,
        categories=sorted({f.category for f in flows}),
        purposes=sorted({f.purpose for f in flows}),
        subject_types=sorted({f.subject_type for f in flows}),
        people=total.people,
        events=total.events,
        first_seen=total.first_seen,
        last_seen=total.last_seen,
        flows=[
            RecipientFlow(
                ref=f.ref,
                category=f.category,
                purpose=f.purpose,
                role=f.role,
                subject_type=f.subject_type,
                subjects=f.subjects,
                events=f.events,
                first_seen=f.first_seen,
                last_seen=f.last_seen,
            )
            for f in flows
        ],
    )


def _by_recipient(summary: FlowSummary) -> dict[str, tuple[list[Flow], RollupCount]]:
    """Each recipient's share flows and its own counts, from the aggregates of a period."""
    totals = summary.counts(RECIPIENT)
    out: dict[str, tuple[list[Flow], RollupCount]] = {}
    for f in summary.flows:
        if f.rel == "SHARED_WITH" and f.recipient is not None and (f.recipient.id,) in totals:
            out.setdefault(f.recipient.id, ([], totals[(f.recipient.id,)]))[0].append(f)
    return out


def data_router(console: Console) -> APIRouter:
    r = APIRouter()
    anyone = requires(console.tokens, Role.DPO, Role.AUDITOR, Role.SERVICE)
    readers = requires(console.tokens, Role.DPO, Role.AUDITOR)
    dpo = requires(console.tokens, Role.DPO)

    @r.get("/api/health", response_model=Health, responses=REFUSALS, tags=["service"])
    def health(_: Principal = Depends(anyone)) -> Health:  # noqa: B008
        """The server answers (any role). Carries no data."""
        return Health(status="ok", version=_version())

    @r.get("/api/me", response_model=Me, responses=REFUSALS, tags=["service"])
    def me(who: Principal = Depends(anyone)) -> Me:  # noqa: B008
        """The name and role of the presented token (the page uses it to show what the role may do)."""
        return Me(name=who.name, role=who.role.value)

    @r.get("/api/stats", response_model=StoreStats, responses=REFUSALS, tags=["flows"])
    def stats(_: Principal = Depends(readers)) -> StoreStats:  # noqa: B008
        """Counts of what the store holds."""
        return console.store.stats()

    @r.get("/api/recipients", response_model=list[RecipientSummary], responses=REFUSALS, tags=["flows"])
    def recipients(
        _: Principal = Depends(readers),  # noqa: B008
        since: Since = None,
        until: Until = None,
    ) -> list[RecipientSummary]:
        """Every recipient that received personal data, with what it received in total, by name."""
        summary = console.store.flow_summary(since=aware(since), until=aware(until))
        open_alerts: dict[str, dict[str, int]] = {}  # recipient -> rule -> open alerts
        for a in console.store.alerts(status="open"):
            if a.recipient:
                by_rule = open_alerts.setdefault(a.recipient, {})
                by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
        entries = console.registry.by_id() if console.registry is not None else {}
        out = []
        for flows, total in _by_recipient(summary).values():
            ref = flows[0].recipient
            assert ref is not None  # noqa: S101 - share flows carry their recipient
            entry = entries.get(ref.id)
            basis = recipient_transfer(ref.country, entry, ref.type)
            out.append(
                RecipientSummary(
                    recipient=ref,
                    ref=total.ref,
                    categories=sorted({f.category for f in flows}),
                    purposes=sorted({f.purpose for f in flows}),
                    events=total.events,
                    people=total.people,
                    first_seen=total.first_seen,
                    last_seen=total.last_seen,
                    declared=declared(console.policy, ref.type),
                    open_alerts=sum(open_alerts.get(ref.id, {}).values()),
                    open_by_rule=open_alerts.get(ref.id, {}),
                    undeclared=ref.id in open_alerts,
                    transfer=basis.status,
                    transfer_statement=basis.words,
                )
            )
        return sorted(out, key=lambda s: (s.recipient.name.lower(), s.recipient.id))

    @r.get(
        "/api/recipients/{recipient_id}",
        response_model=RecipientView,
        responses=REFUSALS | _NOT_FOUND,
        tags=["flows"],
    )
    def recipient(
        recipient_id: str,
        _: Principal = Depends(readers),  # noqa: B008
        since: Since = None,
        until: Until = None,
    ) -> RecipientView:
        """Everything one recipient received (over people): categories, purposes, counts, flow references."""
        found = _by_recipient(console.store.flow_summary(since=aware(since), until=aware(until))).get(recipient_id)
        if found is None:
            raise HTTPException(404, "no disclosures to this recipient in the period")
        return recipient_view(*found)

    @r.get("/api/evidence/{ref}", response_model=EvidencePage, responses=REFUSALS, tags=["flows"])
    def evidence_of(
        ref: str,
        _: Principal = Depends(readers),  # noqa: B008
        since: Since = None,
        until: Until = None,
        limit: Limit = 1000,
    ) -> EvidencePage:
        """The events behind a flow, recipient, purpose, category or alert reference (as reports quote them), up to
        ``limit``. Reads the events of the people the reference counts in the period: slower than the aggregates."""
        items: list[EvidenceItem] = []
        for e in evidence(console.store, [ref], aware(since), aware(until)):
            if len(items) == limit:
                return EvidencePage(ref=ref, events=items, complete=False)
            items.append(EvidenceItem(event_id=e.event_id, occurred_at=e.occurred_at))
        return EvidencePage(ref=ref, events=items, complete=True)

    @r.get("/api/alerts", response_model=list[Alert], responses=REFUSALS, tags=["alerts"])
    def alerts(
        _: Principal = Depends(readers),  # noqa: B008
        status: Annotated[
            str | None, Query(pattern="^(open|acknowledged)$", description="open or acknowledged")
        ] = None,
        rule: RuleId = None,
        severity: Annotated[Severity | None, Query(description="Only alerts of this severity.")] = None,
        since: Annotated[Instant | None, Query(description="Only alerts last seen at or after this time.")] = None,
        until: Annotated[Instant | None, Query(description="Only alerts first seen before this time.")] = None,
    ) -> Response:
        """Deduplicated undeclared-flow alerts, newest first (the console sorts them, most severe first). An alert
        is in the period [since, until) when it was seen in it: last seen at or after ``since``, first seen before
        ``until``. People appear by pseudonym only."""
        found = console.store.alerts(status=status, rule=rule, since=aware(since))
        end = aware(until)
        chosen = [
            a for a in found if (severity is None or a.severity == severity) and (end is None or a.first_seen < end)
        ]
        # serialised once, as FastAPI would for response_model (which stays, for the OpenAPI schema)
        return Response(_ALERTS.dump_json(chosen), media_type="application/json")

    @r.post(
        "/api/alerts/{alert_id}/ack",
        response_model=Acknowledged,
        responses=REFUSALS | _NOT_FOUND,
        tags=["alerts"],
    )
    def acknowledge(alert_id: str, request: Request, who: Principal = Depends(dpo)) -> Acknowledged:  # noqa: B008
        """Acknowledge an alert (dpo). Recorded in the audit trail with the alert id."""
        if not console.store.acknowledge_alert(alert_id):
            raise HTTPException(404, "no such alert")
        audited(console.audit, request, who, action="alert-ack", target=alert_id, returned={"alerts": 1})
        return Acknowledged(alert_id=alert_id, status="acknowledged")

    return r
