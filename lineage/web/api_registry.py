"""The recipient registry over HTTP: every known or observed recipient with what a transfer to it rests on."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
from pydantic import Field

from lineage.web.api_reports import Since, Until
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import aware
from lineage.web.console import Console
from lineage.web.tokens import Principal, Role
from policies.adequacy import adequacy_list, recipient_transfer
from schemas.base import Frozen


class RegistryRecipient(Frozen):
    """One recipient, from the registry, the events or both, with what a transfer to it rests on."""

    id: str = Field(description="Recipient id.")
    name: str = Field(description="Its name (the registry's when it lists it, else the latest event's).")
    type: str = Field(description="Recipient type.")
    country: str | None = Field(description="Where it receives the data: the events' country, else the registry's.")
    registry_country: str | None = Field(description="The country the registry records; null when not listed.")
    in_registry: bool = Field(description="Whether the recipient registry lists it.")
    observed: bool = Field(description="Whether a disclosure to it is recorded in the period.")
    role: str | None = Field(description="controller or processor, as the registry says; null when not listed.")
    dpa: str | None = Field(description="The processor's data-processing agreement, as the registry gives it.")
    contact: str | None = Field(description="Where notices go, as the registry gives it.")
    basis: str = Field(description="home (no transfer), adequacy, safeguard, none or unknown.")
    statement: str = Field(description="What a transfer to it rests on, in words.")


class Registry(Frozen):
    """The recipients the console knows, and what the transfer judgement reads."""

    configured: bool = Field(description="Whether a recipient registry is configured (LINEAGE_RECIPIENTS).")
    adequacy_as_of: date = Field(description="The date of the shipped list of adequacy decisions.")
    home_area: str = Field(description="The area transfers leave, e.g. 'EEA'.")
    recipients: list[RegistryRecipient] = Field(description="Registry entries and observed recipients, by name.")


def registry_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["recipients"])
    readers = requires(console.tokens, Role.DPO, Role.AUDITOR)

    @r.get("/api/registry", response_model=Registry, responses=REFUSALS)
    def registry(
        _: Principal = Depends(readers),  # noqa: B008
        since: Since = None,
        until: Until = None,
    ) -> Registry:
        """The registry's recipients and those disclosed to in the period (``since``, ``until``), each with its
        country, role, contract and what a transfer to it rests on (the adequacy decisions shipped, the registry's
        safeguard)."""
        entries = console.registry.by_id() if console.registry is not None else {}
        flows = console.store.flows(since=aware(since), until=aware(until))
        seen = {f.recipient.id: f.recipient for f in flows if f.rel == "SHARED_WITH" and f.recipient is not None}
        out = []
        for rid in sorted(set(entries) | set(seen)):
            entry, ref = entries.get(rid), seen.get(rid)
            rtype = entry.type.value if entry else ref.type if ref else ""
            basis = recipient_transfer(ref.country if ref else None, entry, rtype)
            out.append(
                RegistryRecipient(
                    id=rid,
                    name=entry.name if entry else ref.name if ref else rid,
                    type=rtype,
                    country=basis.country,
                    registry_country=entry.country if entry else None,
                    in_registry=entry is not None,
                    observed=ref is not None,
                    role=entry.role.value if entry else None,
                    dpa=entry.dpa if entry else None,
                    contact=entry.contact if entry else ref.contact if ref else None,
                    basis=basis.status,
                    statement=basis.words,
                )
            )
        data = adequacy_list()
        return Registry(
            configured=console.registry is not None,
            adequacy_as_of=data.as_of,
            home_area=data.home_area,
            recipients=sorted(out, key=lambda x: (x.name.lower(), x.id)),
        )

    return r
