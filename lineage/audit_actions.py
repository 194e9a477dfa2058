"""The actions the audit trail records, in one table: the trail refuses any other, the console's audit filter offers
these (GET /api/vocabulary, ``audit_actions``) and the docs list them."""

from __future__ import annotations

from reports.registry import REPORTS

#: action -> what it records, for the actions that are not a report
_ACTIONS: dict[str, str] = {
    "who-has": "who has a person's data (lineage who-has, the person page)",
    "subject-alerts": "the alerts that concern a person (the person page)",
    "erase": "a person erased (lineage erase)",
    "erase-dry-run": "what an erasure of a person would do (lineage erase --dry-run)",
    "erasures": "a person's erasures (lineage erasures)",
    "subject-notices": "the Art. 19 notices of a person's erasures (the person page)",
    "notify-art19": "Art. 19 notices sent to a person's recipients (lineage notify art19, the console's button)",
    "notify-list": "where a person's Art. 19 notices stand (lineage notify list PERSON)",
    "notice-ack": "a recipient's acknowledgement of an Art. 19 notice recorded (lineage notify ack, the console)",
    "alert-ack": "an alert acknowledged (the console)",
    "audit-query": "the audit trail queried about a person",
    "audit-export": "the audit trail exported with a person's entries",
}


def report_action(kind: str) -> str:
    """The action of a per-person report of this kind: ``report:access``, ``report:art19``."""
    return f"report:{kind}"


#: every action the audit trail can hold -> what it records, the per-person reports' from the table of report kinds
ACTIONS: dict[str, str] = {
    **_ACTIONS,
    **{report_action(k.name): f"{k.heading or k.name} about a person" for k in REPORTS.values() if k.per_person},
}
