"""Sending a person's Art. 19 notices: one per recipient on the Art. 19 list of each of their erasures, through a
sink, each recorded in the store once sent (by pseudonym). A recipient already notified of a request is skipped
unless a resend is asked for; a notice whose sink fails is not recorded (it stays not sent) and the rest go on."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from graph.store import GraphStore
from reports.notices import art19_list, build_notice, notice_id
from schemas.notices import Art19Notice, NoticeRecord
from schemas.policy import Organisation, Policy
from schemas.recipients import RecipientRegistry
from streams.notice_sinks import NoticeDeliveryError, NoticeSink

_log = logging.getLogger(__name__)


def notice_controller(policy: Policy, contact: str | None) -> Organisation | None:
    """The controller as notices name it, with the operator's contact where the policy states none."""
    return Organisation(name=policy.controller.name, contact=contact) if contact else None


class NothingToNotify(LookupError):
    """The person has no erasure recorded (``known``: whether the store knows the person at all)."""

    def __init__(self, known: bool) -> None:
        super().__init__(
            "no erasure is recorded for this person, so there is nothing to notify"
            if known
            else "this person is unknown to the store: no data and no erasure is recorded"
        )
        self.known = known


Outcome = Literal["sent", "already-sent", "would-send", "failed"]


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """What became of one recipient's notice for one request; ``notice`` is what was (or would be) sent."""

    outcome: Outcome
    recipient: str
    request: str
    notice: Art19Notice | None  # None when already sent (see ``record``)
    record: NoticeRecord | None  # what the store keeps: the new notice, or the earlier one
    error: str | None = None


def send_art19_notices(
    store: GraphStore,
    pseudonym: str,
    subject_id: str,
    policy: Policy,
    sink: NoticeSink | None,
    *,
    registry: RecipientRegistry | None = None,
    resend: bool = False,
    controller: Organisation | None = None,
    now: datetime | None = None,
    received: Mapping[str, Sequence[str]] | None = None,
) -> list[NoticeOutcome]:
    """Notify each recipient on the person's Art. 19 lists (``sink`` None: a dry run, nothing sent or recorded).

    ``subject_id`` is read only to make a recipient's own reference (the hash of an e-mail address) where the
    registry says it keeps one; no notice carries it, and the store records only the pseudonym. ``received``: the
    categories each recipient had received, when the caller read them before the erasure deleted that evidence
    (`lineage erase --notify`); the notices then list them."""
    listed = art19_list(store, pseudonym, registry)
    if not listed:
        if store.erasures([pseudonym]).get(pseudonym):
            return []  # erased, and no recipient had received the data: nobody to tell
        raise NothingToNotify(known=store.who_has(pseudonym) is not None)
    kept = store.notices(pseudonym)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    out = []
    for item in listed:
        request = item.tombstone.event_id
        earlier = [r for r in kept if r.request == request and r.recipient == item.recipient]
        if earlier and not resend:
            out.append(NoticeOutcome("already-sent", item.recipient, request, None, earlier[-1]))
            continue
        nid = notice_id(pseudonym, request, item.recipient, len(earlier))
        notice = build_notice(
            item, notice=nid, subject_id=subject_id, pseudonym=pseudonym, policy=policy, sent_at=at,
            controller=controller, categories=(received or {}).get(item.recipient),
        )  # fmt: skip
        if sink is None:
            out.append(NoticeOutcome("would-send", item.recipient, request, notice, None))
            continue
        try:
            sink.send(notice)
        except NoticeDeliveryError as exc:
            out.append(NoticeOutcome("failed", item.recipient, request, notice, None, str(exc)))
            continue
        record = NoticeRecord(
            notice_id=nid, subject=pseudonym, request=request, kind=notice.kind, recipient=item.recipient,
            channel=sink.name, sent_at=at,
        )  # fmt: skip
        store.record_notice(record)
        out.append(NoticeOutcome("sent", item.recipient, request, notice, record))
    return out


@dataclass(frozen=True, slots=True)
class Erased:
    """An erasure a batch applied: the erasure event's id, the person's pseudonym and the raw id the event carried
    (read only to make a recipient's own reference, as :func:`send_art19_notices` says; never logged)."""

    event_id: str
    pseudonym: str
    subject_id: str = field(repr=False)


@dataclass(frozen=True)
class ErasureNotices:
    """Sends the Art. 19 notices of each erasure the pipeline applies (``LINEAGE_NOTIFY_ERASURES``), right after its
    batch is committed: `lineage ingest`, the worker and the console's event intake, as `lineage erase --notify` does
    for the erasures it applies itself. A notice whose sink fails is not recorded and stays not sent, for
    `lineage notify art19` (or the console's button) to retry; a failure of any other kind is logged by its type and
    the erasure's event id, and counted. The erasure itself stands either way."""

    sink: NoticeSink
    registry: RecipientRegistry | None = None
    controller: Organisation | None = None

    def send(self, store: GraphStore, policy: Policy, erased: Sequence[Erased]) -> tuple[int, int]:
        """Notify the recipients of each erasure; (notices sent, notices not sent)."""
        sent = unsent = 0
        for e in erased:
            try:
                outcomes = send_art19_notices(
                    store, e.pseudonym, e.subject_id, policy, self.sink, registry=self.registry,
                    controller=self.controller,
                )  # fmt: skip
            except Exception as exc:  # the erasure is committed: its notices are left for `lineage notify art19`
                _log.error("Art. 19 notices of erasure event %s not sent: %s", e.event_id, type(exc).__name__)
                unsent += 1
                continue
            sent += sum(o.outcome == "sent" for o in outcomes)
            failed = [o for o in outcomes if o.outcome == "failed"]
            for o in failed:
                _log.warning("Art. 19 notice to %s of erasure event %s not sent: %s", o.recipient, e.event_id, o.error)
            unsent += len(failed)
        return sent, unsent
