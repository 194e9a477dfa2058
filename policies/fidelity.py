"""A policy held to its source text: quotes, coverage of every sentence, and keys read from the clauses' words.

Three checks, on the raw policy data (so they run whatever else is wrong with the file):

1. every quoted clause is whole consecutive sentences of the section it names in the source;
2. every sentence of the source is accounted for, from its own section: quoted by a declaration, or listed as a
   not-declaration with the reason; a quote covers the sentences it consists of, not sentences it merely contains;
3. every key a declaration declares (categories, purposes, recipient types, sources, data subjects, the processor
   role) comes from a reading of a phrase of its own clause, and no reading yields a key the declaration lacks;
4. a Markdown source is the published text (``source_document``, found beside it) word for word: without its markup
   (headings, list markers, bold, ``---``, comments) the two have the same characters in the same order.

A policy without a source gets check 3 only for the readings it has.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from policies.problems import PolicyProblem
from policies.source_text import SourceText, normalize, read_source

LineOf = Callable[[tuple[int | str, ...]], int | None]
Loc = tuple[int | str, ...]

_GROUPS = ("collections", "uses", "disclosures")
# the fields a reading can yield, and which declaration fields they justify
_READ_FIELDS = ("data_categories", "purposes", "recipient_types", "sources", "data_subjects", "ccpa")
_DECLARED_FIELDS = {
    "collections": ("data_categories", "sources", "data_subjects"),
    "uses": ("purposes",),
    "disclosures": ("data_categories", "purposes", "recipient_types", "ccpa"),
}
_ALL_COLLECTED = "all-collected"


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    return enumerate(value) if isinstance(value, list) else iter(())


def _clause(decl: Any) -> tuple[str, str] | None:
    clause = decl.get("clause") if isinstance(decl, Mapping) else None
    if not isinstance(clause, Mapping):
        return None
    section, text = clause.get("section"), clause.get("text")
    if isinstance(section, str) and isinstance(text, str) and section.strip() and text.strip():
        return normalize(section), text
    return None


def _clauses(tree: Mapping[str, Any]) -> Iterator[tuple[Loc, str, str, bool]]:
    """(location of the clause, section, text, declares) for every clause of the policy."""
    for group in (*_GROUPS, "not_declarations"):
        for n, decl in _items(tree.get(group)):
            found = _clause(decl)
            if found:
                yield (group, n, "clause"), found[0], found[1], group != "not_declarations"
    retention = tree.get("retention")
    found = _clause(retention)
    if found:
        yield ("retention", "clause"), found[0], found[1], False


def source_file(tree: Mapping[str, Any], policy_file: Path) -> Path | None:
    """The source the policy names, resolved relative to the policy file."""
    source = tree.get("source")
    return (policy_file.parent / source) if isinstance(source, str) and source.strip() else None


def source_problems(tree: Mapping[str, Any], policy_file: Path, line_of: LineOf) -> list[PolicyProblem]:
    """Checks 1, 2 and 4 (see the module docstring); nothing when the policy names no source."""
    file = source_file(tree, policy_file)
    if file is None:
        return []
    try:
        source = read_source(file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [PolicyProblem("source", line_of(("source",)), f"cannot read the source text {str(file)!r}: {reason}")]
    problems = published_problems(tree, file, line_of)
    declared: dict[int, Loc] = {}
    explained: dict[int, Loc] = {}
    for loc, section, text, declares in _clauses(tree):
        found = source.locate(section, text)
        if not found:
            problems.append(
                PolicyProblem(_path((*loc, "text")), line_of((*loc, "text")), _why_not(source, section, text))
            )
            continue
        for sentence in found:
            (declared if declares else explained).setdefault(sentence.index, loc)
    for index, loc in sorted(explained.items()):
        if index in declared:
            problems.append(
                PolicyProblem(
                    _path(loc),
                    line_of(loc),
                    f"lists as declaring nothing a sentence that {_path(declared[index])} declares from: "
                    f"“{_short(source.sentences[index].text)}”",
                )
            )
    for sentence in source.sentences:
        if sentence.index not in declared and sentence.index not in explained:
            problems.append(
                PolicyProblem(
                    "",
                    sentence.line,
                    f"sentence of section {sentence.section or '(none)'!r} that no declaration quotes and no "
                    f"not-declaration explains: “{_short(sentence.text)}”",
                    file,
                )
            )
    return problems


def reading_problems(tree: Mapping[str, Any], line_of: LineOf) -> list[PolicyProblem]:
    """Check 3 (see the module docstring). Unread keys are problems only when the policy names a source."""
    strict = isinstance(tree.get("source"), str)
    problems: list[PolicyProblem] = []
    for group in _GROUPS:
        for n, decl in _items(tree.get(group)):
            if isinstance(decl, Mapping):
                problems += _declaration_readings(group, n, decl, strict, line_of)
    return problems


def _declaration_readings(
    group: str, n: int, decl: Mapping[str, Any], strict: bool, line_of: LineOf
) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    found = _clause(decl)
    clause = normalize(found[1]) if found else ""
    read: dict[str, set[str]] = {f: set() for f in (*_READ_FIELDS, "roles", "identifiability")}
    for r, reading in _items(decl.get("reads")):
        if not isinstance(reading, Mapping):
            continue
        here: Loc = (group, n, "reads", r)
        phrase = reading.get("phrase")
        if isinstance(phrase, str) and clause and normalize(phrase) not in clause:
            problems.append(
                PolicyProblem(_path((*here, "phrase")), line_of((*here, "phrase")), "phrase not in the clause quoted")
            )
        for field in (*_READ_FIELDS, "roles"):
            got = reading.get(field)
            read[field].update([got] if isinstance(got, str) else [v for _, v in _items(got) if isinstance(v, str)])
        if isinstance(reading.get("identifiability"), str):
            read["identifiability"].add(reading["identifiability"])
    declared = _declared(group, decl)
    for field, keyed in declared.items():
        for value, inside in keyed:
            if strict and value not in read[field]:
                problems.append(
                    PolicyProblem(
                        _path((group, n, *inside)),
                        line_of((group, n, *inside)),
                        f"declares {_label(field)} {value!r}, which no reading of a phrase of its clause yields",
                    )
                )
    for field, yielded in read.items():
        allowed = {v for v, _ in declared.get(field, [])}
        if field == "roles":
            allowed |= {"controller"}
        if field == "identifiability":
            level = decl.get("identifiability")
            allowed = {level} if isinstance(level, str) else set()
        for value in sorted(yielded - allowed):
            r = _reading_index(decl, field, value)
            loc: Loc = (group, n, "reads", r, field)
            problems.append(
                PolicyProblem(
                    _path(loc),
                    line_of(loc),
                    f"reads a phrase as {_label(field)} {value!r}, which the declaration does not declare",
                )
            )
    return problems


def _declared(group: str, decl: Mapping[str, Any]) -> dict[str, list[tuple[str, Loc]]]:
    """The keys a declaration declares that need a reading, each with its location inside the declaration."""
    out: dict[str, list[tuple[str, Loc]]] = {}
    for field in _DECLARED_FIELDS[group]:
        value = decl.get(field)
        if field == "data_categories" and group == "disclosures" and value is None:
            out[field] = [(_ALL_COLLECTED, (field,))] if "id" in decl else []
        elif isinstance(value, str):
            out[field] = [(value, (field,))]
        else:
            out[field] = [(v, (field, i)) for i, v in _items(value) if isinstance(v, str)]
    roles = decl.get("roles") if group == "disclosures" else [decl.get("role")]
    out["roles"] = [
        (v, ("roles", i) if group == "disclosures" else ("role",)) for i, v in _items(roles) if v == "processor"
    ]
    return out


def _reading_index(decl: Mapping[str, Any], field: str, value: str) -> int:
    for r, reading in _items(decl.get("reads")):
        if isinstance(reading, Mapping):
            got = reading.get(field)
            if got == value or (isinstance(got, list) and value in got):
                return r
    return 0


def _label(field: str) -> str:
    return {
        "data_categories": "data category",
        "purposes": "purpose",
        "recipient_types": "recipient type",
        "sources": "source",
        "data_subjects": "data subject",
        "roles": "role",
        "identifiability": "identifiability",
        "ccpa": "CCPA mark",
    }[field]


def _why_not(source: SourceText, section: str, text: str) -> str:
    elsewhere = [s for s in source.sections_quoting(text) if s != section]
    if elsewhere:
        return (
            f"quoted as section {section!r}, but the source has these sentences under {', '.join(map(repr, elsewhere))}"
        )
    if source.contains(text):
        return "not whole sentences of the source: a quote must run from the start of a sentence to the end of one"
    if not any(h.text == section for h in source.headings):
        return f"no section {section!r} in the source, and the text is not in it either: “{_short(text)}”"
    flat = " ".join(s.text for s in source.sentences)
    quote = normalize(text)
    lo, hi = 0, len(quote)
    while lo < hi:  # the longest start of the quote that the source contains
        mid = (lo + hi + 1) // 2
        if quote[:mid] in flat:
            lo = mid
        else:
            hi = mid - 1
    if lo < 12:
        return f"not in the source text: “{_short(text)}”"
    return f"not in the source text: it departs from it after “…{quote[max(0, lo - 40) : lo]}”"


def _short(text: str, limit: int = 90) -> str:
    flat = normalize(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MARKUP = re.compile(
    r"<!--.*?-->|^[ \t]*(?:#{1,6}[ \t]+|[-*+•][ \t]+|\d+[.)][ \t]+|(?:[-*_][ \t]*){3,}$)|\*\*", re.S | re.M
)
_BULLETS = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])[ \t]+", re.M)


def published_problems(tree: Mapping[str, Any], source: Path, line_of: LineOf) -> list[PolicyProblem]:
    """Check 4: a Markdown source against the published plain text it renders, when the policy names both."""
    name = tree.get("source_document")
    if source.suffix.lower() not in (".md", ".markdown") or not isinstance(name, str):
        return []
    published = source.parent / name
    if published.suffix.lower() in (".md", ".markdown") or not published.is_file():
        return []
    try:
        plain = published.read_text(encoding="utf-8")
        marked = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    ours = _letters(_MARKUP.sub("", marked), marked)
    theirs = _letters(_BULLETS.sub("", plain), plain)
    if [c for c, _ in ours] == [c for c, _ in theirs]:
        return []
    at = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a[0] != b[0]), min(len(ours), len(theirs))
    )
    where_ours = ours[at - 1][1] if 0 < at <= len(ours) else 1  # the last line both still share
    where_theirs = theirs[min(at, len(theirs) - 1)][1] if theirs else 1
    return [
        PolicyProblem(
            "",
            where_ours,
            f"is not the published text {name!r} word for word: it departs from it after this line (line "
            f"{where_theirs} of "
            f"{name}: “{_around(plain, where_theirs)}”)",
            source,
        )
    ]


def _letters(stripped: str, original: str) -> list[tuple[str, int]]:
    """The characters of a text but white space, each with its line in the original (found by walking both)."""
    out: list[tuple[str, int]] = []
    line, j = 1, 0
    for ch in stripped:
        if ch.isspace():
            continue
        while j < len(original) and original[j] != ch:
            if original[j] == "\n":
                line += 1
            j += 1
        out.append((ch, line))
        j += 1
    return out


def _around(text: str, line: int) -> str:
    lines = text.splitlines()
    return _short(lines[line - 1] if 0 < line <= len(lines) else "", 70)
