"""How an alert looks to each sink: a JSON document, a Microsoft Teams Adaptive Card, Slack blocks, a log line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.escaping import printable
from schemas.answers import Alert

ADAPTIVE_CARD_VERSION = "1.4"  # what Teams incoming webhooks render everywhere (desktop, web, mobile)
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_EVENT_IDS = 1000  # evidence listed in a JSON document; the store keeps all of it
_SHOWN_EVENT_IDS = 5  # evidence shown on a chat card


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One alert to deliver: its current state in the store, and whether this batch raised it (else updated it)."""

    alert: Alert
    new: bool


def alert_document(notice: AlertNotice, *, max_event_ids: int = MAX_EVENT_IDS) -> dict[str, Any]:
    """The alert as JSON (the `lineage alerts --format json` shape) plus ``change``; evidence capped, total kept."""
    doc = notice.alert.model_dump(mode="json")
    doc["change"] = "new" if notice.new else "updated"
    doc["event_ids"] = doc["event_ids"][:max_event_ids]
    doc["event_ids_truncated"] = notice.alert.count > len(doc["event_ids"])
    return doc


def _title(notice: AlertNotice) -> str:
    a = notice.alert
    return f"{'New' if notice.new else 'Updated'} privacy alert: {a.rule} ({a.severity})"


def _target(a: Alert) -> str:
    return f"{a.recipient} ({a.recipient_type})" if a.recipient else "no recipient (collection or use)"


def _evidence(a: Alert) -> str:
    shown = ", ".join(a.event_ids[:_SHOWN_EVENT_IDS])
    more = a.count - min(len(a.event_ids), _SHOWN_EVENT_IDS)
    return shown + (f" and {more} more" if more > 0 else "")


def _clause(a: Alert, limit: int = 600) -> str:
    if not a.clause_text:
        return f"Policy {a.policy_version}: no clause declares this."
    quote = a.clause_text if len(a.clause_text) <= limit else a.clause_text[: limit - 1] + "\u2026"
    return f"Policy {a.policy_version}, {a.clause_section}: \u201c{quote}\u201d"


def summary_line(notice: AlertNotice) -> str:
    """One line for logs and chat fallbacks: ids, keys and counts only (people appear as a count, never by id)."""
    a = notice.alert
    purpose = f" for {a.purpose}" if a.purpose else ""
    # one line, and no control character: a recipient's name comes from events, and log lines reach terminals
    return printable(
        f"{_title(notice)} [{a.alert_id}]: {a.category}{purpose} -> {_target(a)}; {a.count} event(s), "
        f"{a.people} person(s), last {a.last_seen.isoformat()}; policy {a.policy_version}; {a.reason}"
    )


def _facts(a: Alert) -> list[tuple[str, str]]:
    return [
        ("Severity", a.severity.upper()),
        ("Rule", a.rule),
        ("Category", a.category),
        ("Purpose", a.purpose or "\u2014"),
        ("Recipient", _target(a)),
        ("Events", str(a.count)),
        ("People", str(a.people)),
        ("First seen", a.first_seen.isoformat()),
        ("Last seen", a.last_seen.isoformat()),
        ("Policy version", a.policy_version),
        ("Alert id", a.alert_id),
    ]


def adaptive_card(notice: AlertNotice) -> dict[str, Any]:
    """An Adaptive Card (schema version 1.4) describing the alert."""
    a = notice.alert
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "fallbackText": summary_line(notice),
        "body": [
            {
                "type": "TextBlock",
                "text": _title(notice),
                "size": "Medium",
                "weight": "Bolder",
                "color": "Attention" if a.severity in ("critical", "high") else "Warning",
                "wrap": True,
            },
            {"type": "TextBlock", "text": a.reason, "wrap": True},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in _facts(a)]},
            {"type": "TextBlock", "text": _clause(a), "wrap": True, "isSubtle": True, "size": "Small"},
            {
                "type": "TextBlock",
                "text": f"Evidence (event ids): {_evidence(a)}",
                "wrap": True,
                "isSubtle": True,
                "size": "Small",
            },
            {
                "type": "TextBlock",
                "text": f"Acknowledge with: lineage alerts ack {a.alert_id}",
                "wrap": True,
                "fontType": "Monospace",
                "size": "Small",
            },
        ],
    }


def teams_message(notice: AlertNotice) -> dict[str, Any]:
    """The body a Microsoft Teams incoming webhook (or Workflows webhook) takes: a message with one Adaptive Card."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(notice)}
        ],
    }


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def slack_message(notice: AlertNotice) -> dict[str, Any]:
    """The body a Slack incoming webhook takes: fallback text and Block Kit blocks (within Slack's size limits)."""
    a = notice.alert
    fields = [{"type": "mrkdwn", "text": _cut(f"*{t}*\n{_mrkdwn(v)}", 2000)} for t, v in _facts(a)[:10]]
    return {
        "text": _cut(_mrkdwn(summary_line(notice)), 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(_title(notice), 150), "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(a.reason), 3000)}},
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": _cut(_mrkdwn(_clause(a)), 3000)},
                    {"type": "mrkdwn", "text": _cut(_mrkdwn(f"Evidence (event ids): {_evidence(a)}"), 3000)},
                ],
            },
        ],
    }
