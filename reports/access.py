"""The per-person reports, access (GDPR Art. 15 / CCPA right to know) and Art. 19 (recipients to notify), built
from GraphStore named queries and the policy: pure, read-only, any store."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from graph.store import GraphStore
from policies.sale import SHARED, SOLD
from reports.transfers import Recipient, transfer_items, transfer_rows, transfers_statement
from reports.vocab import (
    EEA,
    Table,
    Vocabulary,
    ccpa_category,
    in_period,
    make_header,
    make_period,
    names,
    overlaps,
    retention_info,
    to_third_parties,
    utc,
)
from schemas.answers import PersonFlow, RecipientLineage, WhoHas
from schemas.events import SourceType
from schemas.policy import Organisation, Policy
from schemas.recipients import RecipientRegistry
from schemas.reports import (
    AccessReport,
    CountryRecipients,
    HeldCategory,
    Labelled,
    PurposeItem,
    RecipientDisclosure,
    RightInfo,
    RightToKnow,
    SourceItem,
    SourceOfData,
    TransferInfo,
)

Pseudonym = Callable[[str], str]
#: A disclosure that is neither a sale nor sharing, as :func:`sale_kinds` marks it.
BUSINESS_PURPOSE = "business_purpose"
#: the right to know's sections, in order (policies/sale.py's kinds, then the rest): kind -> (field, verb, none)
_CCPA_SECTIONS: dict[str, tuple[str, str, str]] = {
    SOLD: ("sold", "Sold", "None: no personal information about you was sold."),
    SHARED: (
        "shared",
        "Shared for cross-context behavioural advertising",
        "None: no personal information about you was shared for cross-context behavioural advertising.",
    ),
    BUSINESS_PURPOSE: (
        "disclosed_for_business_purpose",
        "Disclosed for a business purpose",
        "None: no personal information about you was disclosed for a business purpose.",
    ),
}

RIGHTS: tuple[RightInfo, ...] = (
    RightInfo(right="Rectification", provision="GDPR Art. 16; CCPA §1798.106",
              statement="You can have inaccurate personal data about you corrected and incomplete data completed."),
    RightInfo(right="Erasure", provision="GDPR Art. 17; CCPA §1798.105",
              statement="You can have your personal data erased, for example when it is no longer needed for the "
              "purposes above or when you object and there is no overriding reason to keep it."),
    RightInfo(right="Restriction of processing", provision="GDPR Art. 18",
              statement="You can have processing restricted while the accuracy of the data or an objection is checked, "
              "or when you need the data kept for a legal claim."),
    RightInfo(right="Objection", provision="GDPR Art. 21",
              statement="You can object to processing based on legitimate interests, and at any time to processing for "
              "direct marketing, which then stops."),
    RightInfo(right="Opt out of sale or sharing", provision="CCPA §1798.120",
              statement="You can tell the business not to sell or share your personal information."),
    RightInfo(right="Notification of recipients", provision="GDPR Art. 19",
              statement="Each recipient listed is told of any rectification, erasure or restriction, and you can ask "
              "who they are (this report names them)."),
    RightInfo(right="Complaint to a supervisory authority", provision="GDPR Art. 77",
              statement="You can complain to the data-protection supervisory authority of the country where you live, "
              "work, or where you think the infringement took place. The policy names no supervisory authority."),
    RightInfo(right="No discrimination", provision="CCPA §1798.125",
              statement="You will not be treated differently for using these rights."),
)

def _country_flags(country: str | None, region: frozenset[str] | None) -> tuple[bool | None, bool | None]:
    if country is None:
        return None, None
    return country in EEA, (country not in region) if region is not None else None


def _contact_statement(contact: str | None) -> str:
    return contact or "No contact details are recorded for this recipient; they must be looked up before notifying it."


def sale_kinds(
    r: RecipientLineage, flows: list[PersonFlow], vocab: Vocabulary, since: datetime | None, until: datetime | None
) -> dict[str, frozenset[str]]:
    """Each category of the person's data the recipient received (in the period) and how, by policies/sale.py's table:
    ``{"sold"}``, ``{"shared"}``, both, or empty for a business purpose. From the person's flows to it (category,
    purpose), those whose recorded span overlaps the period; an answer without flows pairs each of the recipient's
    categories with each of its purposes."""
    mine = [(f.category, f.purpose) for f in flows if f.recipient == r.id and overlaps(f.first_seen, f.last_seen,
                                                                                        since, until)]  # fmt: skip
    pairs = mine or [(c, p) for c in r.categories for p in r.purposes]
    out: dict[str, frozenset[str]] = {}
    for category, purpose in pairs:
        # disclosed for a business purpose when some flow of the category is neither a sale nor sharing
        kinds = vocab.sales.kinds(r.type, purpose, category, "controller") or frozenset({BUSINESS_PURPOSE})
        out[category] = out.get(category, frozenset()) | kinds
    return out


def _disclosure(
    r: RecipientLineage,
    vocab: Vocabulary,
    event_ids: list[str],
    region: frozenset[str] | None,
    kinds: dict[str, frozenset[str]],
) -> RecipientDisclosure:
    in_eea, outside = _country_flags(r.country, region)
    how = frozenset().union(*kinds.values()) or frozenset({BUSINESS_PURPOSE})
    ccpa = [k for k in _CCPA_SECTIONS if k in how]  # sold, shared, business purpose: each that applies, in order
    verbs = [_CCPA_SECTIONS[k][1] for k in ccpa]
    return RecipientDisclosure(
        id=r.id, name=r.name, type=r.type, type_label=vocab.recipient_type(r.type).label,
        country=r.country, in_eea=in_eea, outside_region=outside,
        contact=r.contact, contact_statement=_contact_statement(r.contact),
        categories=vocab.categories(r.categories), purposes=vocab.purposes(r.purposes),
        ccpa_disclosure=ccpa,
        ccpa_statement="; ".join([verbs[0], *(v[0].lower() + v[1:] for v in verbs[1:])]) + ".",
        first_shared_at=r.first_shared_at, last_shared_at=r.last_shared_at, event_ids=event_ids,
    )


def _share_ids_in(
    store: GraphStore, found: WhoHas | None, since: datetime | None, until: datetime | None
) -> set[str] | None:
    """Ids of the person's share events in the period, or None when there is no period (every id counts)."""
    if since is None and until is None:
        return None
    ids = sorted({e for r in found.recipients for e in r.event_ids}) if found else []
    return {e for e, at in store.occurred(ids).items() if in_period(at, since, until)}


def recipient_disclosures(
    found: WhoHas | None,
    vocab: Vocabulary,
    period: tuple[set[str] | None, datetime | None, datetime | None],
    region: frozenset[str] | None,
    kinds: dict[str, dict[str, frozenset[str]]] | None = None,
) -> list[RecipientDisclosure]:
    """The recipients with a share event in the period (``period``: those events' ids, None for every one, and the
    period's bounds); ``kinds``, when given, is filled with each one's :func:`sale_kinds`."""
    period_ids, since, until = period
    out = []
    for r in found.recipients if found else []:
        ids = sorted(r.event_ids if period_ids is None else (e for e in r.event_ids if e in period_ids))
        if ids:
            how = sale_kinds(r, found.flows if found else [], vocab, since, until)
            if kinds is not None:
                kinds[r.id] = how
            out.append(_disclosure(r, vocab, ids, region, how))
    return out


def _right_to_know_sections(
    recipients: list[RecipientDisclosure], kinds: dict[str, dict[str, frozenset[str]]]
) -> dict[str, Any]:
    """The right to know's three sections (CCPA §1798.110(c)(4)-(5), §1798.115(a)): the categories sold, those shared
    for cross-context behavioural advertising and those disclosed for a business purpose, each with its statement by
    category of third party, or "None: ..." where there are none. A disclosure both sold and shared is in both."""
    out: dict[str, Any] = {}
    for kind, (field, verb, none) in _CCPA_SECTIONS.items():
        pairs = sorted(
            {(ccpa_category(cat), r.type_label) for r in recipients for cat, k in kinds[r.id].items() if kind in k}
        )
        out[f"categories_{field}"] = sorted({c for c, _ in pairs})
        out[f"{field}_statement"] = f"{verb}: {to_third_parties(pairs)}." if pairs else none
    return out


def access_report(
    store: GraphStore,
    pseudonymizer: Pseudonym,
    policy: Policy,
    subject_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    region: Iterable[str] | None = None,
    now: datetime | None = None,
    controller: Organisation | None = None,
    annex: bool = False,
    registry: RecipientRegistry | None = None,
) -> AccessReport:
    """The GDPR Art. 15 answer for one person, with the CCPA §1798.110 right-to-know fields.

    Without a period it covers everything recorded. With one, a category is kept when its recorded activity
    (first to last event) overlaps the period, and a recipient when a share event falls in it (only those
    event ids are listed). ``region`` (country codes) is the person's region when the operator knows it.
    ``annex``: the letter (HTML, PDF) carries the evidence event ids in an annex (the JSON always does).
    ``registry`` (the recipient registry) names the safeguards transfers rest on.
    """
    vocab = Vocabulary(policy)
    since, until = utc(since), utc(until)
    area = frozenset(region) if region is not None else None
    pseudonym = pseudonymizer(subject_id)
    found = store.who_has(pseudonym)
    period = make_period(since, until)
    header = make_header(
        policy, "Access to your personal data", "GDPR Art. 15; CCPA §1798.110", period, now, controller
    )
    held = [c for c in (found.categories if found else []) if overlaps(c.first_seen, c.last_seen, since, until)]
    kinds: dict[str, dict[str, frozenset[str]]] = {}
    shares = (_share_ids_in(store, found, since, until), since, until)
    recipients = recipient_disclosures(found, vocab, shares, area, kinds)

    categories = [
        HeldCategory(
            key=c.category, label=vocab.category(c.category).label, ccpa_category=ccpa_category(c.category),
            roles=c.roles,
            sources=[
                SourceItem(
                    type=s.type, type_label=vocab.source_type(s.type).label, name=s.name,
                    description=policy.systems.get(s.name) if s.name else None,
                )
                for s in c.sources
            ],
            purposes=vocab.purposes(c.purposes), first_seen=c.first_seen, last_seen=c.last_seen,
            event_count=c.event_count,
        )
        for c in held
    ]
    by_purpose: dict[str, set[str]] = defaultdict(set)
    by_source: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    for c in held:
        for p in c.purposes:
            by_purpose[p].add(c.category)
        for s in c.sources:
            by_source[(s.type, s.name)].add(c.category)
    purposes = [
        PurposeItem(key=p, label=vocab.purpose(p).label, categories=vocab.categories(cats))
        for p, cats in sorted(by_purpose.items())
    ]
    others = [
        SourceOfData(
            type=t, type_label=vocab.source_type(t).label, name=n,
            description=policy.systems.get(n) if n else None, categories=vocab.categories(cats),
        )
        for (t, n), cats in sorted(by_source.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        if t in (SourceType.CUSTOMER, SourceType.THIRD_PARTY)
    ]
    data_found = bool(categories)
    processor_cats = [c for c in categories if "processor" in c.roles]
    evidence = sorted({e for r in recipients for e in r.event_ids})
    profiling = [p.label for p in purposes if "profil" in p.key]
    return AccessReport(
        header=header,
        reference=letter_reference(pseudonym, header.generated_at),
        subject_id=subject_id,
        subject_type=vocab.subject(found.subject_type) if found and found.subject_type else None,
        data_found=data_found,
        confirmation=(
            f"Yes: personal data about you is recorded: {len(categories)} "
            + ("category." if len(categories) == 1 else "categories.")
            if data_found
            else "No personal data about you is recorded" + (" in this period." if since or until else ".")
        ),
        categories=categories,
        purposes=purposes,
        recipients=recipients,
        recipients_statement=(
            f"Your data was disclosed to {len(recipients)} recipient(s): {names(r.name for r in recipients)}."
            if recipients
            else "None: no disclosure of your data to any recipient is recorded."
        ),
        sources_other_than_subject=others,
        sources_statement=(
            f"Some of your data came from someone other than you: {names(_source_words(s) for s in others)}."
            if others
            else "None: all recorded data came from you or was generated by the service as you used it."
            if data_found
            else "None: no data is recorded."
        ),
        retention=retention_info(policy),
        transfers=_transfers(recipients, area, policy, registry),
        rights=list(RIGHTS),
        automated_decisions_statement=(
            "Our records of how your data is handled do not record automated decision-making with legal or similarly "
            "significant effects (GDPR Art. 22); this report can neither confirm nor rule it out."
            + (f" Purposes recorded that involve profiling: {names(profiling)}." if profiling else "")
        ),
        processor_statement=(
            f"Some of this data is Customer Data ({names(c.label for c in processor_cats)}): SOS processes it on "
            "behalf of your organisation (the Customer), which is its controller and answers requests about it; "
            "SOS assists the Customer (GDPR Art. 28(3)(e))."
            if processor_cats
            else None
        ),
        copy_statement=(
            "This report lists the categories of your data, where they came from and where they went, not the data "
            "itself. The copy of your personal data (GDPR Art. 15(3)) comes from the systems that hold it."
        ),
        ccpa=RightToKnow(
            categories_collected=sorted({c.ccpa_category for c in categories}),
            categories_of_sources=[vocab.source_type(t) for t in sorted({s.type for c in held for s in c.sources})],
            purposes=[Labelled(key=p.key, label=p.label) for p in purposes],
            categories_of_third_parties=[vocab.recipient_type(t) for t in sorted({r.type for r in recipients})],
            **_right_to_know_sections(recipients, kinds),
            specific_pieces_statement=(
                "The specific pieces of personal information are provided from the systems that hold them; this "
                "report lists their categories."
            ),
        ),
        evidence_event_ids=evidence,
        evidence_statement=(
            "Each recipient lists the ids of the share events it rests on. For categories, the store records the "
            "number of events and their first and last dates, not their ids."
        ),
        evidence_annex=annex,
    )


def letter_reference(pseudonym: str, made_at: datetime) -> str:
    """A reference number for one access letter: the date and a short hash of the person's pseudonym and the time
    it was made (it names no one, and two letters made at different times differ)."""
    digest = hashlib.sha256(f"{pseudonym}|{made_at.isoformat()}".encode()).hexdigest()[:8].upper()
    return f"ACC-{made_at.strftime('%Y%m%d')}-{digest}"


def _source_words(s: SourceOfData) -> str:
    return s.description or s.type_label


def _transfers(
    recipients: list[RecipientDisclosure],
    region: frozenset[str] | None,
    policy: Policy,
    registry: RecipientRegistry | None,
) -> TransferInfo:
    by_country: dict[str | None, list[str]] = defaultdict(list)
    for r in recipients:
        by_country[r.country].append(r.name)
    countries = []
    for code in sorted(by_country, key=lambda c: (c is None, c or "")):
        in_eea, outside = _country_flags(code, region)
        countries.append(
            CountryRecipients(country=code, in_eea=in_eea, outside_region=outside, recipients=sorted(by_country[code]))
        )
    unknown = len(by_country.get(None, []))
    if not recipients:
        statement = "No disclosure of your data is recorded, so no transfer is recorded."
    elif region is None:
        statement = (
            "Our records do not show which country or region you are in, so whether a transfer left your region "
            "cannot be determined here. The recipients' countries are listed; a GDPR third country is one outside "
            "the EEA."
        )
    else:
        beyond = sorted(r.name for r in recipients if r.outside_region)
        statement = (
            f"Outside your region ({names(sorted(region))}): {names(beyond)}." if beyond
            else f"No recipient with a recorded country is outside your region ({names(sorted(region))})."
        )
    if unknown:
        statement += f" {unknown} recipient(s) have no recorded country."
    declared = sorted({c for d in policy.disclosures for c in (d.countries or [])})
    transfers = transfer_items((Recipient(r.id, r.name, r.type, r.country) for r in recipients), registry)
    policy_words = (
        f"The policy names these countries for its disclosures: {names(declared)}; it states no safeguards."
        if declared
        else "The policy names no countries for its disclosures and no safeguards for transfers to third countries "
        "(GDPR Art. 15(2), 46)."
    )
    return TransferInfo(
        region=sorted(region) if region is not None else None,
        statement=statement,
        countries=countries,
        transfers=transfers,
        safeguards_statement=transfers_statement(transfers, registry, whose="your data") + " " + policy_words,
    )


# -- tables (the CSV form) ----------------------------------------------------------------------------
def recipient_rows(items: list[RecipientDisclosure]) -> Table:
    head = ["recipient_id", "name", "type", "country", "in_eea", "contact", "categories", "purposes",
            "ccpa_disclosure", "first_shared_at", "last_shared_at", "event_ids"]
    rows = [[r.id, r.name, r.type, r.country, r.in_eea, r.contact, r.categories, r.purposes, r.ccpa_disclosure,
             r.first_shared_at, r.last_shared_at, r.event_ids] for r in items]
    return head, rows


def access_tables(report: AccessReport) -> dict[str, Table]:
    """The access report's tables: recipients, categories, sources."""
    return {
        "recipients": recipient_rows(report.recipients),
        "categories": (
            ["category", "label", "ccpa_category", "roles", "sources", "purposes", "first_seen", "last_seen",
             "event_count"],
            [[c.key, c.label, c.ccpa_category, c.roles, [s.type + (f":{s.name}" if s.name else "") for s in c.sources],
              c.purposes, c.first_seen, c.last_seen, c.event_count] for c in report.categories],
        ),
        "sources": (
            ["type", "name", "categories"],
            [[s.type, s.name, s.categories] for s in report.sources_other_than_subject],
        ),
        "transfers": transfer_rows(report.transfers.transfers),
    }
