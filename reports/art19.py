"""The list of recipients to notify of a rectification, erasure or restriction of one person's data (GDPR Art. 19),
with where each notice of the person's erasures stands: from GraphStore named queries and the policy (pure,
read-only, any store); the recipients are described as in the access report (reports/access.py)."""

from __future__ import annotations

from datetime import datetime

from graph.store import GraphStore
from reports.access import Pseudonym, recipient_disclosures, recipient_rows
from reports.notices import notice_rows, notices_statement, statuses
from reports.vocab import Table, Vocabulary, make_header, make_period, names
from schemas.policy import Organisation, Policy
from schemas.recipients import RecipientRegistry
from schemas.reports import Art19Report

ART19_OBLIGATION = (
    "GDPR Art. 19: the controller communicates any rectification (Art. 16), erasure (Art. 17(1)) or restriction "
    "(Art. 18) of personal data to each recipient to whom the data have been disclosed, unless this proves "
    "impossible or involves disproportionate effort, and tells the person about those recipients if they ask."
)


def art19_report(
    store: GraphStore,
    pseudonymizer: Pseudonym,
    subject_id: str,
    policy: Policy | None = None,
    *,
    now: datetime | None = None,
    controller: Organisation | None = None,
    registry: RecipientRegistry | None = None,
) -> Art19Report:
    """Every recipient to tell of a rectification, erasure or restriction of one person's data (GDPR Art. 19), and
    for each of the person's erasures, each recipient on its list and where its notice stands (reports/notices.py)."""
    if policy is None:
        from policies import default_policy

        policy = default_policy()
    vocab = Vocabulary(policy)
    key = pseudonymizer(subject_id)
    found = store.who_has(key)
    recipients = recipient_disclosures(found, vocab, (None, None, None), None)
    notices = statuses(store, key, registry)
    missing = [r.id for r in recipients if not r.contact]
    statement = (
        f"{len(recipients)} recipient(s) to notify: {names(r.name for r in recipients)}."
        + (f" {len(missing)} of them have no recorded contact details." if missing else "")
        if recipients
        else "No recipient to notify is recorded now: the person's erasure deleted the evidence of disclosures; the "
        "recipients on its Art. 19 list are under the notices."
        if notices
        else "No recipient to notify, as no disclosure of this person's data is recorded."
    )
    return Art19Report(
        header=make_header(
            policy,
            "Recipients to notify of a rectification, erasure or restriction",
            "GDPR Art. 19",
            make_period(None, None),
            now,
            controller,
        ),
        subject_id=subject_id,
        data_found=bool(found and found.categories),
        obligation=ART19_OBLIGATION,
        recipients=recipients,
        recipients_statement=statement,
        recipients_without_contact=missing,
        evidence_event_ids=sorted({e for r in recipients for e in r.event_ids}),
        notices=notices,
        notices_statement=notices_statement(notices, erased=bool(store.erasures([key]).get(key))),
    )


def art19_tables(report: Art19Report) -> dict[str, Table]:
    """The Art. 19 report's tables: the recipients to notify, and the notices of the person's erasures."""
    return {"recipients": recipient_rows(report.recipients), "notices": notice_rows(report.notices)}
