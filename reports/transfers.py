"""Transfers as reports state them (GDPR Art. 15(2), 30(1)(e)): each recipient outside the EEA with the adequacy
decision or the registry's safeguard it rests on, and a summary in words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policies.adequacy import adequacy_list, decision_for, decision_words, recipient_transfer
from schemas.recipients import RecipientRegistry
from schemas.reports import TransferItem


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a report knows of a recipient: id, name, type, country."""

    id: str
    name: str
    type: str
    country: str | None


def transfer_items(recipients: Iterable[Recipient], registry: RecipientRegistry | None) -> list[TransferItem]:
    """The transfers among ``recipients``: those outside the home area or of unknown country, by id, each with what
    it rests on (the event's country, else the registry's)."""
    entries = registry.by_id() if registry is not None else {}
    out: dict[str, TransferItem] = {}
    for r in recipients:
        entry = entries.get(r.id)
        basis = recipient_transfer(r.country, entry, r.type)
        if not basis.is_transfer or r.id in out:
            continue
        d, s = basis.decision, basis.safeguard
        out[r.id] = TransferItem(
            recipient_id=r.id,
            recipient_name=r.name,
            country=basis.country,
            basis=basis.status,  # not "home": is_transfer above
            statement=basis.words,
            decision=d.decision if d else None,
            decision_date=d.adopted if d else None,
            safeguard=s.kind.value if s else None,
            safeguard_reference=s.reference if s else None,
            safeguard_date=s.date if s else None,
            in_registry=entry is not None,
        )
    return [out[k] for k in sorted(out)]


def transfers_statement(items: list[TransferItem], registry: RecipientRegistry | None, *, whose: str) -> str:
    """The transfers in words: how many rest on an adequacy decision, on a safeguard, on nothing known."""
    area = adequacy_list().home_area
    if not items:
        return f"No transfer of {whose} outside the {area} is recorded."
    groups = {
        "adequacy": "on an adequacy decision",
        "safeguard": "on a safeguard the recipient registry names",
        "none": "on nothing known: no adequacy decision covers them and the registry names no safeguard",
        "unknown": "to recipients whose country is not known",
    }
    parts = []
    for basis, words in groups.items():
        names = [
            f"{i.recipient_name} ({i.country})" if i.country else i.recipient_name for i in items if i.basis == basis
        ]
        if names:
            parts.append(f"{len(names)} {words}: {', '.join(names)}")
    note = (
        ""
        if registry is not None
        else " No recipient registry is configured (LINEAGE_RECIPIENTS), so no safeguard is known."
    )
    return f"Transfers of {whose} outside the {area}: " + "; ".join(parts) + "." + note


def country_adequacy(country: str) -> str | None:
    """The adequacy decision covering a country, in words, or None."""
    d = decision_for(country)
    return decision_words(d) if d is not None else None


def transfer_rows(items: list[TransferItem]) -> tuple[list[str], list[list[object]]]:
    """The transfers as a CSV table."""
    head = [
        "recipient_id",
        "recipient_name",
        "country",
        "basis",
        "decision",
        "decision_date",
        "safeguard",
        "safeguard_reference",
        "safeguard_date",
        "in_registry",
        "statement",
    ]
    rows: list[list[object]] = [
        [
            t.recipient_id,
            t.recipient_name,
            t.country,
            t.basis,
            t.decision,
            t.decision_date,
            t.safeguard,
            t.safeguard_reference,
            t.safeguard_date,
            t.in_registry,
            t.statement,
        ]
        for t in items
    ]
    return head, rows
