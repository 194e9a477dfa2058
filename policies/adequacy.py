"""The adequacy decisions shipped with the project (``adequacy.yaml``, dated, with its source), and what a transfer
to a country rests on: the home area, an adequacy decision (whole or partial), a safeguard from the registry, or
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from schemas.recipients import AdequacyDecision, AdequacyList, RegisteredRecipient, Safeguard, SafeguardKind

ADEQUACY_FILE = Path(__file__).resolve().parent / "adequacy.yaml"


@cache
def adequacy_list() -> AdequacyList:
    """The shipped list (read once)."""
    return AdequacyList.model_validate(yaml.safe_load(ADEQUACY_FILE.read_text(encoding="utf-8")))


@cache
def home_countries() -> frozenset[str]:
    """The countries of the home area (the EEA): data moving among them is no transfer."""
    return frozenset(adequacy_list().home_countries)


@cache
def _by_country() -> dict[str, AdequacyDecision]:
    return {d.country: d for d in adequacy_list().decisions if d.country is not None}


def decision_for(country: str) -> AdequacyDecision | None:
    """The adequacy decision for a country (whole or partial), or None."""
    return _by_country().get(country)


def decision_words(d: AdequacyDecision) -> str:
    """A decision as a report names it: act, date, scope, and what has happened to it since."""
    return f"{d.decision} of {d.adopted.day} {d.adopted:%B %Y} ({d.scope})" + (f"; {d.note}" if d.note else "")


Status = Literal["home", "adequacy", "safeguard", "none", "unknown"]


@dataclass(frozen=True, slots=True)
class TransferBasis:
    """What a disclosure to one recipient in one country rests on (GDPR Chapter V), in data and in words.

    ``status``: ``home`` (the country is in the home area: no transfer), ``adequacy`` (a decision covers it),
    ``safeguard`` (the registry names one), ``none`` (a transfer with nothing to rest on) or ``unknown`` (no country
    is known for the recipient).
    """

    status: Status
    country: str | None
    decision: AdequacyDecision | None
    safeguard: Safeguard | None
    words: str

    @property
    def is_transfer(self) -> bool:
        """Whether the data left the home area (or may have: an unknown country is not known to stay)."""
        return self.status != "home"


def _condition_met(d: AdequacyDecision, entry: RegisteredRecipient | None, recipient_type: str) -> bool:
    if d.condition is None:
        return True
    if d.condition == "private_sector":
        return recipient_type != "authority"
    if entry is None:
        return False
    return entry.dpf_certified if d.condition == "dpf_certified" else entry.pipeda


_UNMET = {
    "dpf_certified": "the registry does not say it is certified",
    "pipeda": "the registry does not say PIPEDA applies to it",
    "private_sector": "a public authority is outside its scope",
}


def transfer_basis(country: str | None, entry: RegisteredRecipient | None, recipient_type: str) -> TransferBasis:
    """What a disclosure to a recipient in ``country`` rests on: the home area, an adequacy decision whose condition
    the recipient meets, the safeguard its registry ``entry`` names, or nothing.

    A decision comes first (no safeguard is needed where one applies); a partial decision whose condition is not met
    (an uncertified US organisation) leaves the registry's safeguard, and says why it does not apply.
    """
    safeguard = entry.safeguard if entry is not None else None
    if country is None:
        return TransferBasis("unknown", None, None, safeguard, "The recipient's country is not known.")
    area = adequacy_list().home_area
    if country in home_countries():
        return TransferBasis("home", country, None, None, f"{country} is in the {area}: no transfer.")
    decision = decision_for(country)
    if decision is not None and _condition_met(decision, entry, recipient_type):
        return TransferBasis("adequacy", country, decision, None, f"Adequacy decision: {decision_words(decision)}.")
    unmet = (
        f"the adequacy decision for {decision.territory} ({decision.decision}) covers {decision.scope}, and "
        f"{_UNMET[decision.condition or 'private_sector']}"
        if decision is not None
        else ""
    )
    if safeguard is not None:
        return TransferBasis(
            "safeguard", country, None, safeguard, safeguard_words(safeguard) + (f" ({unmet})." if unmet else ".")
        )
    why = unmet if unmet else "no adequacy decision covers it"
    return TransferBasis(
        "none",
        country,
        None,
        None,
        f"{country} is outside the {area}: {why}; the recipient registry names no safeguard.",
    )


def recipient_transfer(
    observed_country: str | None, entry: RegisteredRecipient | None, recipient_type: str
) -> TransferBasis:
    """:func:`transfer_basis` for a recipient as observed: the country its events give, else its registry ``entry``'s
    (the one choice of country every view of a transfer makes)."""
    return transfer_basis(observed_country or (entry.country if entry else None), entry, recipient_type)


_KIND_WORDS = {
    SafeguardKind.ADEQUACY: "adequacy decision (GDPR Art. 45)",
    SafeguardKind.SCC: "standard contractual clauses (GDPR Art. 46(2)(c))",
    SafeguardKind.BCR: "binding corporate rules (GDPR Art. 47)",
    SafeguardKind.DEROGATION: "derogation (GDPR Art. 49)",
}


def safeguard_words(s: Safeguard) -> str:
    words = _KIND_WORDS[s.kind]
    return f"{words[0].upper()}{words[1:]}: {s.reference}, {s.date.isoformat()}"
