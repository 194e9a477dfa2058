"""The alerts that concern one person, each with that person's part of it (store-neutral)."""

from __future__ import annotations

from graph.store import GraphStore
from schemas.answers import Alert, PersonAlert, WhoHas


def concerning(found: WhoHas | None, pseudonym: str, alerts: list[Alert]) -> list[Alert]:
    """Alerts about a person: those naming their pseudonym, or resting on an event of a disclosure of their data."""
    shared = {e for r in found.recipients for e in r.event_ids} if found else set()
    return [a for a in alerts if pseudonym in a.subjects or not shared.isdisjoint(a.event_ids)]


def person_alerts(store: GraphStore, pseudonym: str, found: WhoHas | None) -> list[PersonAlert]:
    """The alerts concerning a person (by pseudonym), with how many of each alert's events are theirs.

    An alert groups every event of one undeclared flow, whoever it concerns: its own counts are over everyone.
    """
    mine = concerning(found, pseudonym, store.alerts())
    if not mine:
        return []
    evidence = store.alert_events()
    shared = {e for r in found.recipients for e in r.event_ids} if found else set()
    out = []
    for a in mine:
        own = [e for e, who in evidence.get(a.alert_id, []) if who == pseudonym or e in shared]
        out.append(PersonAlert(**a.model_dump(exclude={"subject"}), person_events=len(own), person_event_ids=own))
    return out
