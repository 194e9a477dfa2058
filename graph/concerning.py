"""What concerns one person (store-neutral): who has their data, with their opt-outs, and the alerts on it, each
with that person's part of it."""

from __future__ import annotations

from graph.store import GraphStore
from policies.consent import opt_out_items
from policies.retention import RetentionJudge
from schemas.answers import PersonAlert, PersonLookup, WhoHas
from schemas.policy import Policy
from schemas.taxonomy import Taxonomy


def person_lookup(
    store: GraphStore, pseudonym: str, subject_id: str, policy: Policy, taxonomy: Taxonomy | None = None
) -> PersonLookup:
    """Who has the person's data (answered about ``subject_id``, read by ``pseudonym``), until when each category may
    be kept under ``policy``, and the person's opt-outs in words: the console's GET /api/subjects/{id} and
    ``lineage who-has --format json``. An unknown person is an empty answer."""
    found = store.who_has(pseudonym)
    held = (
        RetentionJudge(policy).with_kept_until(found.model_copy(update={"subject": subject_id}))
        if found
        else WhoHas(subject=subject_id, categories=[], recipients=[])
    )
    state = store.consent_state([pseudonym]).get(pseudonym)
    opt_outs = opt_out_items(state, taxonomy if taxonomy is not None else policy.taxonomy())
    return PersonLookup.model_validate({**dict(held), "opt_outs": opt_outs})


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
