"""Where Art. 19 notices go, and their table, :data:`NOTICE_SINKS`: files for a mail system to pick up, a JSON
webhook, a Microsoft Teams card. Built as the alert sinks are (streams/alerts/sinks.py: the same HTTP post, errors
and Adaptive Card version); a sink's name is what the store records as the notice's channel.

A new sink is a class here with ``name``, ``send`` and ``close``, one line in :data:`NOTICE_SINKS`, and its
LINEAGE_NOTICE_* settings in :mod:`config`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from config import Settings
from reports.escaping import printable
from schemas.notices import Art19Notice
from streams.alerts.notices import ADAPTIVE_CARD_CONTENT_TYPE, ADAPTIVE_CARD_VERSION
from streams.alerts.sinks import AlertDeliveryError, _host, post_json

NoticeDeliveryError = AlertDeliveryError  # one error for every sink: what failed, and whether a retry can help


class NoticeSink(Protocol):
    """Where notices go. ``send`` delivers one notice or raises :class:`NoticeDeliveryError`."""

    name: str

    def send(self, notice: Art19Notice) -> None: ...

    def close(self) -> None: ...


def notice_document(notice: Art19Notice) -> dict[str, Any]:
    """The notice as JSON (the `lineage notify list --format json` shape of a notice)."""
    return notice.model_dump(mode="json")


def subject_line(notice: Art19Notice) -> str:
    return printable(f"Art. 19 notice {notice.notice_id}: {notice.kind.value} of personal data (request "
                     f"{notice.request})")  # fmt: skip


def notice_text(notice: Art19Notice) -> str:
    """The notice in words: what a mail's body says."""
    lines = [
        f"To: {notice.recipient_name} ({notice.recipient_id})",
        f"From: {notice.controller}" + (f", {notice.controller_contact}" if notice.controller_contact else ""),
        "",
        notice.action,
        "",
        f"Request: {notice.kind.value}, reference {notice.request}, dated {notice.requested_at.isoformat()}",
        f"The person: {notice.person.scheme} {notice.person.value}",
        f"Categories concerned: {', '.join(notice.categories) or notice.categories_statement}",
        "",
        notice.legal_basis,
        "",
        notice.acknowledge,
    ]
    return "\n".join(printable(line) for line in lines)  # names and contacts come from events


def _facts(notice: Art19Notice) -> list[tuple[str, str]]:
    return [
        ("Request", f"{notice.kind.value} ({notice.request})"),
        ("Dated", notice.requested_at.isoformat()),
        ("Person", f"{notice.person.scheme} {notice.person.value}"),
        ("Categories", ", ".join(notice.categories) or notice.categories_statement),
        ("Controller", notice.controller + (f", {notice.controller_contact}" if notice.controller_contact else "")),
        ("Notice id", notice.notice_id),
    ]


def teams_notice(notice: Art19Notice) -> dict[str, Any]:
    """A Teams message with one Adaptive Card: the notice's facts, the law, how to acknowledge."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "fallbackText": subject_line(notice),
        "body": [
            {"type": "TextBlock", "text": subject_line(notice), "size": "Medium", "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": f"To {notice.recipient_name} ({notice.recipient_id})", "wrap": True},
            {"type": "TextBlock", "text": notice.action, "wrap": True},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in _facts(notice)]},
            {"type": "TextBlock", "text": notice.legal_basis, "wrap": True, "isSubtle": True, "size": "Small"},
            {"type": "TextBlock", "text": notice.acknowledge, "wrap": True, "size": "Small"},
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


class FileNoticeSink:
    """Writes each notice as one JSON file, ``<notice id>.json`` in a folder, for a mail system to pick up: the
    address, a subject line, the text, and the notice itself. Written whole (a temporary file renamed) or not at all."""

    def __init__(self, folder: Path, *, name: str = "file") -> None:
        self.folder, self.name = folder, name

    def send(self, notice: Art19Notice) -> None:
        doc = {
            "to": notice.recipient_contact,
            "subject": subject_line(notice),
            "text": notice_text(notice),
            "notice": notice_document(notice),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".notice-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2, ensure_ascii=False)
                f.write("\n")
            os.replace(tmp, self.folder / f"{notice.notice_id}.json")
        except OSError as exc:
            raise NoticeDeliveryError(
                f"cannot write the notice into {self.folder}: {exc.strerror or type(exc).__name__}", retryable=False
            ) from None

    def close(self) -> None:
        pass


class WebhookNoticeSink:
    """POSTs ``{"source": "privacy-lineage", "art19_notice": {...}}``, one request per notice."""

    def __init__(
        self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0, name: str = "webhook"
    ) -> None:
        self.url, self.headers, self.timeout, self.name = url, dict(headers or {}), timeout, name

    def send(self, notice: Art19Notice) -> None:
        body = {"source": "privacy-lineage", "art19_notice": notice_document(notice)}
        post_json(self.url, body, headers=self.headers, timeout=self.timeout)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"WebhookNoticeSink({_host(self.url)!r})"


class TeamsNoticeSink:
    """Posts one Adaptive Card message per notice to a Microsoft Teams incoming webhook (or Workflows webhook)."""

    def __init__(self, url: str, *, timeout: float = 5.0, name: str = "teams") -> None:
        self.url, self.timeout, self.name = url, timeout, name

    def send(self, notice: Art19Notice) -> None:
        post_json(self.url, teams_notice(notice), timeout=self.timeout)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"TeamsNoticeSink({_host(self.url)!r})"


# -- the table -----------------------------------------------------------------------------------------------------
NoticeSinkFactory = Callable[[Settings], NoticeSink | None]


def _webhook(s: Settings) -> NoticeSink | None:
    if not s.notice_webhook_url:
        return None
    headers = {"Authorization": f"Bearer {s.notice_webhook_token}"} if s.notice_webhook_token else {}
    return WebhookNoticeSink(s.notice_webhook_url, headers=headers, timeout=s.alert_timeout)


#: Every notice sink by name, with the setting that turns it on; the factory returns None when it is off.
NOTICE_SINKS: dict[str, tuple[str, NoticeSinkFactory]] = {
    "file": ("LINEAGE_NOTICE_DIR", lambda s: FileNoticeSink(s.notice_dir) if s.notice_dir else None),
    "webhook": ("LINEAGE_NOTICE_WEBHOOK_URL", _webhook),
    "teams": (
        "LINEAGE_NOTICE_TEAMS_URL",
        lambda s: TeamsNoticeSink(s.notice_teams_url, timeout=s.alert_timeout) if s.notice_teams_url else None,
    ),
}


class NoSink(ValueError):
    """No sink can be used: none named is known, or the one named (or every one) is not configured."""


def notice_sink(settings: Settings, name: str | None = None) -> NoticeSink:
    """The sink named (or the first configured, in table order); :class:`NoSink` says what to set."""
    if name is not None:
        if name not in NOTICE_SINKS:
            raise NoSink(f"unknown notice sink {name!r} (known: {', '.join(NOTICE_SINKS)})")
        variable, make = NOTICE_SINKS[name]
        sink = make(settings)
        if sink is None:
            raise NoSink(f"the {name} notice sink is not configured: set {variable}")
        return sink
    for _variable, make in NOTICE_SINKS.values():
        sink = make(settings)
        if sink is not None:
            return sink
    wanted = ", ".join(v for v, _ in NOTICE_SINKS.values())
    raise NoSink(f"no notice sink is configured: set one of {wanted}")


def configured_sink(settings: Settings) -> NoticeSink | None:
    """The first configured sink, in table order, or None (the console's button then says what to set)."""
    try:
        return notice_sink(settings)
    except NoSink:
        return None
