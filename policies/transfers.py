"""Judging disclosures as transfers (GDPR Chapter V): outside the home area with no adequacy decision and no safeguard,
or to a recipient whose country differs from the one the registry records. Pure: the registry and the shipped
adequacy decisions are its only inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from policies.adequacy import TransferBasis, recipient_transfer
from policies.findings import Finding
from policies.rules import RECIPIENT_COUNTRY_MISMATCH, TRANSFER_WITHOUT_SAFEGUARD, Rule
from schemas.events import DataShared, Identifiability
from schemas.recipients import RecipientRegistry, RegisteredRecipient

_NOT_PERSONAL = (Identifiability.AGGREGATED, Identifiability.DEIDENTIFIED)


@dataclass(frozen=True)
class RecipientRules:
    """Turns on the rules judged against the recipient registry (transfers, new recipients) for a handler, with the
    registry they read: ``registry`` None is no registry, so no safeguard is known for anyone and every recipient
    not seen before is new. The commands, the worker and the console always pass one
    (:func:`lineage.wiring.build_handler`); a handler built without it judges by the policy alone."""

    registry: RecipientRegistry | None = None


class TransferJudge:
    """Transfer findings for disclosure events, against a recipient registry (None: no registry, so no safeguard
    is known for anyone and no country to compare with)."""

    def __init__(self, registry: RecipientRegistry | None, policy_version: str) -> None:
        self.registry = registry
        self.version = policy_version
        self._entries: dict[str, RegisteredRecipient] = registry.by_id() if registry is not None else {}
        # what the rules say depends on (recipient id, country, type) only: few combinations, each worked out once
        self._memo: dict[tuple[str, str | None, str], tuple[tuple[Rule, str], ...]] = {}

    def entry(self, recipient_id: str) -> RegisteredRecipient | None:
        return self._entries.get(recipient_id)

    def basis(self, recipient_id: str, country: str | None, recipient_type: str) -> TransferBasis:
        """What a disclosure to this recipient rests on: the event's country, else the registry's."""
        entry = self._entries.get(recipient_id)
        return recipient_transfer(country, entry, recipient_type)

    def judge(self, event: DataShared, subject: str) -> tuple[Finding, ...]:
        """One finding per category and broken rule; aggregated or de-identified data is no personal data and
        raises nothing."""
        if event.identifiability in _NOT_PERSONAL:
            return ()
        r = event.recipient
        key = (r.id, r.country, r.type.value)
        broken = self._memo.get(key)
        if broken is None:
            broken = self._memo[key] = self._rules(r.id, r.country, r.type.value)
        if not broken:
            return ()
        at = event.occurred_at.astimezone(UTC)
        return tuple(
            Finding(
                rule=rule.id,
                severity=rule.severity.value,
                event_id=event.event_id,
                occurred_at=at,
                subject=subject,
                category=category,
                purpose=event.purpose,
                recipient_id=r.id,
                recipient_type=r.type.value,
                reason=f"{category!r} disclosed to {r.id!r} for {event.purpose!r}: {reason}",
                clause_section="",
                clause_text="",
                policy_version=self.version,
            )
            for category in event.data_categories
            for rule, reason in broken
        )

    def _rules(self, recipient_id: str, country: str | None, recipient_type: str) -> tuple[tuple[Rule, str], ...]:
        entry = self._entries.get(recipient_id)
        out: list[tuple[Rule, str]] = []
        if entry is not None and country is not None and country != entry.country:
            out.append(
                (
                    RECIPIENT_COUNTRY_MISMATCH,
                    f"the event says it received the data in {country}, the recipient registry says in {entry.country}",
                )
            )
        basis = self.basis(recipient_id, country, recipient_type)
        if basis.status == "none":
            registered = "" if entry is not None else " (the recipient is not in the recipient registry)"
            out.append((TRANSFER_WITHOUT_SAFEGUARD, "a transfer: " + basis.words + registered))
        return tuple(out)
