"""New recipients: the first disclosure ever observed to a recipient the registry does not list (or, with no registry,
to any recipient not seen before) is a finding of its own, with that event as evidence. Pure: what has been seen is
the caller's to say (the store's recipients, then the ones its batches add)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC

from policies.findings import Finding
from policies.rules import NEW_RECIPIENT
from schemas.events import AnyEvent, DataShared
from schemas.recipients import RecipientRegistry


class NewRecipients:
    """Which disclosures are the first to a recipient outside the registry (``registry`` None: no registry, so every
    recipient is judged by whether it was seen before)."""

    def __init__(self, registry: RecipientRegistry | None, policy_version: str) -> None:
        self.registered = frozenset(registry.by_id()) if registry is not None else frozenset[str]()
        self.registry = registry is not None
        self.version = policy_version

    def candidates(self, events: Iterable[AnyEvent]) -> set[str]:
        """The recipient ids of these events' disclosures that the registry does not list."""
        return {e.recipient.id for e in events if type(e) is DataShared and e.recipient.id not in self.registered}

    def firsts(
        self,
        events: Sequence[AnyEvent],
        seen: set[str] | frozenset[str],
        dropped: Callable[[DataShared], bool] | None = None,
    ) -> dict[int, DataShared]:
        """The position in ``events`` of the first disclosure to each recipient neither registered nor in ``seen``,
        passing over those ``dropped`` says will not be recorded (an erased person's)."""
        out: dict[int, DataShared] = {}
        new: set[str] = set()
        for i, e in enumerate(events):
            if type(e) is DataShared:
                rid = e.recipient.id
                if rid not in self.registered and rid not in seen and rid not in new:
                    if dropped is not None and dropped(e):
                        continue
                    new.add(rid)
                    out[i] = e
        return out

    def finding(self, event: DataShared, subject: str) -> Finding:
        """The finding for the first disclosure to a new recipient (one per recipient, whatever its categories)."""
        r = event.recipient
        where = f" in {r.country}" if r.country else ""
        why = "not in the recipient registry" if self.registry else "no recipient registry; not seen before"
        categories = ", ".join(event.data_categories)
        return Finding(
            rule=NEW_RECIPIENT.id,
            severity=NEW_RECIPIENT.severity.value,
            event_id=event.event_id,
            occurred_at=event.occurred_at.astimezone(UTC),
            subject=subject,
            category=event.data_categories[0],
            purpose=event.purpose,
            recipient_id=r.id,
            recipient_type=r.type.value,
            reason=(
                f"first disclosure ever observed to {r.id!r} ({r.type.value}{where}), {why}: {categories} "
                f"for {event.purpose!r}"
            ),
            clause_section="",
            clause_text="",
            policy_version=self.version,
        )
