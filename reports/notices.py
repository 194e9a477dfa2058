"""Art. 19 notices, what they say and where they stand: each recipient on the Art. 19 list of each of a person's
erasures (its tombstone), the notice it is sent (naming the person only as the recipient can find them) and its
status from the notices the store keeps. Sending is streams/notify.py's; this module reads only."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from graph.changes import Tombstone
from graph.store import GraphStore
from reports.vocab import Table, controller_details
from schemas.answers import RecipientRef
from schemas.notices import LEGAL_BASIS, Art19Notice, NoticeRecord, NoticeStatus, PersonRef, RequestKind
from schemas.policy import Organisation, Policy
from schemas.recipients import PersonReference, RecipientRegistry


@dataclass(frozen=True, slots=True)
class Listed:
    """One recipient on one erasure's Art. 19 list, with what the registry or the store knows of it, and the
    categories of the person's data it had received as the erasure recorded them (None: not recorded, the tombstone
    of an older store)."""

    tombstone: Tombstone
    recipient: str
    name: str
    contact: str | None
    reference: PersonReference
    categories: tuple[str, ...] | None = None


def notice_id(pseudonym: str, request: str, recipient: str, earlier: int) -> str:
    """The id of the notice to this recipient for this request after ``earlier`` notices: the same send gives the
    same id in every process and store (a repeated send is the same notice), a resend a new one."""
    raw = "\x1f".join((pseudonym, request, recipient, str(earlier))).encode("utf-8")
    return "n_" + hashlib.sha256(raw).hexdigest()[:16]


def art19_list(store: GraphStore, pseudonym: str, registry: RecipientRegistry | None) -> list[Listed]:
    """Every recipient on the Art. 19 list of each of the person's erasures, oldest erasure first, then by id."""
    tombstones = store.erasures([pseudonym]).get(pseudonym, [])
    if not tombstones:
        return []
    known = store.catalogue().recipients
    listed = []
    for t in tombstones:
        for rid in sorted(t.recipients):
            entry = registry.get(rid) if registry is not None else None
            ref: RecipientRef | None = known.get(rid)
            listed.append(
                Listed(
                    tombstone=t,
                    recipient=rid,
                    name=entry.name if entry else ref.name if ref else rid,
                    contact=(entry.contact if entry else None) or (ref.contact if ref else None),
                    reference=entry.person_reference if entry else PersonReference.PSEUDONYM,
                    categories=t.categories_received(rid),
                )
            )
    return listed


def _latest(records: list[NoticeRecord], request: str, recipient: str) -> list[NoticeRecord]:
    return [r for r in records if r.request == request and r.recipient == recipient]


def statuses(store: GraphStore, pseudonym: str, registry: RecipientRegistry | None = None) -> list[NoticeStatus]:
    """Each recipient on the person's Art. 19 lists and its latest notice: not sent, sent or acknowledged."""
    kept = store.notices(pseudonym)
    out = []
    for item in art19_list(store, pseudonym, registry):
        sent = _latest(kept, item.tombstone.event_id, item.recipient)
        last = sent[-1] if sent else None
        status = "not-sent" if last is None else "acknowledged" if last.acknowledged_at else "sent"
        out.append(
            NoticeStatus(
                recipient_id=item.recipient,
                recipient_name=item.name,
                request=item.tombstone.event_id,
                kind=RequestKind.ERASURE,
                requested_at=item.tombstone.erased_at,
                categories=list(item.categories) if item.categories is not None else None,
                status=status,
                notice_id=last.notice_id if last else None,
                channel=last.channel if last else None,
                sent_at=last.sent_at if last else None,
                acknowledged_at=last.acknowledged_at if last else None,
                acknowledged_by=last.acknowledged_by if last else None,
            )
        )
    return out


def person_ref(reference: PersonReference, subject_id: str, pseudonym: str) -> PersonRef:
    """How a notice names the person to a recipient: its own matching reference when the registry says it keeps one
    (the SHA-256 of the e-mail address, when the id is one), else this system's pseudonym. Never the id itself."""
    address = subject_id.strip().lower()
    if reference is PersonReference.SHA256_EMAIL and "@" in address:
        return PersonRef(scheme="sha256-email", value=hashlib.sha256(address.encode("utf-8")).hexdigest())
    return PersonRef(scheme="pseudonym", value=pseudonym)


def build_notice(
    item: Listed,
    *,
    notice: str,
    subject_id: str,
    pseudonym: str,
    policy: Policy,
    sent_at: datetime,
    controller: Organisation | None = None,
    categories: Sequence[str] | None = None,
) -> Art19Notice:
    """The notice of one erasure to one recipient, listing the categories it received: those the erasure recorded
    with its tombstone (``item.categories``), or those the caller read before the erasure (``categories``, which
    win). A tombstone of an older store kept only whom to tell: the notice then says they are every category
    disclosed to the recipient (see docs/privacy.md)."""
    who = controller_details(policy, controller)
    when = item.tombstone.erased_at
    listed = sorted(set(categories if categories is not None else item.categories or ()))
    return Art19Notice(
        notice_id=notice,
        kind=RequestKind.ERASURE,
        request=item.tombstone.event_id,
        requested_at=when,
        recipient_id=item.recipient,
        recipient_name=item.name,
        recipient_contact=item.contact,
        person=person_ref(item.reference, subject_id, pseudonym),
        categories=listed,
        categories_statement=(
            f"The categories of this person's personal data we disclosed to you up to {when.date().isoformat()}: "
            f"{', '.join(listed)} (as recorded before the erasure)."
            if listed
            else f"Every category of this person's personal data we disclosed to you up to {when.date().isoformat()}: "
            "the erasure deleted our record of which categories they were, and kept only whom to tell."
        ),
        action=(
            f"The person's personal data that occurred up to {when.isoformat()} has been erased at their request "
            "(GDPR Art. 17; CCPA \u00a71798.105). Please erase the personal data of this person that we disclosed "
            "to you, and acknowledge this notice quoting its id."
        ),
        legal_basis=LEGAL_BASIS,
        controller=who.name,
        controller_contact=who.contact or who.dpo,
        acknowledge=f"Reply to the controller quoting notice {notice} (recorded with: lineage notify ack {notice}).",
        sent_at=sent_at,
    )


def notices_statement(items: list[NoticeStatus], *, erased: bool) -> str:
    """The notices in one sentence: how many recipients are on the lists and where their notices stand."""
    if not items:
        return (
            "An erasure is recorded, but none of the person's data had been disclosed: nobody to notify."
            if erased
            else "No erasure is recorded for this person, so no notice is due."
        )
    count = {s: sum(1 for i in items if i.status == s) for s in ("not-sent", "sent", "acknowledged")}
    return (
        f"{len(items)} notice(s) due under Art. 19 for the person's erasure(s): {count['not-sent']} not sent, "
        f"{count['sent']} sent and awaiting acknowledgement, {count['acknowledged']} acknowledged."
    )


def notice_rows(items: list[NoticeStatus]) -> Table:
    """The notices as a CSV table."""
    head = ["recipient_id", "name", "request", "kind", "requested_at", "status", "notice_id", "channel", "sent_at",
            "acknowledged_at", "acknowledged_by", "categories"]  # fmt: skip
    rows = [[i.recipient_id, i.recipient_name, i.request, i.kind.value, i.requested_at, i.status, i.notice_id,
             i.channel, i.sent_at, i.acknowledged_at, i.acknowledged_by, i.categories] for i in items]  # fmt: skip
    return head, rows
