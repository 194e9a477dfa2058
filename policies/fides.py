"""The policy as Fides resources and back: a fideslang ``system`` with privacy declarations (a manifest ``fides``
loads), and a Fides system read into a policy skeleton whose clauses are marked as needing a quote.

Fides declares, per system, data uses with the categories and subjects they concern and whether the data is shared
with third parties; it has no sources, no roles per declaration, no recipient types and no quotations. The export
writes one declaration per (use or disclosure declaration, purpose), and keeps what Fides cannot say in the
system's ``meta.privacy_lineage`` (declaration ids, roles, sources, recipient types, "all categories", CCPA
marks), so that
importing an export gives the same declarations back. A system from elsewhere is read with defaults, which the
skeleton's markers ask the author to check: its role from the system's ``responsibility``, recipient types from the
``third_parties`` text, one collection per role with source ``data_subject``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fideslang.models import PrivacyDeclaration, System
from fideslang.models import Taxonomy as FidesTaxonomy
from pydantic import ValidationError

from schemas.events import RecipientType, Role
from schemas.policy import (
    Clause,
    Collection,
    CustomKey,
    CustomTaxonomy,
    Disclosure,
    Organisation,
    Policy,
    Retention,
    Use,
)
from schemas.taxonomy import Dimension, default_taxonomy

#: The section of a clause an import could not quote; its text says what to quote. `lineage policy check` reports them.
NEEDS_QUOTE = "NEEDS QUOTE"
_META = "privacy_lineage"
#: Fides has no way to say "aggregated or de-identified data only": an aggregated-only disclosure says it in words
_AGGREGATED = "aggregated or de-identified data only: "
_DIMENSIONS = (("data_category", "data_categories"), ("data_use", "data_uses"), ("data_subject", "data_subjects"))


class FidesImportError(ValueError):
    """A Fides manifest that cannot be read into a policy: what is wrong, and where in the manifest."""


# -- export ---------------------------------------------------------------------------------------------------------
def export_fides(policy: Policy) -> dict[str, Any]:
    """The policy as a Fides manifest: ``{"system": [...], "data_use": [...], ...}`` (custom taxonomy keys as
    resources), every resource checked by fideslang's models."""
    categories, subjects = _by_role(policy)
    retention = policy.retention.statement
    declarations: list[PrivacyDeclaration] = []
    notes: dict[str, dict[str, Any]] = {}
    for u in policy.uses:
        cats = u.data_categories or categories[u.role]
        for purpose in u.purposes:
            declarations.append(
                PrivacyDeclaration(
                    name=f"{u.id}: {purpose}",
                    data_use=purpose,
                    data_categories=cats,
                    data_subjects=subjects[u.role],
                    retention_period=retention,
                )
            )
        notes[u.id] = {"kind": "use", "role": u.role.value, "all_categories": u.data_categories is None}
        notes[u.id]["order"] = list(u.purposes)  # fideslang sorts declarations by name
    for d in policy.disclosures:
        cats = d.data_categories or _union(categories[r] for r in d.roles)
        for purpose in _disclosure_purposes(policy, d):
            declarations.append(
                PrivacyDeclaration(
                    name=f"{d.id}: {purpose}",
                    data_use=purpose,
                    data_categories=cats,
                    data_subjects=_union(subjects[r] for r in d.roles),
                    data_shared_with_third_parties=True,
                    third_parties=(_AGGREGATED if d.identifiability == "aggregated-only" else "")
                    + ", ".join(d.recipient_types),
                    shared_categories=cats,
                    retention_period=retention,
                )
            )
        notes[d.id] = {
            "kind": "disclosure",
            "roles": [r.value for r in d.roles],
            "recipient_types": [t.value for t in d.recipient_types],
            "purposes": d.purposes if isinstance(d.purposes, str) else None,
            "all_categories": d.data_categories is None,
            "identifiability": d.identifiability,
            "countries": d.countries,
            "ccpa": d.ccpa,
            "order": list(d.purposes) if isinstance(d.purposes, list) else None,
            # a disclosure naming no purpose has no Fides declaration: it comes back from here
            "data_categories": d.data_categories,
        }
    c = policy.controller
    system = System(
        fides_key=policy.id,
        name=policy.title,
        description=f"As declared by {policy.source_document} (policy version {policy.version}), from privacy-lineage.",
        system_type="Service",
        privacy_declarations=declarations,
        legal_name=c.name,
        legal_address=c.contact,
        dpo=c.dpo,
        responsibility=[r.value.title() for r in sorted({*categories, *(u.role for u in policy.uses)})],
        meta={
            _META: {
                "policy": {"id": policy.id, "version": policy.version, "source_document": policy.source_document},
                "collections": [  # the readings of a clause go with its quotation
                    col.model_dump(mode="json", exclude={"clause", "reads", "choices"}) for col in policy.collections
                ],
                "declarations": notes,
                "systems": dict(policy.systems),  # descriptions of source systems, for the access letter
            }
        },
    )
    manifest: dict[str, Any] = {"system": [system.model_dump(mode="json", exclude_none=True)]}
    for dim, attr in _DIMENSIONS:
        custom = getattr(policy.custom_taxonomy, attr)
        if custom:
            manifest[dim] = [
                {"fides_key": k.key, "name": k.name, "description": k.description, "parent_key": _parent(k.key)}
                for k in custom
            ]
    FidesTaxonomy.model_validate(manifest)  # what fides will parse
    return manifest


def _by_role(policy: Policy) -> tuple[dict[Role, list[str]], dict[Role, list[str]]]:
    """Per role, the categories declared collected and the subjects concerned (in declaration order)."""
    categories = {r: _union(c.data_categories for c in policy.collections if c.role is r) for r in Role}
    subjects = {r: _union(c.data_subjects for c in policy.collections if c.role is r) for r in Role}
    return categories, subjects


def _disclosure_purposes(policy: Policy, d: Disclosure) -> list[str]:
    if d.purposes == "any-declared-use":
        return _union(u.purposes for u in policy.uses if u.role in d.roles)
    if d.purposes == "any":  # every purpose is under one of the taxonomy's roots
        return sorted(k for k in policy.taxonomy().keys(Dimension.DATA_USE) if "." not in k)
    return list(d.purposes)


# -- import ---------------------------------------------------------------------------------------------------------
def import_fides(manifest: Mapping[str, Any], system: str | None = None) -> Policy:
    """A policy skeleton from the Fides ``system`` of a manifest (the only one when not named): every clause is
    marked :data:`NEEDS_QUOTE`; raises :class:`FidesImportError`."""
    known = {k: v for k, v in manifest.items() if k in FidesTaxonomy.model_fields}
    try:
        parsed = FidesTaxonomy.model_validate(known)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise FidesImportError(f"not a valid Fides manifest: {where}") from None
    systems = parsed.system or []
    keys = [s.fides_key for s in systems]
    if system is None and len(systems) != 1:
        raise FidesImportError(f"the manifest has {len(systems)} systems ({', '.join(keys) or 'none'}): name one")
    chosen = next((s for s in systems if system is None or s.fides_key == system), None)
    if chosen is None:
        raise FidesImportError(f"no system {system!r} in the manifest (it has {', '.join(keys) or 'none'})")
    meta = (chosen.meta or {}).get(_META) or {}
    uses, disclosures = _declarations(chosen, meta)
    about = meta.get("policy") or {}
    retention = next((d.retention_period for d in chosen.privacy_declarations if d.retention_period), None)
    try:
        return Policy(
            id=about.get("id") or _slug(chosen.fides_key),
            version=about.get("version") or "0.1-draft",
            title=chosen.name or chosen.fides_key,
            source_document=about.get("source_document") or f"{NEEDS_QUOTE}: the published policy's text file",
            controller=Organisation(name=chosen.legal_name or chosen.name or chosen.fides_key,
                                    contact=chosen.legal_address, dpo=chosen.dpo),
            custom_taxonomy=_custom(parsed),
            systems=dict(meta.get("systems") or {}),
            collections=_collections(chosen, meta, uses, disclosures),
            uses=uses,
            disclosures=disclosures,
            retention=Retention(statement=retention or f"{NEEDS_QUOTE}: what the policy says about retention"),
        )  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise FidesImportError(f"system {chosen.fides_key!r} does not make a valid policy: {problems}") from None


def _declarations(system: System, meta: Mapping[str, Any]) -> tuple[list[Use], list[Disclosure]]:
    notes: Mapping[str, Mapping[str, Any]] = meta.get("declarations") or {}
    default_role = Role.PROCESSOR if [str(r) for r in system.responsibility] == ["Processor"] else Role.CONTROLLER
    groups: dict[tuple[str, str], list[PrivacyDeclaration]] = {}
    for n, decl in enumerate(system.privacy_declarations):
        ours = (decl.name or "").split(": ", 1)[0]
        if ours in notes:
            kind = notes[ours]["kind"]
            groups.setdefault((kind, ours), []).append(decl)
            continue
        base = _slug(decl.name or decl.data_use) or f"declaration-{n + 1}"
        groups.setdefault(("use", base), []).append(decl)
        if decl.data_shared_with_third_parties:
            groups.setdefault(("disclosure", f"{base}-disclosure"), []).append(decl)
    for name, note in notes.items():  # a disclosure naming no purpose: in the notes only
        if note.get("kind") == "disclosure" and ("disclosure", name) not in groups:
            groups[("disclosure", name)] = []
    order = {name: i for i, name in enumerate(notes)}  # fideslang sorts declarations by name: the policy's order
    groups = dict(sorted(groups.items(), key=lambda g: order.get(g[0][1], len(order))))
    uses: list[Use] = []
    disclosures: list[Disclosure] = []
    seen: set[str] = set()
    for (kind, name), decls in groups.items():
        note = notes.get(name, {})
        ident = _unique(_slug(name), seen)
        clause = _needs_quote(system.fides_key, decls, None if decls else f"{kind} {name}")
        hint = note.get("order") or []
        purposes = sorted(_union([d.data_use] for d in decls), key=lambda p: hint.index(p) if p in hint else len(hint))
        cats = None if note.get("all_categories") else _union(d.shared_categories or d.data_categories for d in decls)
        if not decls:
            cats = note.get("data_categories")
        if kind == "use":
            uses.append(Use(id=ident, clause=clause, purposes=purposes, role=note.get("role", default_role),
                            data_categories=cats))  # fmt: skip
        else:
            disclosures.append(
                Disclosure(
                    id=ident,
                    clause=clause,
                    recipient_types=note.get("recipient_types") or _recipient_types(decls),
                    purposes=note.get("purposes") or purposes,
                    roles=note.get("roles") or [default_role],
                    data_categories=cats,
                    identifiability=note.get("identifiability") or _identifiability(decls),
                    countries=note.get("countries"),
                    ccpa=note.get("ccpa") or [],
                )
            )
    return uses, disclosures


def _collections(
    system: System, meta: Mapping[str, Any], uses: list[Use], disclosures: list[Disclosure]
) -> list[Collection]:
    if meta.get("collections"):
        return [
            Collection(**c, clause=_needs_quote(system.fides_key, [], f"collection {c.get('id')}"))
            for c in meta["collections"]
        ]
    out = []  # Fides does not say where data comes from: one collection per role, from the person, to check
    for role in Role:
        decls = [d for d in system.privacy_declarations if _role_of(d, uses, disclosures) is role]
        if decls:
            out.append(
                Collection(
                    id=f"{role.value}-data",
                    clause=_needs_quote(system.fides_key, decls, "what is collected (sources assumed: data_subject)"),
                    data_categories=_union(d.data_categories for d in decls),
                    sources=["data_subject"],
                    role=role,
                    data_subjects=_union(d.data_subjects for d in decls) or ["customer"],
                )
            )
    return out


def _role_of(decl: PrivacyDeclaration, uses: list[Use], disclosures: list[Disclosure]) -> Role:
    for u in uses:
        if decl.data_use in u.purposes and set(decl.data_categories) <= set(u.data_categories or decl.data_categories):
            return u.role
    return disclosures[0].roles[0] if disclosures else Role.CONTROLLER


def _needs_quote(system: str, decls: list[PrivacyDeclaration], what: str | None = None) -> Clause:
    names = ", ".join(repr(d.name or d.data_use) for d in decls)
    subject = what or f"Fides declaration(s) {names}"
    return Clause(section=NEEDS_QUOTE, text=f"{NEEDS_QUOTE}: quote the policy sentence that declares {subject} "
                  f"(imported from Fides system {system!r})")  # fmt: skip


def _recipient_types(decls: list[PrivacyDeclaration]) -> list[RecipientType]:
    words = set(re.findall(r"[a-z_]+", " ".join(d.third_parties or "" for d in decls).lower()))
    return [t for t in RecipientType if t.value in words] or [RecipientType.OTHER_THIRD_PARTY]


def _identifiability(decls: list[PrivacyDeclaration]) -> str:
    said = all((d.third_parties or "").startswith(_AGGREGATED) for d in decls)
    return "aggregated-only" if said else "identified"


def _custom(parsed: FidesTaxonomy) -> CustomTaxonomy:
    found: dict[str, list[CustomKey]] = {}
    for dim, attr in _DIMENSIONS:
        found[attr] = [
            CustomKey(key=item.fides_key, name=item.name or item.fides_key, description=item.description or "")
            for item in getattr(parsed, dim) or []
            if not default_taxonomy().has(Dimension(dim), item.fides_key)
        ]
    return CustomTaxonomy(**found)


def needs_quote(policy: Policy) -> list[str]:
    """Where the policy still has an imported clause to replace by a quotation: ``collections[0] (id)``, ..."""
    out = []
    for group in ("collections", "uses", "disclosures"):
        for n, decl in enumerate(getattr(policy, group)):
            if decl.clause.section == NEEDS_QUOTE:
                out.append(f"{group}[{n}] ({decl.id})")
    return out


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as the mapping a policy file holds (for writing as YAML)."""
    return policy.model_dump(mode="json", exclude_none=True)


# -- helpers ----------------------------------------------------------------------------------------------------------
def _union(lists: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(x for xs in lists for x in xs))


def _parent(key: str) -> str | None:
    return key.rpartition(".")[0] or None


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")[:80].strip("-")


def _unique(ident: str, seen: set[str]) -> str:
    base, n = ident or "declaration", 2
    while ident in seen or not ident:
        ident, n = f"{base}-{n}", n + 1
    seen.add(ident)
    return ident
