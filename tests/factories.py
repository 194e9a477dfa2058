"""Builders of wire-format events for tests: readable defaults, override what the test is about."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)

AFFILIATE = {"id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK"}
BROKER = {"id": "brokr", "name": "DataBrokr Inc", "type": "data_broker", "country": "US"}
ADVERTISER = {"id": "adnet", "name": "AdNet GmbH", "type": "advertiser", "country": "DE"}


def event(kind: str = "collected", **overrides: Any) -> dict[str, Any]:
    """A valid event of ``kind``; keyword arguments replace fields (subject_id= sets subject.id)."""
    ev: dict[str, Any] = {
        "schema_version": 1,
        "event_id": overrides.pop("event_id", f"ev-{next(_ids):06d}"),
        "kind": kind,
        "occurred_at": "2026-03-01T10:00:00Z",
        "emitted_by": "teams-bot",
        "subject": {"id": overrides.pop("subject_id", "alice@example.com"), "type": "customer"},
        "data_categories": ["user.contact.email"],
        "role": "controller",
    }
    if kind == "collected":
        ev["source"] = {"type": "data_subject", "name": "signup-form"}
    if kind in ("used", "shared"):
        ev["purpose"] = "essential.service.operations.support"
    if kind == "shared":
        ev["recipient"] = dict(AFFILIATE)
    ev.update(overrides)
    return {k: v for k, v in ev.items() if v is not None}
