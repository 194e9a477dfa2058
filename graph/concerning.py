"""The alerts that concern one person, each with that person's part of it (store-neutral)."""

from __future__ import annotations

from graph.store import GraphStore
from schemas.answers import PersonAlert


def person_alerts(store: GraphStore, pseudonym: str) -> list[PersonAlert]:
    """The alerts an event of this person (by pseudonym) triggered, with which of each alert's events are theirs.

    An alert groups every event of one undeclared flow, whoever it concerns: its own counts are over everyone. The
    person's part is read from their own events (``event_facts`` of one person: cheap whatever the history).
    """
    mine = store.alerts(subject=pseudonym)
    if not mine:
        return []
    wanted = {a.alert_id for a in mine}
    own: dict[str, list[str]] = {}
    for f in store.event_facts(people=[pseudonym]):  # oldest first
        for aid in f.alerts:
            if aid in wanted:
                own.setdefault(aid, []).append(f.event_id)
    out = []
    for a in mine:
        ids = own.get(a.alert_id, [])
        out.append(PersonAlert(**a.model_dump(exclude={"subject"}), person_events=len(ids), person_event_ids=ids))
    return out
