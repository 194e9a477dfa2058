"""Reading a recipient registry (YAML or CSV): the model, and every problem located by file, line and field."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.adequacy import adequacy_list, decision_for, home_countries
from policies.problems import PolicyFileError, PolicyProblem
from policies.yaml_lines import LineLoader, line_of, path_text, strip_lines
from schemas.events import Role
from schemas.recipients import RecipientRegistry, RegisteredRecipient, SafeguardKind

#: The columns of a CSV registry, in the order the docs give them; the safeguard is spread over three.
CSV_COLUMNS = (
    "id", "name", "type", "country", "role", "contact", "safeguard", "safeguard_reference", "safeguard_date", "dpa",
    "dpf_certified", "pipeda", "person_reference",
)  # fmt: skip
_REQUIRED_COLUMNS = ("id", "name", "type", "country", "role")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


def load_registry(file: str | Path) -> RecipientRegistry:
    """Read and check a registry file; raise :class:`PolicyFileError` listing every problem, in line order."""
    path = Path(file)
    registry, problems = read_registry(path)
    if problems or registry is None:
        raise PolicyFileError(path, problems or [PolicyProblem("", None, "no recipients")])
    return registry


def read_registry(path: Path) -> tuple[RecipientRegistry | None, list[PolicyProblem]]:
    """The registry in ``path`` (``.csv``: CSV with a header row; anything else: YAML with a ``recipients`` list) and
    every problem found: malformed fields first located by line and field, then what the entries say together
    (duplicate ids, a processor without a DPA, a DPF certification outside the US, ...)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        return None, [PolicyProblem("", None, f"cannot read it: {why}")]
    rows, problems = _csv_rows(text) if path.suffix.lower() == ".csv" else _yaml_rows(text)
    entries: list[tuple[RegisteredRecipient, str, int | None]] = []
    for where, row, locate in rows:
        try:
            entries.append((RegisteredRecipient.model_validate(row), where, locate(())))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = tuple(err["loc"])
                msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
                problems.append(PolicyProblem(_field(where, loc), locate(loc), msg))
    problems += _consistency(rows)
    problems.sort(key=lambda p: (p.line or 0, p.path))
    return (RecipientRegistry(recipients=[e for e, _, _ in entries]) if not problems else None), problems


_CSV_NAMES = {
    ("safeguard", "kind"): "safeguard",
    ("safeguard", "reference"): "safeguard_reference",
    ("safeguard", "date"): "safeguard_date",
}


def _field(where: str, loc: tuple[int | str, ...]) -> str:
    """The field a problem is in: ``recipients[3].safeguard.kind`` in YAML; in CSV (``where`` empty: the line says
    which entry) the column, ``safeguard_reference``."""
    if not where:
        return _CSV_NAMES.get((str(loc[0]), str(loc[1])) if len(loc) > 1 else ("", ""), path_text(loc))
    text = path_text(loc)
    return where + ("" if not text or text.startswith("[") else ".") + text


#: One entry as read: its path for messages ("recipients[3]"), its fields, and the line of a field within it.
Row = tuple[str, dict[str, Any], Callable[[tuple[int | str, ...]], int | None]]


def _yaml_rows(text: str) -> tuple[list[Row], list[PolicyProblem]]:
    try:
        tree = yaml.load(text, Loader=LineLoader)  # noqa: S506 - LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        return [], [PolicyProblem("", line, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    items = tree.get("recipients") if isinstance(tree, dict) else None
    if not isinstance(items, list):
        return [], [PolicyProblem("recipients", 1, "expected a mapping with a list of recipients")]
    rows: list[Row] = []
    problems: list[PolicyProblem] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(PolicyProblem(f"recipients[{n}]", line_of(tree, ("recipients", n)), "expected a mapping"))
            continue

        def locate(loc: tuple[int | str, ...], n: int = n) -> int | None:
            return line_of(tree, ("recipients", n, *loc))

        rows.append((f"recipients[{n}]", strip_lines(item), locate))
    return rows, problems


def _csv_rows(text: str) -> tuple[list[Row], list[PolicyProblem]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [PolicyProblem("", 1, "empty: expected a header row naming the columns")]
    problems = [
        PolicyProblem(h or f"column {i + 1}", 1, "unknown column") for i, h in enumerate(header) if h not in CSV_COLUMNS
    ]
    problems += [PolicyProblem(c, 1, "missing column") for c in _REQUIRED_COLUMNS if c not in header]
    if problems:
        return [], problems
    rows: list[Row] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(PolicyProblem("row", line, f"{len(record)} cells where the header has {len(header)}"))
                continue
            row, bad = _csv_entry(dict(zip(header, (c.strip() for c in record), strict=True)))
            problems += [PolicyProblem(c, line, m) for c, m in bad]

            def locate(loc: tuple[int | str, ...], line: int = line) -> int | None:
                return line

            rows.append(("", row, locate))
    except csv.Error as exc:
        problems.append(PolicyProblem("", reader.line_num, f"not valid CSV: {exc}"))
    return rows, problems


def _csv_entry(cells: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One CSV record as the registry's fields (empty cells absent), and the cells that cannot be read."""
    row: dict[str, Any] = {k: v for k, v in cells.items() if v and not k.startswith(("safeguard", "dpf", "pipeda"))}
    bad: list[tuple[str, str]] = []
    for flag in ("dpf_certified", "pipeda"):
        value = cells.get(flag, "").lower()
        if value in _TRUE:
            row[flag] = True
        elif value not in _FALSE:
            bad.append((flag, "expected true or false"))
    kind, reference, when = (cells.get(f, "") for f in ("safeguard", "safeguard_reference", "safeguard_date"))
    if kind or reference or when:
        row["safeguard"] = {"kind": kind or None, "reference": reference or None, "date": when or None}
    return row, bad


def _consistency(rows: list[Row]) -> list[PolicyProblem]:
    """What the entries cannot say together, or say against the shipped adequacy list; read from the raw fields, so
    that an entry with another fault is checked too (one typo must not hide the rest)."""
    problems: list[PolicyProblem] = []
    seen: dict[str, str] = {}
    as_of = adequacy_list().as_of
    for where, row, locate in rows:
        rid, country = row.get("id"), row.get("country")

        def problem(loc: tuple[str, ...], message: str, where: str = where, locate: Any = locate) -> None:
            problems.append(PolicyProblem(_field(where, loc), locate(loc), message))

        if isinstance(rid, str):
            if rid in seen:
                problem(("id",), f"duplicate id {rid!r} (also {seen[rid]})")
            seen.setdefault(rid, where or f"line {locate(())}")
        if row.get("role") == Role.PROCESSOR.value and not row.get("dpa"):
            problem(
                ("role",), "a processor needs `dpa`, the reference of its data-processing agreement (GDPR Art. 28(3))"
            )
        if row.get("dpf_certified") is True and country != "US":
            problem(("dpf_certified",), f"the EU-US Data Privacy Framework certifies US organisations, not {country}")
        if row.get("pipeda") is True and country != "CA":
            problem(("pipeda",), f"PIPEDA applies to Canadian organisations, not {country}")
        safeguard = row.get("safeguard")
        kind = safeguard.get("kind") if isinstance(safeguard, dict) else None
        if (
            kind == SafeguardKind.ADEQUACY.value
            and isinstance(country, str)
            and country not in home_countries()
            and decision_for(country) is None
        ):
            problem(
                ("safeguard", "kind"),
                f"no adequacy decision for {country} in the shipped list (as of {as_of.isoformat()}): name the "
                "safeguard the transfer rests on, or add a newer decision to the list (docs/transfers.md)",
            )
    return problems
