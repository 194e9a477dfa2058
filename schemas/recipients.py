"""The recipient registry (who the known recipients are, where, on what transfer safeguard) and the adequacy
decisions the transfer rules read: models only."""

from __future__ import annotations

from datetime import date as Date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.base import Frozen
from schemas.events import RecipientType, Role
from schemas.keys import CountryCode

Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
RecipientId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"),
    Field(description="The recipient's id, as events name it in recipient.id (e.g. 'sos-hk')."),
]


class SafeguardKind(StrEnum):
    """The GDPR Chapter V ground a transfer rests on, when no adequacy decision covers the recipient's country."""

    ADEQUACY = "adequacy"  # Art. 45: a decision the shipped list lacks (an international organisation, a new one)
    SCC = "scc"  # Art. 46(2)(c): standard contractual clauses
    BCR = "bcr"  # Art. 47: binding corporate rules
    DEROGATION = "derogation"  # Art. 49: explicit consent, a contract with the person, legal claims, ...


class Safeguard(Frozen):
    """The safeguard a transfer to one recipient rests on, with its reference and date."""

    kind: SafeguardKind = Field(description="adequacy, scc, bcr or derogation.")
    reference: Text = Field(
        description="What and where it is, e.g. 'SCC 2021/914 module 2, annex to DPA-2024-017' or 'Art. 49(1)(b)'."
    )
    date: Date = Field(description="When it was signed, approved or adopted (ISO 8601 date).")


class PersonReference(StrEnum):
    """How an Art. 19 notice names the person to a recipient: the least that lets the recipient find them, and never
    the raw identifier, an e-mail address or a name (schemas/notices.py)."""

    PSEUDONYM = "pseudonym"  # this system's pseudonym, with the request's reference (the default)
    SHA256_EMAIL = "sha256-email"  # SHA-256 of the trimmed, lower-cased e-mail address: what hashed-e-mail matching
    # recipients (advertisers, data brokers) hold as their own reference for the person


class RegisteredRecipient(Frozen):
    """One known recipient: who and where it is, its role, how to reach it, and what a transfer to it rests on."""

    id: RecipientId
    name: Text = Field(description="The recipient's legal or trading name.")
    type: RecipientType = Field(description="Category of recipient, as in events.")
    country: CountryCode = Field(description="Where it receives the data (ISO 3166-1 alpha-2).")
    role: Role = Field(
        description="'processor' when it processes on our behalf (then `dpa` is required), else 'controller'."
    )
    contact: Text | None = Field(
        default=None, description="Where notices go (an address or URL), e.g. for Art. 19; null when none is known."
    )
    safeguard: Safeguard | None = Field(
        default=None, description="What a transfer outside the EEA rests on when no adequacy decision covers it."
    )
    dpa: Text | None = Field(
        default=None, description="Reference of the data-processing agreement (GDPR Art. 28(3)); processors only."
    )
    dpf_certified: bool = Field(
        default=False,
        description="Certified under the EU-US Data Privacy Framework (checked on the DPF list): the US adequacy "
        "decision covers only certified organisations.",
    )
    pipeda: bool = Field(
        default=False,
        description="A Canadian organisation subject to PIPEDA: the Canadian adequacy decision covers only those.",
    )
    person_reference: PersonReference = Field(
        default=PersonReference.PSEUDONYM,
        description="How an Art. 19 notice names the person to it: 'pseudonym' (this system's pseudonym and the "
        "request's reference) or 'sha256-email' (its own reference: the SHA-256 of the trimmed, lower-cased address, "
        "for recipients that match hashed e-mails).",
    )


class RecipientRegistry(Frozen):
    """The known recipients (the sub-processor list a customer asks to see), by id."""

    recipients: list[RegisteredRecipient] = Field(description="The recipients, in file order.")

    def get(self, recipient_id: str) -> RegisteredRecipient | None:
        """The entry of one recipient id, or None when the registry does not list it."""
        for r in self.recipients:
            if r.id == recipient_id:
                return r
        return None

    def by_id(self) -> dict[str, RegisteredRecipient]:
        return {r.id: r for r in self.recipients}


# -- adequacy decisions -----------------------------------------------------------------------------------------
Condition = Literal["dpf_certified", "pipeda", "private_sector"]


class AdequacyDecision(Frozen):
    """One European Commission adequacy decision (GDPR Art. 45), as dated data."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")] = Field(description="Stable id.")
    territory: Text = Field(description="The country, territory or international organisation, in words.")
    country: CountryCode | None = Field(
        description="ISO 3166-1 alpha-2 code; null for an international organisation (matched through the "
        "registry's safeguard of kind 'adequacy')."
    )
    decision: Text = Field(description="The act, e.g. 'Commission Implementing Decision (EU) 2023/1795'.")
    adopted: Date = Field(description="When the Commission adopted it.")
    scope: Text = Field(description="What it covers, in words.")
    condition: Condition | None = Field(
        default=None,
        description="For a partial decision, what the recipient must be for it to apply: 'dpf_certified' (the "
        "registry says it is certified), 'pipeda' (the registry says PIPEDA applies to it), 'private_sector' (not "
        "a public authority); null when it covers the whole country.",
    )
    note: str = Field(default="", description="Renewals, extensions and other facts a reader needs.")


class AdequacyList(Frozen):
    """The adequacy decisions in force on a date, with the home area transfers leave."""

    as_of: Date = Field(description="The date the list was last checked against its source.")
    source: Text = Field(description="Where the list comes from (the Commission's page).")
    home_area: Text = Field(description="The area transfers are judged from, e.g. 'EEA'.")
    home_countries: list[CountryCode] = Field(min_length=1, description="Its countries (no transfer among them).")
    decisions: list[AdequacyDecision] = Field(description="The decisions, by territory.")
