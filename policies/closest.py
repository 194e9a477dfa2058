"""Which declaration comes closest to covering a flow it does not cover, and what the flow lacks: alert reasons.

A reason quotes the declaration a reviewer has to read to judge the alert: for a disclosure, the one for the same
recipient type and role, preferring one that names that type to one for any recipient, then the same purpose,
then the same category; among equals, the one that names the fewest recipient types, then the first in the file.
It then says exactly what is missing (the purpose, the category, or both) and what the policy does declare for
that recipient type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from schemas.events import RecipientType, Role, SourceType
from schemas.policy import Collection, Disclosure
from schemas.taxonomy import covers

_ALL_TYPES = frozenset(RecipientType)


def any_recipient(d: Disclosure) -> bool:
    """A declaration for every type of recipient ("other entities", "any recipient"): it names none in particular."""
    return set(d.recipient_types) >= _ALL_TYPES


def closest_disclosure(
    candidates: Sequence[Disclosure],
    recipient_type: RecipientType,
    role: Role,
    purpose_ok: Callable[[Disclosure], bool],
    category_ok: Callable[[Disclosure], bool],
) -> Disclosure | None:
    """The declaration closest to covering a disclosure (see the module docstring); None when there is none."""

    def score(d: Disclosure) -> tuple[bool, bool, bool, bool, bool, int]:
        named = recipient_type in d.recipient_types and not any_recipient(d)
        same_type = recipient_type in d.recipient_types
        return (same_type, role in d.roles, named, purpose_ok(d), category_ok(d), -len(d.recipient_types))

    return max(candidates, key=score) if candidates else None  # max keeps the first of equals: file order


def most_specific(declarations: Sequence[Disclosure]) -> Disclosure | None:
    """Of declarations that all cover a flow, the one naming the fewest recipient types (then the first)."""
    return min(declarations, key=lambda d: len(d.recipient_types)) if declarations else None


def closest_collection(
    candidates: Sequence[Collection], source: SourceType | None, subject_type: str
) -> Collection | None:
    """The collection declaration closest to a collection: same source, then same type of person, then file order."""

    def score(c: Collection) -> tuple[bool, bool]:
        return (source is not None and source in c.sources, any(covers(s, subject_type) for s in c.data_subjects))

    return max(candidates, key=score) if candidates else None


def purposes_text(d: Disclosure) -> str:
    """What a declaration allows, in words: its purposes."""
    if d.purposes == "any":
        return "any purpose"
    if d.purposes == "any-declared-use":
        return "any purpose the policy declares for use"
    return ", ".join(d.purposes) if d.purposes else "no named purpose"


def missing_text(d: Disclosure, purpose: str, category: str, purpose_ok: bool, category_ok: bool) -> str:
    """What the closest declaration lacks for the flow, e.g. "it names no purpose" or "... not of 'user.name'"."""
    cats = ", ".join(d.data_categories) if d.data_categories is not None else ""
    if not purpose_ok and d.purposes == []:
        return "it names no purpose for such disclosures"
    allows = f"it allows {purposes_text(d)}" + (f" of {cats}" if cats else "")
    if not purpose_ok and not category_ok:
        return f"{allows}: not {purpose!r}, and not of {category!r}"
    if not purpose_ok:
        return f"{allows}: not {purpose!r}"
    return f"it allows {purpose!r} only of {cats}: not of {category!r}"


def declared_for_type(declarations: Sequence[Disclosure], recipient_type: RecipientType) -> str:
    """Every purpose the declarations allow a recipient type: those naming the type, then those for any recipient."""
    named = [d for d in declarations if recipient_type in d.recipient_types and not any_recipient(d)]
    anyone = [d for d in declarations if any_recipient(d)]
    parts = [f"for {purposes_text(d)} ({d.id})" for d in named]
    if anyone:
        purposes: list[str] = []
        for d in anyone:
            for p in [purposes_text(d)] if not isinstance(d.purposes, list) else d.purposes:
                if p not in purposes:
                    purposes.append(p)
        parts.append(f"to any recipient, for {', '.join(purposes)} ({', '.join(d.id for d in anyone)})")
    return "; ".join(parts) or "nothing"


def allowed_purposes(declarations: Sequence[Disclosure], recipient_type: RecipientType) -> str:
    """The purposes the declarations allow a recipient type, then the declarations: "X, Y (id1, id2)"."""
    relevant = [d for d in declarations if recipient_type in d.recipient_types]
    purposes: list[str] = []
    for d in relevant:
        for p in d.purposes if isinstance(d.purposes, list) else [purposes_text(d)]:
            if p not in purposes:
                purposes.append(p)
    return f"{', '.join(purposes) or 'nothing'} ({', '.join(d.id for d in relevant)})" if relevant else "nothing"


def a(word: str) -> str:
    """``word`` with its indefinite article."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word
