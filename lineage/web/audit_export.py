"""The audit trail's entries exported for a DPO or an auditor: CSV (formula-looking cells made text) and JSON Lines."""

from __future__ import annotations

from collections.abc import Iterable

from lineage.web.audit import AuditEntry
from reports.escaping import csv_text

CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "endpoint",
    "client",
    "subject",
    "target",
    "returned",
    "prev",
    "mac",
)


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """Entries as CSV; ``returned`` as ``key=count`` pairs separated by ';'; a cell that starts like a spreadsheet
    formula is made text (a target, an alert id, is whatever was asked for)."""
    return csv_text(
        CSV_COLUMNS,
        (
            [
                e.seq,
                e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                e.actor,
                e.role,
                e.action,
                e.endpoint,
                e.client,
                e.subject or "",
                e.target or "",
                ";".join(f"{k}={v}" for k, v in sorted(e.returned.items())),
                e.prev,
                e.mac or "",
            ]
            for e in entries
        ),
        lineterminator="\n",
    )


def to_jsonl(entries: Iterable[AuditEntry]) -> str:
    """Entries as JSON Lines, one entry per line."""
    return "".join(e.model_dump_json() + "\n" for e in entries)
