"""Cases for the rules judged against the recipient registry, shared by every path that must give the same answer
(the handler on every store, `lineage ingest`, the worker): events that must raise exactly the rules listed, and
nearby events that must stay silent. Each case's events are about a person of its own, so that all of them can be
applied to one store together and judged by event id."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policies import default_policy
from schemas.answers import Alert
from schemas.policy import Policy, RetentionPeriod
from schemas.recipients import RecipientRegistry
from tests.factories import event

TRANSFER, MISMATCH, NEW = "transfer-without-safeguard", "recipient-country-mismatch", "new-recipient"


def _r(rid: str, name: str, rtype: str, country: str, role: str = "controller", **more: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "country": country, "role": role, **more}


BCR = {"kind": "bcr", "reference": "SOS Group binding corporate rules", "date": "2024-05-02"}
REGISTRY = RecipientRegistry.model_validate(
    {
        "recipients": [
            _r("sos-hk", "SOS Hong Kong Ltd", "affiliate", "HK", safeguard=BCR, contact="privacy@sos-hk.example"),
            _r("sos-in", "SOS India Pvt Ltd", "affiliate", "IN"),
            _r("adverta", "Adverta Media", "advertiser", "US", dpf_certified=True),
            _r("gateway-us", "PayGate Inc", "service_provider", "US", "processor", dpa="DPA-11"),
            _r("payflow", "Payflow Payments", "service_provider", "IE", "processor", dpa="DPA-3"),
            _r("northwind", "Northwind Partners", "business_partner", "GB"),
            _r("maple", "Maple Partners Inc", "business_partner", "CA", pipeda=True),
            _r("ontario-court", "Ontario Superior Court", "authority", "CA"),
            _r("tokyo-partner", "Tokyo Partners KK", "business_partner", "JP"),
            _r("tokyo-police", "Tokyo Metropolitan Police", "authority", "JP"),
        ]
    }
)


def recipient(rid: str, **change: Any) -> dict[str, Any]:
    """A recipient as an event names it: the registry's entry (or an unregistered one), changed as asked."""
    entry = REGISTRY.get(rid)
    base = (
        {"id": rid, "name": entry.name, "type": entry.type.value, "country": entry.country}
        if entry is not None
        else {"id": rid, "name": rid.title(), "type": "affiliate", "country": "HK"}
    )
    return {k: v for k, v in {**base, **change}.items() if v is not None}


@dataclass(frozen=True)
class Case:
    """Events about one person; the last is judged and must raise exactly ``rules`` (none: it must stay silent)."""

    name: str
    events: tuple[dict[str, Any], ...]
    rules: tuple[str, ...] = ()
    judged: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "judged", self.events[-1]["event_id"])


_n = 0


def shared(rid: str, purpose: str = "essential.service.operations.support", **more: Any) -> dict[str, Any]:
    global _n
    _n += 1
    change = more.pop("recipient", {})
    return event(
        "shared",
        event_id=f"case-{_n:03d}",
        subject_id=f"case-{_n:03d}@example.com",
        occurred_at="2026-05-04T10:00:00Z",
        recipient=recipient(rid, **change),
        purpose=purpose,
        **more,
    )


ANALYSIS, PROMOTION, PAYMENT, LAW = (
    "analytics.reporting",
    "marketing.communications",
    "essential.service.payment_processing",
    "essential.legal_obligation",
)
CARD = ["user.financial"]

TRANSFER_CASES: tuple[Case, ...] = (
    # must alert
    Case("an affiliate in India with no safeguard", (shared("sos-in"),), (TRANSFER,)),
    Case(
        "an affiliate in India, the event naming no country",
        (shared("sos-in", recipient={"country": None}),),
        (TRANSFER,),
    ),
    Case(
        "a US gateway not certified under the DPF", (shared("gateway-us", PAYMENT, data_categories=CARD),), (TRANSFER,)
    ),
    Case(
        "a Canadian court: the Canadian decision covers PIPEDA organisations only",
        (shared("ontario-court", LAW),),
        (TRANSFER,),
    ),
    Case(
        "the Tokyo police: the Japanese decision covers the private sector", (shared("tokyo-police", LAW),), (TRANSFER,)
    ),
    Case("a Hong Kong affiliate the registry lacks (and a new recipient)", (shared("sos-hk2"),), (TRANSFER, NEW)),
    Case(
        "the Hong Kong affiliate receiving in China (its BCR still applies)",
        (shared("sos-hk", recipient={"country": "CN"}),),
        (MISMATCH,),
    ),
    Case(
        "the certified advertiser receiving in the UK (adequate too)",
        (shared("adverta", ANALYSIS, recipient={"country": "GB"}, data_categories=["user.behavior"]),),
        (MISMATCH,),
    ),
    Case(
        "the Indian affiliate receiving in Singapore: both rules",
        (shared("sos-in", recipient={"country": "SG"}),),
        (MISMATCH, TRANSFER),
    ),
    # must stay silent
    Case("the Hong Kong affiliate on the group's BCR", (shared("sos-hk"),)),
    Case("the Hong Kong affiliate, the event naming no country", (shared("sos-hk", recipient={"country": None}),)),
    Case("a DPF-certified US advertiser", (shared("adverta", ANALYSIS, data_categories=["user.behavior"]),)),
    Case("a UK partner: the UK adequacy decision", (shared("northwind", PROMOTION),)),
    Case("an Irish processor: no transfer", (shared("payflow", PAYMENT, data_categories=CARD),)),
    Case("a Canadian partner subject to PIPEDA", (shared("maple", PROMOTION),)),
    Case("a Japanese business", (shared("tokyo-partner", PROMOTION),)),
    Case("aggregated data to the Indian affiliate", (shared("sos-in", identifiability="aggregated"),)),
)

NEWCO = {"name": "Newco Partners Ltd", "type": "business_partner", "country": "IE"}

#: Judged in this order, after :data:`TRANSFER_CASES` or alone (a later case may rest on an earlier one).
NEW_RECIPIENT_CASES: tuple[Case, ...] = (
    # must alert
    Case(
        "the first disclosure to a partner the registry lacks", (shared("newco", PROMOTION, recipient=NEWCO),), (NEW,)
    ),
    Case(
        "aggregated data to another unregistered recipient (still its first disclosure)",
        (shared("newco-stats", ANALYSIS, recipient=NEWCO, identifiability="aggregated"),),
        (NEW,),
    ),
    # must stay silent
    Case("the second disclosure to that partner", (shared("newco", PROMOTION, recipient=NEWCO),)),
    Case("the first disclosure to a registered processor", (shared("payflow", PAYMENT, data_categories=CARD),)),
    Case("the first disclosure to a registered partner in the UK", (shared("northwind", PROMOTION),)),
)

#: Every case of the registry rules, in the order they are judged together.
REGISTRY_CASES = TRANSFER_CASES + NEW_RECIPIENT_CASES


def registry_file(folder: Path) -> Path:
    """:data:`REGISTRY` written as a registry file (YAML) in ``folder``."""
    path = folder / "recipients.yaml"
    path.write_text(yaml.safe_dump(REGISTRY.model_dump(mode="json", exclude_defaults=True)), encoding="utf-8")
    return path


def stored_rules(alerts: list[Alert], cases: tuple[Case, ...]) -> dict[str, set[str]]:
    """The rules alerts name for each case's judged event."""
    rules: dict[str, set[str]] = {c.judged: set() for c in cases}
    for alert in alerts:
        for event_id in alert.event_ids:
            if event_id in rules:
                rules[event_id].add(alert.rule)
    return rules


def expected(cases: tuple[Case, ...]) -> dict[str, set[str]]:
    return {c.judged: set(c.rules) for c in cases}


# -- retention (a policy declaring periods: the S Plus policy declares none) --------------------------------------
RETENTION = "retention-exceeded"


def retention_policy() -> Policy:
    """The S Plus policy with retention periods declared: contact details 30 days whatever the purpose, ticket
    content 90 days for support, behaviour by criteria only."""
    base = default_policy()
    periods = [
        RetentionPeriod(id="contact-30-days", data_categories=["user.contact"], days=30),
        RetentionPeriod(
            id="tickets-90-days-for-support",
            data_categories=["user.content.private"],
            purposes=["essential.service.operations.support"],
            days=90,
        ),
        RetentionPeriod(
            id="behaviour-while-open", data_categories=["user.behavior"], criteria="while the account is open"
        ),
    ]
    retention = base.retention.model_copy(update={"periods": periods})
    return base.model_copy(update={"retention": retention, "source": None})


_r = 0


def person_events(*events: tuple[str, str, dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Events about one new person: (kind, occurred_at, overrides) each."""
    global _r
    _r += 1
    return tuple(
        event(kind, event_id=f"ret-{_r:03d}-{i}", subject_id=f"ret-{_r:03d}@example.com", occurred_at=at, **more)
        for i, (kind, at, more) in enumerate(events)
    )


_CHAT = {"source": {"type": "data_subject", "name": "teams-chat"}}
_TICKET = {"data_categories": ["user.content.private"], "role": "processor", "customer": "acme-corp"}
_BEHAVIOUR = {"data_categories": ["user.behavior"]}

RETENTION_CASES: tuple[Case, ...] = (
    # must alert
    Case(
        "an email address used 59 days after it was collected (30 days declared)",
        person_events(("collected", "2026-01-01T10:00:00Z", {}), ("used", "2026-03-01T10:00:00Z", {})),
        (RETENTION,),
    ),
    Case(
        "ticket content used for support 120 days after it was collected (90 days declared for support)",
        person_events(
            ("collected", "2026-01-01T10:00:00Z", {**_TICKET, **_CHAT}),
            ("used", "2026-05-01T10:00:00Z", _TICKET),
        ),
        (RETENTION,),
    ),
    # must stay silent
    Case(
        "an email address used 14 days after it was collected",
        person_events(("collected", "2026-02-15T10:00:00Z", {}), ("used", "2026-03-01T10:00:00Z", {})),
    ),
    Case(
        "an email address used on the last moment of its period",
        person_events(("collected", "2026-01-01T10:00:00Z", {}), ("used", "2026-01-31T10:00:00Z", {})),
    ),
    Case(
        "behaviour kept by criteria only, used after half a year",
        person_events(
            ("collected", "2026-01-01T10:00:00Z", {**_BEHAVIOUR, "source": {"type": "automatic", "name": "metadata"}}),
            ("used", "2026-07-01T10:00:00Z", {**_BEHAVIOUR, "purpose": "analytics.reporting"}),
        ),
    ),
)


# -- sale and sharing after an opt-out (CCPA §1798.120), judged under the S Plus policy --------------------------
SALE = "sale-after-opt-out"
_s = 0


def opted_out_then(
    shared_at: str, opted_at: str, opt_out: dict[str, Any], **disclosure: Any
) -> tuple[dict[str, Any], ...]:
    """A new person's opt-out (``opt_out``: scope, signal) and then, in the stream, a disclosure (``disclosure``
    overrides; its recipient by the registry's id, or a dict)."""
    global _s
    _s += 1
    person = {"subject_id": f"sale-{_s:03d}@example.com"}
    rid = disclosure.pop("recipient", "adverta")
    return (
        event(
            "opted_out",
            event_id=f"sale-{_s:03d}-0",
            occurred_at=opted_at,
            emitted_by="web-app",
            data_categories=None,
            role=None,
            **opt_out,
            **person,
        ),
        event(
            "shared",
            event_id=f"sale-{_s:03d}-1",
            occurred_at=shared_at,
            recipient=rid if isinstance(rid, dict) else recipient(rid),
            **disclosure,
            **person,
        ),
    )


_GPC = {"scope": "sale_and_sharing", "signal": "gpc"}
_ASKED = {"scope": "sale_and_sharing"}
_BEFORE, _AFTER = "2026-04-01T10:00:00Z", "2026-04-02T10:00:00Z"
_COOKIE = ["user.device.cookie_id"]
BROKER = {"id": "databroker", "name": "DataHarvest Brokers Inc", "type": "data_broker", "country": "US"}
TRACKER = {"id": "clicktrail", "name": "ClickTrail Analytics", "type": "other_third_party", "country": "US"}

SALE_CASES: tuple[Case, ...] = (
    # must alert
    Case(
        "a cookie id shared with an advertiser for targeted ads after a Global Privacy Control signal",
        opted_out_then(_AFTER, _BEFORE, _GPC, data_categories=_COOKIE, purpose="marketing.advertising.third_party"),
        (SALE,),
    ),
    Case(
        "an email address sold to a data broker after the person asked not to be sold",
        opted_out_then(_AFTER, _BEFORE, _ASKED, recipient=BROKER, purpose="marketing.communications"),
        (SALE,),
    ),
    Case(
        "contact details given to a business partner for its promotions (presumed sold) after a GPC signal",
        opted_out_then(_AFTER, _BEFORE, _GPC, recipient="northwind", purpose=PROMOTION),
        (SALE,),
    ),
    Case(
        "a cookie id read by a third party's tracker, which the policy marks as sharing, after a GPC signal",
        opted_out_then(_AFTER, _BEFORE, _GPC, recipient=TRACKER, data_categories=_COOKIE, purpose="analytics"),
        (SALE,),
    ),
    Case(
        "usage trends shared with an advertiser for analysis, one second after a GPC signal",
        opted_out_then("2026-04-01T10:00:01Z", _BEFORE, _GPC, data_categories=["user.behavior"], purpose=ANALYSIS),
        (SALE,),
    ),
    # must stay silent
    Case(
        "support handed to the Hong Kong affiliate after a GPC signal (a business purpose)",
        opted_out_then(_AFTER, _BEFORE, _GPC, recipient="sos-hk"),
    ),
    Case(
        "aggregated usage shared with an advertiser after a GPC signal (not personal information)",
        opted_out_then(
            _AFTER, _BEFORE, _GPC, data_categories=["user.behavior"], purpose=ANALYSIS, identifiability="aggregated"
        ),
    ),
    Case(
        "a cookie id shared with an advertiser before the GPC signal that follows it in the stream",
        opted_out_then(_BEFORE, _AFTER, _GPC, data_categories=_COOKIE, purpose="marketing.advertising.third_party"),
    ),
    Case(
        "a cookie id shared with an advertiser at the very moment of the GPC signal",
        opted_out_then(_BEFORE, _BEFORE, _GPC, data_categories=_COOKIE, purpose="marketing.advertising.third_party"),
    ),
    Case(
        "usage trends shared with an advertiser for analysis after a marketing opt-out only",
        opted_out_then(_AFTER, _BEFORE, {}, data_categories=["user.behavior"], purpose=ANALYSIS),
    ),
)
