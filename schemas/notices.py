"""Art. 19 notices: what a recipient is told of a request about one person (GDPR Art. 19, CCPA 1798.105(c)), the
record a store keeps of each notice sent (by pseudonym), and a recipient's notice status in the Art. 19 report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.base import Frozen


class RequestKind(StrEnum):
    """The requests a notice tells of. Only erasure exists in the event contract today (an ``erased`` event): the
    model records no rectification (Art. 16) or restriction (Art. 18), so no notice of one can be sent."""

    ERASURE = "erasure"


#: The legal basis every notice quotes.
LEGAL_BASIS = (
    "GDPR Art. 19: the controller communicates any rectification, erasure or restriction of processing to each "
    "recipient to whom the personal data have been disclosed. CCPA Cal. Civ. Code \u00a71798.105(c): a business "
    "that receives a verifiable request to delete notifies its service providers and contractors to delete the "
    "consumer's personal information, and the third parties to whom it sold or shared it."
)


class NoticeRecord(Frozen):
    """One notice sent to one recipient for one request about one person: stored by pseudonym, never the raw id."""

    notice_id: str = Field(description="Stable id of the notice (n_ and 16 hex digits); what `notify ack` takes.")
    subject: str = Field(description="The person's pseudonym.")
    request: str = Field(description="The request's reference: the id of the erasure event (its tombstone).")
    kind: RequestKind = Field(description="What the request was: 'erasure'.")
    recipient: str = Field(description="The recipient's id.")
    channel: str = Field(description="The sink it went through: 'file', 'webhook' or 'teams'.")
    sent_at: datetime = Field(description="When it was sent (UTC).")
    acknowledged_at: datetime | None = Field(default=None, description="When the recipient acknowledged it (UTC).")
    acknowledged_by: str | None = Field(default=None, description="Who recorded the acknowledgement.")


class PersonRef(Frozen):
    """How the notice names the person: the least that lets the recipient find them."""

    scheme: Literal["pseudonym", "sha256-email"] = Field(
        description="'sha256-email': the SHA-256 of the trimmed, lower-cased address, the recipient's own matching "
        "reference (the registry says it keeps one); 'pseudonym': this system's pseudonym, with the request reference."
    )
    value: str = Field(description="The reference itself (hex digits); never an e-mail address, a name or the raw id.")


class Art19Notice(Frozen):
    """What one recipient is sent: the request, its date, the categories concerned, the law, whom to answer."""

    notice_id: str = Field(description="Stable id of the notice; quote it to acknowledge.")
    kind: RequestKind = Field(description="What was done: 'erasure'.")
    request: str = Field(description="The request's reference (the erasure event's id).")
    requested_at: datetime = Field(description="The erasure's date: data that occurred up to then is concerned (UTC).")
    recipient_id: str = Field(description="The recipient's id.")
    recipient_name: str = Field(description="The recipient's name.")
    recipient_contact: str | None = Field(description="Where the notice is addressed, when known.")
    person: PersonRef = Field(description="Who the request is about, as the recipient can find them.")
    categories: list[str] = Field(description="Categories of data concerned that it received (fideslang keys).")
    categories_statement: str = Field(description="The categories in words, or why they are not listed.")
    action: str = Field(description="What the recipient is asked to do, in words.")
    legal_basis: str = Field(description="GDPR Art. 19 and CCPA \u00a71798.105(c), in words.")
    controller: str = Field(description="The controller's name.")
    controller_contact: str | None = Field(
        description="Where to answer or ask; null when neither policy nor operator states one."
    )
    acknowledge: str = Field(description="How to acknowledge the notice.")
    sent_at: datetime = Field(description="When it was sent (UTC).")


class NoticeStatus(Frozen):
    """One recipient on a request's Art. 19 list and its notice: not sent, sent (when, how) or acknowledged."""

    recipient_id: str = Field(description="The recipient's id.")
    recipient_name: str = Field(description="The recipient's name (its id when the store has no name for it).")
    request: str = Field(description="The request's reference (the erasure event's id).")
    kind: RequestKind = Field(description="What the request was: 'erasure'.")
    requested_at: datetime = Field(description="The erasure's date (UTC).")
    categories: list[str] | None = Field(
        default=None,
        description="Categories of the person's data the recipient had received, as the erasure recorded them "
        "(fideslang keys, sorted); null when its tombstone does not say (written by an older version, which kept "
        "only whom to tell): the notice then names every category disclosed to the recipient.",
    )
    status: Literal["not-sent", "sent", "acknowledged"] = Field(description="Where the notice stands.")
    notice_id: str | None = Field(description="The latest notice's id; null when none was sent.")
    channel: str | None = Field(description="The sink the latest notice went through.")
    sent_at: datetime | None = Field(description="When the latest notice was sent (UTC).")
    acknowledged_at: datetime | None = Field(description="When it was acknowledged (UTC).")
    acknowledged_by: str | None = Field(description="Who recorded the acknowledgement.")
