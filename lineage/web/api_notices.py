"""Art. 19 notices in the console (dpo only, each call on the audit trail): a person's recipients and where each
notice stands, sending the notices (the person page's button), recording an acknowledgement. The same library as
`lineage notify` (streams/notify.py), through the sink the server's LINEAGE_NOTICE_* settings configure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import Field

from lineage.web.auth import REFUSALS, requires
from lineage.web.common import audited
from lineage.web.console import Console
from lineage.web.models import Problem
from lineage.web.tokens import Principal, Role
from reports.notices import statuses
from schemas.base import Frozen
from schemas.notices import NoticeRecord, NoticeStatus
from schemas.policy import Organisation
from streams.notify import NothingToNotify, send_art19_notices


class NoticeOutcomeItem(Frozen):
    """What became of one recipient's notice when the button was pressed."""

    recipient_id: str = Field(description="The recipient's id.")
    request: str = Field(description="The request's reference (the erasure event's id).")
    outcome: Literal["sent", "already-sent", "failed"] = Field(
        description="'sent' now, 'already-sent' earlier (skipped: resend=true sends again), or 'failed' (not sent)."
    )
    notice_id: str = Field(description="The notice's id (the earlier one when already sent).")
    error: str | None = Field(description="Why the sink failed, for 'failed'.")


class NoticesSent(Frozen):
    """The outcome of sending a person's notices, and each recipient's status afterwards."""

    channel: str = Field(description="The sink the notices went through.")
    outcomes: list[NoticeOutcomeItem] = Field(description="One per recipient and request, as listed.")
    notices: list[NoticeStatus] = Field(description="Each recipient's status after sending.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No erasure is recorded for the person, or no notice has this id."},
    409: {"model": Problem, "description": "No notice sink is configured on the server (LINEAGE_NOTICE_*)."},
}


def notices_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["people (dpo; audited)"])
    dpo = requires(console.tokens, Role.DPO)

    @r.get(
        "/api/subjects/{subject_id:path}/notices",
        response_model=list[NoticeStatus],
        responses=REFUSALS,
        summary="Art. 19 notices of one person",
    )
    def notices(subject_id: str, request: Request, who: Principal = Depends(dpo)) -> list[NoticeStatus]:  # noqa: B008
        """Each recipient on the Art. 19 list of each of the person's erasures and its notice: not sent, sent (when,
        through which sink) or acknowledged. Empty when no erasure is recorded. URL-encode the id."""
        pseudonym = console.pseudonymizer(subject_id)
        found = statuses(console.store, pseudonym, console.registry)
        audited(console.audit, request, who, action="subject-notices", subject=pseudonym,
                returned={"notices": len(found)})  # fmt: skip
        return found

    @r.post(
        "/api/subjects/{subject_id:path}/notices",
        response_model=NoticesSent,
        responses=REFUSALS | _ERRORS,
        summary="Send one person's Art. 19 notices",
    )
    def send(
        subject_id: str,
        request: Request,
        who: Principal = Depends(dpo),  # noqa: B008
        resend: Annotated[bool, Query(description="Send again to recipients already notified.")] = False,
    ) -> NoticesSent:
        """Send each recipient on the person's Art. 19 lists a notice of the erasure through the server's notice
        sink (as `lineage notify art19`); a recipient already notified of the same erasure is skipped unless
        ``resend``. Recorded on the audit trail before anything is sent."""
        pseudonym = console.pseudonymizer(subject_id)
        listed = len(statuses(console.store, pseudonym, console.registry))
        audited(console.audit, request, who, action="notify-art19", subject=pseudonym,
                returned={"recipients": listed})  # fmt: skip
        if not console.store.erasures([pseudonym]).get(pseudonym):
            raise HTTPException(404, "no erasure is recorded for this person, so there is nothing to notify")
        sink = console.notice_sink
        if sink is None:
            raise HTTPException(409, "no notice sink is configured on the server: set LINEAGE_NOTICE_DIR, "
                                "LINEAGE_NOTICE_WEBHOOK_URL or LINEAGE_NOTICE_TEAMS_URL")  # fmt: skip
        contact = console.notice_contact
        controller = Organisation(name=console.policy.controller.name, contact=contact) if contact else None
        try:
            done = send_art19_notices(
                console.store, pseudonym, subject_id, console.policy, sink, registry=console.registry,
                resend=resend, controller=controller,
            )  # fmt: skip
        except NothingToNotify as exc:
            raise HTTPException(404, str(exc)) from None
        items = []
        for o in done:
            nid = o.notice.notice_id if o.notice else o.record.notice_id if o.record else ""
            assert o.outcome != "would-send"
            items.append(NoticeOutcomeItem(recipient_id=o.recipient, request=o.request, outcome=o.outcome,
                                           notice_id=nid, error=o.error))  # fmt: skip
        return NoticesSent(channel=sink.name, outcomes=items, notices=statuses(console.store, pseudonym,
                                                                                 console.registry))  # fmt: skip

    @r.post(
        "/api/notices/{notice_id}/ack",
        response_model=NoticeRecord,
        responses=REFUSALS | _ERRORS,
        tags=["people (dpo; audited)"],
        summary="Record that a recipient acknowledged a notice",
    )
    def acknowledge(notice_id: str, request: Request, who: Principal = Depends(dpo)) -> NoticeRecord:  # noqa: B008
        """Record the recipient's acknowledgement of a notice, by the token's name (the first one stays)."""
        known = console.store.notices(notice_id=notice_id)
        if not known:
            raise HTTPException(404, "no such notice")
        audited(console.audit, request, who, action="notice-ack", target=notice_id, subject=known[0].subject,
                returned={"notices": 1})  # fmt: skip
        done = console.store.acknowledge_notice(notice_id, datetime.now(UTC), who.name)
        assert done is not None
        return done

    return r
