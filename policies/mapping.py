"""The policy mapping: every sentence of a policy's source text, what it declares, the rules that feeds, and why.

A Markdown document generated from the policy file and its source (`lineage policy mapping`), for the DPO or
regulator who has to trust the alerts: each sentence of the published text in order, under its section, with the
declarations that quote it (each phrase and the keys it is read as, the reading choices it rests on, the rules
the declaration feeds), or the reason it declares nothing; then every reading choice with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from policies.closest import any_recipient
from policies.compliance import (
    DISCLOSURE_AFTER_WITHDRAWAL,
    IDENTIFIED_WHERE_AGGREGATED_ONLY,
    MARKETING_AFTER_OPT_OUT,
    PROCESSOR_BEYOND_INSTRUCTIONS,
    RULES,
    TRANSFER_OUTSIDE_DECLARED_COUNTRIES,
    UNDECLARED_CATEGORY,
    UNDECLARED_DISCLOSURE_PURPOSE,
    UNDECLARED_PURPOSE,
    UNDECLARED_RECIPIENT_TYPE,
    UNDECLARED_SOURCE,
    UNDECLARED_SUBJECT_TYPE,
)
from policies.rules import SALE_AFTER_OPT_OUT
from policies.source_text import Sentence, SourceText
from schemas.events import Role
from schemas.policy import Collection, Disclosure, NotDeclaration, Policy, Reading, Use
from schemas.taxonomy import Dimension, Taxonomy

Declaration = Collection | Use | Disclosure


@dataclass(frozen=True)
class _Quoted:
    kind: str
    item: Declaration | NotDeclaration


def rules_fed(kind: str, decl: Declaration) -> list[str]:
    """What a declaration does for the alerts, one line per rule it feeds (by rule id)."""
    if isinstance(decl, Collection):
        return [
            f"`{UNDECLARED_CATEGORY.id}`: its categories are declared collected as {decl.role.value}",
            f"`{UNDECLARED_SOURCE.id}`: from these sources",
            f"`{UNDECLARED_SUBJECT_TYPE.id}`: about these types of people (with these sources)",
        ]
    if isinstance(decl, Use):
        rule = PROCESSOR_BEYOND_INSTRUCTIONS if decl.role is Role.PROCESSOR else UNDECLARED_PURPOSE
        return [
            f"`{rule.id}`: these purposes are declared for {decl.role.value} data",
            f"`{DISCLOSURE_AFTER_WITHDRAWAL.id}`, `{MARKETING_AFTER_OPT_OUT.id}`: quoted as the permission a "
            "withdrawal or opt-out overrides",
        ]
    if decl.identifiability == "aggregated-only":
        return [
            "every rule: aggregated or de-identified data may go where it allows, and is exempt from the country "
            "and consent rules",
            f"`{IDENTIFIED_WHERE_AGGREGATED_ONLY.id}`: "
            + (
                "not raised, as it allows every recipient and purpose (a catch-all); identified flows it alone "
                "would cover keep their own finding"
                if decl.purposes == "any" and any_recipient(decl)
                else "identified data sent where only it would allow the flow"
            ),
        ]
    out = []
    if Role.CONTROLLER in decl.roles:
        named = (
            "allows these purposes to any recipient, without naming any type"
            if any_recipient(decl)
            else "names these recipient types"
        )
        out += [
            f"`{UNDECLARED_RECIPIENT_TYPE.id}`: {named}",
            f"`{UNDECLARED_DISCLOSURE_PURPOSE.id}`: these purposes"
            + (" (none named: every flow it would carry is flagged, quoting it)" if decl.purposes == [] else "")
            + ("" if decl.data_categories is None else " and categories"),
        ]
    if Role.PROCESSOR in decl.roles:
        out.append(f"`{PROCESSOR_BEYOND_INSTRUCTIONS.id}`: the only disclosures of Customer Data allowed")
    if decl.countries:
        out.append(f"`{TRANSFER_OUTSIDE_DECLARED_COUNTRIES.id}`: only to {', '.join(decl.countries)}")
    if decl.ccpa:
        out.append(
            f"`{SALE_AFTER_OPT_OUT.id}`: its flows are {_marks(decl.ccpa)} under the CCPA, stopped by an "
            "opt-out of sale and sharing (and so listed in the CCPA report)"
        )
    out.append(
        f"`{DISCLOSURE_AFTER_WITHDRAWAL.id}`, `{MARKETING_AFTER_OPT_OUT.id}`: quoted as the permission a "
        "withdrawal or opt-out overrides"
    )
    return out


def policy_mapping(policy: Policy, source: SourceText, *, policy_name: str, source_name: str) -> str:
    """The mapping document (Markdown) of ``policy`` against its ``source``."""
    tax = policy.taxonomy()
    quoted: dict[int, list[_Quoted]] = {}
    groups: tuple[tuple[str, list[Collection] | list[Use] | list[Disclosure] | list[NotDeclaration]], ...] = (
        ("collection", policy.collections),
        ("use", policy.uses),
        ("disclosure", policy.disclosures),
        ("not", policy.not_declarations),
    )
    for kind, items in groups:
        for item in items:
            for sentence in source.locate(item.clause.section, item.clause.text):
                quoted.setdefault(sentence.index, []).append(_Quoted(kind, item))
    declarations = len(policy.collections) + len(policy.uses) + len(policy.disclosures)
    lines = [
        f"# How the {policy.title} is encoded",
        "",
        "<!-- Generated by `lineage policy mapping`: do not edit. Change the policy file and run",
        "     `lineage policy mapping -o docs/policy-mapping.md`; a test fails when this file is not what it writes.",
        f"     Policy: {policy_name}",
        f"     Source: {source_name} -->",
        "",
        f"Policy `{policy.id}` version {policy.version}, controller {policy.controller.name}. Source text "
        f"`{source_name}` (the published `{policy.source_document}` with its headings marked). "
        f"{len(source.sentences)} sentences: {declarations} declarations and "
        f"{len(policy.not_declarations)} sentences or passages that declare nothing account for all of them; "
        f"{len(policy.reading_choices)} reading choices.",
        "",
        "Each sentence of the published text follows in order, under its section, with what it declares: for each",
        "declaration, the phrases of its quote and the keys each is read as (fideslang keys; a key covers its",
        "descendants), the reading choices it rests on, what it declares in all, and the alert rules it feeds",
        "([docs/alerts.md](alerts.md)). A sentence that declares nothing says why. The reading choices, each with",
        "its reason, are at the end. `lineage policy check` holds the policy file to all of it.",
        "",
        f"What the policy does not say is stated as absent: retention: {policy.retention.statement} Controller "
        f"contact: {policy.controller.contact or 'not stated'}; DPO: {policy.controller.dpo or 'not stated'}."
        + (
            ""
            if any(d.countries for d in policy.disclosures)
            else f" No disclosure names countries, so `{TRANSFER_OUTSIDE_DECLARED_COUNTRIES.id}` cannot fire."
        ),
        "",
        "## Sentence by sentence",
    ]
    opened: int | None = None
    for passage in _passages(source, quoted):
        first = passage[0]
        if first.section_line != opened:
            opened = first.section_line
            lines += ["", f"### {' › '.join(first.path) or '(before the first heading)'}"]
        lines += ["", *(f"> {s.text}" for s in passage), ""]
        for q in quoted.get(first.index, []):
            if isinstance(q.item, NotDeclaration):
                lines.append(f"*Declares nothing.* {q.item.why}")
            else:
                lines += _declaration(q.kind, q.item, tax)
            lines.append("")
        if not quoted.get(first.index):
            lines += ["**Not accounted for** (`lineage policy check` reports it).", ""]
    lines += ["## Reading choices", ""]
    users = _choice_users(policy)
    for choice in policy.reading_choices:
        lines += [
            f"### {choice.id}",
            "",
            f"**{choice.title}.** {choice.choice}",
            "",
            f"*Why:* {choice.reason}",
            "",
            f"*Rests on it:* {', '.join(users.get(choice.id, [])) or 'the policy as a whole, not one declaration'}.",
            "",
        ]
    beyond = [r for r in RULES if r.judged_from]
    if beyond:
        lines += [
            "## Rules the declarations do not feed",
            "",
            "These rules judge flows against something else than the policy's declarations; the policy's text "
            "neither allows nor forbids what they find.",
            "",
            *(f"- `{r.id}` ({r.severity.value}): {r.title}; judged from {r.judged_from}." for r in beyond),
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _passages(source: SourceText, quoted: dict[int, list[_Quoted]]) -> Iterator[list[Sentence]]:
    """Runs of consecutive sentences of one section that the same declarations quote."""
    run: list[Sentence] = []
    for s in source.sentences:
        if run and (
            s.section_line != run[-1].section_line or _ids(quoted.get(s.index)) != _ids(quoted.get(run[-1].index))
        ):
            yield run
            run = []
        run.append(s)
    if run:
        yield run


def _ids(items: list[_Quoted] | None) -> tuple[int, ...]:
    return tuple(id(q.item) for q in items or [])


def _declaration(kind: str, d: Declaration, tax: Taxonomy) -> list[str]:
    role = ", ".join(r.value for r in d.roles) if isinstance(d, Disclosure) else d.role.value
    out = [f"**{kind.capitalize()} `{d.id}`** ({role} data)", ""]
    if d.reads:
        out += ["| phrase | read as |", "| --- | --- |"]
        for r in d.reads:
            choice = f" — choice [{r.choice}](#{r.choice})" if r.choice else ""
            out.append(f"| “{_cell(r.phrase)}” | {_cell(_reading(r, tax))}{choice} |")
        out.append("")
    out.append(f"Declares: {_declares(d, tax)}.")
    if d.choices:
        out.append(f"Rests on: {', '.join(f'[{c}](#{c})' for c in d.choices)}.")
    out += ["", "Feeds:", *(f"- {rule}" for rule in rules_fed(kind, d))]
    return out


def _reading(r: Reading, tax: Taxonomy) -> str:
    parts = []
    if r.data_categories:
        parts.append(
            "every category declared collected"
            if r.data_categories == "all-collected"
            else "categories " + _keys(r.data_categories, Dimension.DATA_CATEGORY, tax)
        )
    if r.purposes:
        parts.append(_purposes(r.purposes, tax))
    if r.recipient_types:
        parts.append(
            "every recipient type"
            if len(r.recipient_types) >= 9
            else "recipients " + ", ".join(f"`{t.value}`" for t in r.recipient_types)
        )
    if r.sources:
        parts.append("sources " + ", ".join(f"`{s.value}`" for s in r.sources))
    if r.data_subjects:
        parts.append("people " + _keys(r.data_subjects, Dimension.DATA_SUBJECT, tax))
    if r.roles:
        parts.append("role " + ", ".join(f"`{x.value}`" for x in r.roles))
    if r.identifiability:
        parts.append("aggregated or de-identified data only")
    if r.ccpa:
        parts.append(f"{_marks(r.ccpa)} under the CCPA")
    return "; ".join(parts)


def _declares(d: Declaration, tax: Taxonomy) -> str:
    if isinstance(d, Collection):
        return (
            f"categories {_keys(d.data_categories, Dimension.DATA_CATEGORY, tax)} · sources "
            + ", ".join(f"`{s.value}`" for s in d.sources)
            + f" · about {_keys(d.data_subjects, Dimension.DATA_SUBJECT, tax)}"
        )
    if isinstance(d, Use):
        limit = f" · of {_keys(d.data_categories, Dimension.DATA_CATEGORY, tax)} only" if d.data_categories else ""
        return _purposes(d.purposes, tax) + limit
    types = (
        "any recipient" if any_recipient(d) else "recipients " + ", ".join(f"`{t.value}`" for t in d.recipient_types)
    )
    cats = (
        "every category declared collected"
        if d.data_categories is None
        else _keys(d.data_categories, Dimension.DATA_CATEGORY, tax)
    )
    extra = " · aggregated or de-identified data only" if d.identifiability == "aggregated-only" else ""
    where = f" · only to {', '.join(d.countries)}" if d.countries else ""
    purposes = "no purpose named" if d.purposes == [] else _purposes(d.purposes, tax)
    ccpa = f" · {_marks(d.ccpa)} under the CCPA" if d.ccpa else ""
    return f"{types} · {purposes} · {cats}{extra}{where}{ccpa}"


def _marks(marks: Sequence[str]) -> str:
    return " and ".join({"sale": "a sale", "sharing": "sharing"}[m] for m in marks)


def _purposes(purposes: list[str] | str, tax: Taxonomy) -> str:
    if purposes == "any":
        return "any purpose"
    if purposes == "any-declared-use":
        return "any purpose the policy declares for use"
    return "purposes " + _keys(list(purposes), Dimension.DATA_USE, tax)


def _keys(keys: list[str], dim: Dimension, tax: Taxonomy) -> str:
    return ", ".join(f"`{k}` ({tax.label(dim, k)})" if tax.label(dim, k) != k else f"`{k}`" for k in keys)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _choice_users(policy: Policy) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    declarations: list[Declaration] = [*policy.collections, *policy.uses, *policy.disclosures]
    for d in declarations:
        for c in [*d.choices, *(r.choice for r in d.reads if r.choice)]:
            if f"`{d.id}`" not in users.setdefault(c, []):
                users[c].append(f"`{d.id}`")
    for n in policy.not_declarations:
        for choice in policy.reading_choices:
            if choice.id in n.why:
                users.setdefault(choice.id, []).append(f"the not-declaration “{n.clause.text[:50]}…”")
    return users
