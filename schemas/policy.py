"""The privacy-policy declaration model: what a published policy declares collected, used and disclosed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Frozen
from schemas.events import RecipientType, Role, SourceType
from schemas.keys import CountryCode
from schemas.taxonomy import Dimension, Taxonomy, TaxonomyEntry, default_taxonomy

Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$", max_length=200)]
DeclId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
Text = Annotated[str, StringConstraints(min_length=1)]


class Clause(Frozen):
    """A verbatim quotation of the published policy that a declaration rests on."""

    section: Text = Field(description="The heading of the policy section quoted.")
    text: Text = Field(description="The sentence(s) quoted verbatim from the policy.")


CcpaMark = Literal["sale", "sharing"]
"""What a disclosure is under the CCPA, where the policy's text says so: a sale (§1798.140(ad)) or sharing for
cross-context behavioural advertising (§1798.140(ah))."""


class Reading(Frozen):
    """How one phrase of a declaration's clause is read: the keys it yields (what a reviewer checks)."""

    phrase: Text = Field(description="Words of the clause, verbatim (white space aside).")
    data_categories: list[Key] | Literal["all-collected"] = Field(
        default_factory=list,
        description="Data categories the phrase names; 'all-collected' for 'your information' (every category "
        "declared collected), which a disclosure without data_categories needs.",
    )
    purposes: list[Key] | Literal["any", "any-declared-use"] = Field(
        default_factory=list, description="Purposes the phrase names, or 'any' / 'any-declared-use'."
    )
    recipient_types: list[RecipientType] = Field(default_factory=list, description="Recipient types it names.")
    sources: list[SourceType] = Field(default_factory=list, description="Source types it names.")
    data_subjects: list[Key] = Field(default_factory=list, description="Data-subject types it names.")
    roles: list[Role] = Field(
        default_factory=list, description="Roles it names; needed for 'processor' (the default reading is controller)."
    )
    identifiability: Literal["aggregated-only"] | None = Field(
        default=None, description="'aggregated-only' when the phrase limits the declaration to aggregated data."
    )
    ccpa: list[CcpaMark] = Field(
        default_factory=list,
        description="'sale' and/or 'sharing' when the phrase says the disclosure is a sale or sharing under the CCPA.",
    )
    choice: DeclId | None = Field(
        default=None, description="Id of the reading choice (reading_choices) this reading rests on, if any."
    )


class ReadingChoice(Frozen):
    """A choice made where the text allows more than one reading, stated so a reviewer can disagree with it."""

    id: DeclId = Field(description="Stable id, referred to by readings and declarations.")
    title: Text = Field(description="The choice in a few words.")
    choice: Text = Field(description="What is read, and how.")
    reason: Text = Field(description="Why this reading and not another.")


class CustomKey(Frozen):
    """A taxonomy key the policy needs that fideslang's default taxonomy lacks."""

    key: Key = Field(description="The new key; its parent (the key minus its last segment) must exist.")
    name: Text = Field(description="Human name of the key.")
    description: str = Field(default="", description="What the key means.")


class CustomTaxonomy(Frozen):
    """Custom keys per fideslang dimension."""

    data_categories: list[CustomKey] = Field(default_factory=list, description="Custom data-category keys.")
    data_uses: list[CustomKey] = Field(default_factory=list, description="Custom data-use (purpose) keys.")
    data_subjects: list[CustomKey] = Field(default_factory=list, description="Custom data-subject keys.")


class Organisation(Frozen):
    """The controller named in the policy (GDPR Art. 30(1)(a))."""

    name: Text = Field(description="Legal name.")
    contact: str | None = Field(
        default=None, description="Contact details (address, email); not stated in the policy if null."
    )
    dpo: str | None = Field(default=None, description="Data-protection officer's contact, if any.")


class Collection(Frozen):
    """The policy declares collecting these categories from these sources."""

    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    data_categories: list[Key] = Field(min_length=1, description="Data categories declared collected.")
    sources: list[SourceType] = Field(min_length=1, description="Sources declared for them.")
    role: Role = Field(description="SOS's role for this data: processor for Customer Data.")
    data_subjects: list[Key] = Field(min_length=1, description="Categories of data subjects concerned.")
    reads: list[Reading] = Field(
        default_factory=list,
        description="How the clause's phrases are read; with a source, every key declared must come from one.",
    )
    choices: list[DeclId] = Field(
        default_factory=list, description="Ids of reading choices the declaration as a whole rests on."
    )


class Use(Frozen):
    """The policy declares using data for these purposes."""

    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    purposes: list[Key] = Field(min_length=1, description="Declared purposes; a key also covers its descendants.")
    role: Role = Field(description="Applies to data held in this role.")
    data_categories: list[Key] | None = Field(
        default=None,
        description="Categories this use is limited to; null means every category declared collected in this role.",
    )
    reads: list[Reading] = Field(
        default_factory=list,
        description="How the clause's phrases are read; with a source, every key declared must come from one.",
    )
    choices: list[DeclId] = Field(
        default_factory=list, description="Ids of reading choices the declaration as a whole rests on."
    )


class Disclosure(Frozen):
    """The policy declares disclosing data to these recipient types for these purposes."""

    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    recipient_types: list[RecipientType] = Field(min_length=1, description="Recipient types declared.")
    purposes: list[Key] | Literal["any-declared-use", "any"] = Field(
        description="Purposes declared for these recipients: a list of keys (empty when the clause names none: "
        "every flow it would carry is then an undeclared purpose, and alerts quote it), 'any-declared-use' (any "
        "purpose the policy declares for use) or 'any' (any purpose at all, e.g. for aggregated data)."
    )
    roles: list[Role] = Field(
        default=[Role.CONTROLLER], min_length=1, description="Roles of the data this disclosure may carry."
    )
    data_categories: list[Key] | None = Field(
        default=None,
        description="Categories this disclosure is limited to; null means every category declared collected in "
        "these roles.",
    )
    identifiability: Literal["identified", "aggregated-only"] = Field(
        default="identified",
        description="'aggregated-only' when the policy allows this only for aggregated or de-identified data.",
    )
    countries: list[CountryCode] | None = Field(
        default=None, description="Countries declared for this disclosure; null means the policy names none."
    )
    ccpa: list[CcpaMark] = Field(
        default_factory=list,
        description="What the text says this disclosure is under the CCPA: 'sale' (for money or other valuable "
        "consideration, §1798.140(ad)) and/or 'sharing' (for cross-context behavioural advertising, §1798.140(ah)). "
        "Empty: judged by recipient type and purpose alone (policies/sale.py). A flow falls under the declaration "
        "when its recipient type, role and category are the declaration's, and its purpose too where the "
        "declaration names purposes.",
    )
    reads: list[Reading] = Field(
        default_factory=list,
        description="How the clause's phrases are read; with a source, every key declared must come from one.",
    )
    choices: list[DeclId] = Field(
        default_factory=list, description="Ids of reading choices the declaration as a whole rests on."
    )


class RetentionPeriod(Frozen):
    """How long data of some categories, for some purposes, may be kept (GDPR Art. 5(1)(e)): a period counted
    from when the person's data of the category was first recorded, or criteria in words."""

    id: DeclId = Field(description="Stable id; findings and reports name it.")
    data_categories: list[Key] = Field(
        min_length=1, description="Categories it applies to (a key covers its children)."
    )
    purposes: list[Key] | None = Field(
        default=None,
        description="Purposes it applies to (a key covers its children); null: whatever the purpose, and the data's "
        "holding too (lineage retention check).",
    )
    days: int | None = Field(default=None, gt=0, description="The period in days; null when only criteria are given.")
    criteria: Text | None = Field(default=None, description="The criteria for the period, in words, if any.")
    clause: Clause | None = Field(default=None, description="The policy sentence it comes from, if any.")

    @model_validator(mode="after")
    def _period_or_criteria(self) -> RetentionPeriod:
        if self.days is None and self.criteria is None:
            raise ValueError("a retention period needs days or criteria")
        return self


class Retention(Frozen):
    """What the policy says about how long data is kept (GDPR Art. 13(2)(a), 15(1)(d), 30(1)(f))."""

    statement: Text = Field(
        description="The retention period or its criteria, or a plain statement that the policy gives none."
    )
    clause: Clause | None = Field(default=None, description="The policy sentence it comes from, if any.")
    periods: list[RetentionPeriod] = Field(
        default_factory=list,
        description="Periods per category and purpose (the first that applies wins); none: the policy declares none.",
    )


class NotDeclaration(Frozen):
    """A sentence of the policy's collection, use or disclosure sections that declares no flow, and why."""

    clause: Clause = Field(description="The sentence quoted verbatim.")
    why: Text = Field(
        description="Why it declares no collection, use or disclosure (an introduction, a definition, ...)."
    )


class Policy(Frozen):
    """A published privacy policy as a machine-readable declaration."""

    id: DeclId = Field(description="Stable id of the policy.")
    version: Text = Field(
        description="Version of this declaration; alerts record the version they were judged against."
    )
    title: Text = Field(description="Title of the published policy.")
    source_document: Text = Field(description="File name of the published policy text the clauses quote.")
    source: str | None = Field(
        default=None,
        description="Path, relative to the policy file, of the published text with its structure (Markdown) or "
        "as plain text: when given, every quote is checked against it, every sentence of it must be accounted "
        "for, and every key declared must come from a reading of its clause.",
    )
    controller: Organisation = Field(description="The controller named in the policy.")
    custom_taxonomy: CustomTaxonomy = Field(default_factory=CustomTaxonomy, description="Keys fideslang lacks.")
    systems: dict[str, str] = Field(
        default_factory=dict,
        description="What the systems and parties that events name as sources are, in words a data subject "
        "understands (internal name -> description), for the access letter; a names file (LINEAGE_NAMES_FILE) may "
        "add to or override them.",
    )
    collections: list[Collection] = Field(min_length=1, description="What is declared collected.")
    uses: list[Use] = Field(min_length=1, description="What is declared used, for which purposes.")
    disclosures: list[Disclosure] = Field(default_factory=list, description="To whom data is declared disclosed.")
    retention: Retention = Field(description="What the policy says about retention.")
    not_declarations: list[NotDeclaration] = Field(
        default_factory=list,
        description="Sentences of the source that declare nothing, with the reason: together with the declarations "
        "they account for every sentence of the published policy.",
    )
    reading_choices: list[ReadingChoice] = Field(
        default_factory=list, description="Choices made where the text allows more than one reading, with reasons."
    )

    @model_validator(mode="after")
    def _check(self) -> Policy:
        self.taxonomy()  # raises on a custom key with an unknown parent
        problems = declaration_problems(self.model_dump(mode="json"))
        if problems:
            raise ValueError("; ".join(f"{where}: {what}" for where, what in problems))
        return self

    def taxonomy(self, base: Taxonomy | None = None) -> Taxonomy:
        """fideslang's default taxonomy extended with this policy's custom keys."""
        tax = base or default_taxonomy()
        for dim, items in (
            (Dimension.DATA_CATEGORY, self.custom_taxonomy.data_categories),
            (Dimension.DATA_USE, self.custom_taxonomy.data_uses),
            (Dimension.DATA_SUBJECT, self.custom_taxonomy.data_subjects),
        ):
            tax = tax.extended(
                dim,
                (
                    TaxonomyEntry(
                        key=k.key,
                        name=k.name,
                        parent=k.key.rpartition(".")[0] or None,
                        description=k.description,
                        custom=True,
                    )
                    for k in items
                ),
            )
        return tax


_DECLARATION_GROUPS = ("collections", "uses", "disclosures")
_CUSTOM_FIELDS = {
    Dimension.DATA_CATEGORY: "data_categories",
    Dimension.DATA_USE: "data_uses",
    Dimension.DATA_SUBJECT: "data_subjects",
}


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    return enumerate(value) if isinstance(value, list) else iter(())


def _custom_taxonomy(data: Mapping[str, Any]) -> Taxonomy:
    """The default taxonomy with the well-formed custom keys of a raw policy (others are reported elsewhere)."""
    tax = default_taxonomy()
    custom = data.get("custom_taxonomy")
    if not isinstance(custom, Mapping):
        return tax
    for dim, field in _CUSTOM_FIELDS.items():
        entries = []
        for _, item in _items(custom.get(field)):
            key = item.get("key") if isinstance(item, Mapping) else None
            if isinstance(key, str) and key:
                parent = key.rpartition(".")[0] or None
                entries.append(TaxonomyEntry(key=key, name=str(item.get("name") or key), parent=parent, custom=True))
        try:
            tax = tax.extended(dim, entries)
        except ValueError:
            continue
    return tax


def declaration_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Unknown taxonomy keys, duplicate declaration ids and unknown reading choices, as (field path, message).

    Works on the raw data of a policy file as well as on a valid one, so that these are reported together with
    any malformed field (a typo in one place must not hide a fault in another).
    """
    taxonomy = _custom_taxonomy(data)
    problems: list[tuple[str, str]] = []

    def check(dim: Dimension, keys: Any, where: str) -> None:
        for i, key in _items(keys):
            if isinstance(key, str) and not taxonomy.has(dim, key):
                problems.append((f"{where}[{i}]", f"unknown {dim.label} {key!r}"))

    choices = {c.get("id") for _, c in _items(data.get("reading_choices")) if isinstance(c, Mapping)}
    seen: set[str] = set()
    for group in _DECLARATION_GROUPS:
        for n, decl in _items(data.get(group)):
            if not isinstance(decl, Mapping):
                continue
            here = f"{group}[{n}]"
            ident = decl.get("id")
            if isinstance(ident, str):
                if ident in seen:
                    problems.append((f"{here}.id", f"duplicate declaration id {ident!r}"))
                seen.add(ident)
            check(Dimension.DATA_CATEGORY, decl.get("data_categories"), f"{here}.data_categories")
            check(Dimension.DATA_SUBJECT, decl.get("data_subjects"), f"{here}.data_subjects")
            check(Dimension.DATA_USE, decl.get("purposes"), f"{here}.purposes")
            for i, choice in _items(decl.get("choices")):
                if isinstance(choice, str) and choice not in choices:
                    problems.append((f"{here}.choices[{i}]", f"unknown reading choice {choice!r}"))
            for r, reading in _items(decl.get("reads")):
                if not isinstance(reading, Mapping):
                    continue
                there = f"{here}.reads[{r}]"
                check(Dimension.DATA_CATEGORY, reading.get("data_categories"), f"{there}.data_categories")
                check(Dimension.DATA_SUBJECT, reading.get("data_subjects"), f"{there}.data_subjects")
                check(Dimension.DATA_USE, reading.get("purposes"), f"{there}.purposes")
                choice = reading.get("choice")
                if isinstance(choice, str) and choice not in choices:
                    problems.append((f"{there}.choice", f"unknown reading choice {choice!r}"))
    ids = [c.get("id") for _, c in _items(data.get("reading_choices")) if isinstance(c, Mapping)]
    for n, ident in enumerate(ids):
        if isinstance(ident, str) and ids.index(ident) != n:
            problems.append((f"reading_choices[{n}].id", f"duplicate reading choice id {ident!r}"))
    return problems
