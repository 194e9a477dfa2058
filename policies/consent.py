"""A person's consent withdrawals and marketing opt-outs, as judgement weighs them and stores keep them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.answers import OptOutItem
from schemas.events import ConsentEvent, ConsentWithdrawn, OptOutSignal
from schemas.keys import SALE_AND_SHARING
from schemas.taxonomy import Dimension, Taxonomy


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A consent withdrawal or an opt-out (of marketing, or of sale and sharing), as stored: whose, when, which
    purposes (an opt-out's scope) and categories it covers, and how an opt-out was received."""

    event_id: str
    kind: str  # "consent_withdrawn" | "opted_out"
    subject: str  # pseudonym
    occurred_at: datetime  # UTC
    purposes: tuple[str, ...]  # purpose keys covered (an opt-out's scope); () = every purpose resting on consent
    categories: tuple[str, ...] = ()  # category keys covered; () = every category
    signal: str = ""  # an opt-out's OptOutSignal value ("user_request", "gpc"); "" for a withdrawal


@dataclass(frozen=True, slots=True)
class ConsentState:
    """One person's recorded withdrawals and opt-outs, oldest first (by occurred_at, then event id)."""

    subject: str  # pseudonym
    records: tuple[ConsentRecord, ...]

    def merged(self, more: tuple[ConsentRecord, ...]) -> ConsentState:
        """This state with ``more`` records added (a record already present, by event id, is kept once)."""
        by_id = {r.event_id: r for r in (*self.records, *more)}
        return ConsentState(self.subject, tuple(sorted(by_id.values(), key=lambda r: (r.occurred_at, r.event_id))))


def consent_record(event: ConsentEvent, subject: str) -> ConsentRecord:
    """What a consent withdrawal or opt-out records for ``subject`` (the pseudonym)."""
    at = event.occurred_at.astimezone(UTC)
    if isinstance(event, ConsentWithdrawn):
        purposes, categories = tuple(event.purposes or ()), tuple(event.data_categories or ())
        return ConsentRecord(event.event_id, event.kind, subject, at, purposes, categories)
    return ConsentRecord(event.event_id, event.kind, subject, at, (event.scope,), (), event.signal.value)


def stored_signal(kind: str, signal: str | None) -> str:
    """An opt-out's signal as read back from a store: one written before signals were recorded was a request."""
    if kind != "opted_out":
        return ""
    return signal or OptOutSignal.USER_REQUEST.value


_SIGNAL_WORDS = {OptOutSignal.GPC.value: "Global Privacy Control", OptOutSignal.USER_REQUEST.value: "at their request"}


def opt_out_items(state: ConsentState | None, taxonomy: Taxonomy) -> list[OptOutItem]:
    """A person's opt-outs (not their consent withdrawals), oldest first, each said in words: "Opted out of sale and
    sharing (Global Privacy Control), 2026-05-01 10:00 UTC"."""
    items = []
    for r in state.records if state else ():
        if r.kind != "opted_out":
            continue
        scope = r.purposes[0] if r.purposes else "marketing"
        if scope == SALE_AND_SHARING:
            what = "sale and sharing"
        elif scope == "marketing":
            what = "marketing"
        else:
            what = f"{taxonomy.label(Dimension.DATA_USE, scope)} ({scope})"
        how = _SIGNAL_WORDS.get(r.signal, r.signal)
        at = r.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        items.append(
            OptOutItem(scope=scope, signal=r.signal, occurred_at=r.occurred_at, event_id=r.event_id,
                       statement=f"Opted out of {what} ({how}), {at}")
        )  # fmt: skip
    return items


def consent_by_person(records: Iterable[ConsentRecord]) -> dict[str, ConsentState]:
    """Records grouped into each person's state, each person's oldest first (by occurred_at, then event id)."""
    grouped: dict[str, list[ConsentRecord]] = {}
    for record in sorted(records, key=lambda r: (r.occurred_at, r.event_id)):
        grouped.setdefault(record.subject, []).append(record)
    return {subject: ConsentState(subject, tuple(rs)) for subject, rs in grouped.items()}
