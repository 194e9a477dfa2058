"""The privacy-policy declaration model: what a published policy declares collected, used and disclosed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.events import CountryCode, RecipientType, Role, SourceType
from schemas.taxonomy import Dimension, Taxonomy, TaxonomyEntry, default_taxonomy

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$", max_length=200)]
DeclId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
Text = Annotated[str, StringConstraints(min_length=1)]


class Clause(BaseModel):
    """A verbatim quotation of the published policy that a declaration rests on."""

    model_config = _FROZEN
    section: Text = Field(description="The heading of the policy section quoted.")
    text: Text = Field(description="The sentence(s) quoted verbatim from the policy.")


class CustomKey(BaseModel):
    """A taxonomy key the policy needs that fideslang's default taxonomy lacks."""

    model_config = _FROZEN
    key: Key = Field(description="The new key; its parent (the key minus its last segment) must exist.")
    name: Text = Field(description="Human name of the key.")
    description: str = Field(default="", description="What the key means.")


class CustomTaxonomy(BaseModel):
    """Custom keys per fideslang dimension."""

    model_config = _FROZEN
    data_categories: list[CustomKey] = Field(default_factory=list, description="Custom data-category keys.")
    data_uses: list[CustomKey] = Field(default_factory=list, description="Custom data-use (purpose) keys.")
    data_subjects: list[CustomKey] = Field(default_factory=list, description="Custom data-subject keys.")


class Organisation(BaseModel):
    """The controller named in the policy (GDPR Art. 30(1)(a))."""

    model_config = _FROZEN
    name: Text = Field(description="Legal name.")
    contact: str | None = Field(
        default=None, description="Contact details (address, email); not stated in the policy if null."
    )
    dpo: str | None = Field(default=None, description="Data-protection officer's contact, if any.")


class Collection(BaseModel):
    """The policy declares collecting these categories from these sources."""

    model_config = _FROZEN
    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    data_categories: list[Key] = Field(min_length=1, description="Data categories declared collected.")
    sources: list[SourceType] = Field(min_length=1, description="Sources declared for them.")
    role: Role = Field(description="SOS's role for this data: processor for Customer Data.")
    data_subjects: list[Key] = Field(min_length=1, description="Categories of data subjects concerned.")


class Use(BaseModel):
    """The policy declares using data for these purposes."""

    model_config = _FROZEN
    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    purposes: list[Key] = Field(min_length=1, description="Declared purposes; a key also covers its descendants.")
    role: Role = Field(description="Applies to data held in this role.")
    data_categories: list[Key] | None = Field(
        default=None,
        description="Categories this use is limited to; null means every category declared collected in this role.",
    )


class Disclosure(BaseModel):
    """The policy declares disclosing data to these recipient types for these purposes."""

    model_config = _FROZEN
    id: DeclId = Field(description="Stable id of this declaration.")
    clause: Clause = Field(description="The policy sentence this declaration comes from.")
    recipient_types: list[RecipientType] = Field(min_length=1, description="Recipient types declared.")
    purposes: list[Key] | Literal["any-declared-use", "any"] = Field(
        description="Purposes declared for these recipients: a list of keys, 'any-declared-use' (any purpose the "
        "policy declares for use) or 'any' (any purpose at all, e.g. for aggregated data)."
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


class Retention(BaseModel):
    """What the policy says about how long data is kept (GDPR Art. 13(2)(a), 15(1)(d), 30(1)(f))."""

    model_config = _FROZEN
    statement: Text = Field(
        description="The retention period or its criteria, or a plain statement that the policy gives none."
    )
    clause: Clause | None = Field(default=None, description="The policy sentence it comes from, if any.")


class NotDeclaration(BaseModel):
    """A sentence of the policy's collection, use or disclosure sections that declares no flow, and why."""

    model_config = _FROZEN
    clause: Clause = Field(description="The sentence quoted verbatim.")
    why: Text = Field(
        description="Why it declares no collection, use or disclosure (an introduction, a definition, ...)."
    )


class Policy(BaseModel):
    """A published privacy policy as a machine-readable declaration."""

    model_config = _FROZEN
    id: DeclId = Field(description="Stable id of the policy.")
    version: Text = Field(
        description="Version of this declaration; alerts record the version they were judged against."
    )
    title: Text = Field(description="Title of the published policy.")
    source_document: Text = Field(description="File name of the published policy text the clauses quote.")
    controller: Organisation = Field(description="The controller named in the policy.")
    custom_taxonomy: CustomTaxonomy = Field(default_factory=CustomTaxonomy, description="Keys fideslang lacks.")
    collections: list[Collection] = Field(min_length=1, description="What is declared collected.")
    uses: list[Use] = Field(min_length=1, description="What is declared used, for which purposes.")
    disclosures: list[Disclosure] = Field(default_factory=list, description="To whom data is declared disclosed.")
    retention: Retention = Field(description="What the policy says about retention.")
    not_declarations: list[NotDeclaration] = Field(
        default_factory=list,
        description="Sentences of the collection, use and disclosure sections that declare nothing, with the reason: "
        "together with the declarations they account for every such sentence of the published policy.",
    )

    @model_validator(mode="after")
    def _check(self) -> Policy:
        taxonomy = self.taxonomy()  # raises on a custom key with an unknown parent
        problems: list[str] = []

        def check(dim: Dimension, keys: list[str] | None, where: str) -> None:
            for i, key in enumerate(keys or []):
                if not taxonomy.has(dim, key):
                    problems.append(f"{where}[{i}]: unknown {dim.label} {key!r}")

        seen: set[str] = set()
        for group in ("collections", "uses", "disclosures"):
            for n, decl in enumerate(getattr(self, group)):
                if decl.id in seen:
                    problems.append(f"{group}[{n}].id: duplicate declaration id {decl.id!r}")
                seen.add(decl.id)
        for n, c in enumerate(self.collections):
            check(Dimension.DATA_CATEGORY, c.data_categories, f"collections[{n}].data_categories")
            check(Dimension.DATA_SUBJECT, c.data_subjects, f"collections[{n}].data_subjects")
        for n, u in enumerate(self.uses):
            check(Dimension.DATA_USE, u.purposes, f"uses[{n}].purposes")
            check(Dimension.DATA_CATEGORY, u.data_categories, f"uses[{n}].data_categories")
        for n, d in enumerate(self.disclosures):
            if isinstance(d.purposes, list):
                check(Dimension.DATA_USE, d.purposes, f"disclosures[{n}].purposes")
            check(Dimension.DATA_CATEGORY, d.data_categories, f"disclosures[{n}].data_categories")
        if problems:
            raise ValueError("; ".join(problems))
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
