"""Reading a policy file: YAML with the line of every field, the policy model, and every problem in one pass."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from policies.fidelity import reading_problems, source_problems
from policies.problems import PolicyFileError, PolicyProblem
from policies.yaml_lines import LineLoader, line_of, parse_path, path_text, strip_lines
from schemas.policy import Policy, declaration_problems


def load_policy(file: str | Path) -> Policy:
    """Read and check a policy file (YAML or JSON); raise :class:`PolicyFileError` listing every fault.

    Every problem is found in one pass and reported in line order: malformed fields, unknown taxonomy keys,
    duplicate ids and, when the policy names a ``source``, quotes that are not in it, sentences of it that
    nothing accounts for, and keys no reading of a clause yields (see :mod:`policies.fidelity`).
    """
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(path, [PolicyProblem("", None, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        tree = yaml.load(text, Loader=LineLoader)  # noqa: S506 - LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise PolicyFileError(path, [_yaml_problem(text, exc)]) from None
    if not isinstance(tree, dict):
        raise PolicyFileError(path, [PolicyProblem("", 1, "a policy must be a mapping at the top level")])

    def locate(loc: tuple[int | str, ...]) -> int | None:
        return line_of(tree, loc)

    raw = strip_lines(tree)
    problems: list[PolicyProblem] = []
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            loc = tuple(err["loc"])
            if not loc:  # the model-level check: its messages carry their own field paths
                for item in msg.split("; "):
                    where, _, what = item.partition(": ")
                    problems.append(PolicyProblem(where, locate(parse_path(where)), what))
                continue
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(PolicyProblem(path_text(loc), locate(loc), msg))
    # run whatever the model validation skipped when a field was malformed: one typo must not hide the rest
    for where, what in declaration_problems(raw):
        problems.append(PolicyProblem(where, locate(parse_path(where)), what))
    problems += [p for p in reading_problems(raw, locate) if not _follows_from(p, problems)]
    problems += source_problems(raw, path, locate)
    if problems or policy is None:
        raise PolicyFileError(path, _in_order(problems))
    return policy


def _follows_from(reading: PolicyProblem, found: list[PolicyProblem]) -> bool:
    """Whether a reading problem only echoes a fault already found in the same field (an unknown key, a bad value)."""
    field = re.sub(r"\.reads\[\d+\]\.", ".", reading.path)
    return any(p.path == reading.path or p.path.startswith(field) for p in found)


def _in_order(problems: list[PolicyProblem]) -> list[PolicyProblem]:
    """Each problem once, the policy file's first, each file's in line order."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file is not None, str(p.file or ""), p.line or 0, p.path))


def _yaml_problem(text: str, exc: yaml.YAMLError) -> PolicyProblem:
    """The syntax error, located where it starts: an unclosed quote at the line it opens, not where YAML gave up."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    opened = _unclosed_quote(text, line)
    if opened is not None:
        return PolicyProblem(
            "",
            opened[0],
            f"not valid YAML: the quote opened here is not closed on its line (YAML read on to line {opened[1]})",
        )
    return PolicyProblem("", line, f"not valid YAML: {problem}")


def _unclosed_quote(text: str, error_line: int | None) -> tuple[int, int] | None:
    """(first, last line) of a quoted scalar running over several lines before the error, if any.

    The policy files quote one-line strings; a quote running on across lines is almost always one left open, and
    YAML reports it only where the text stops making sense, often at the next quote.
    """
    found: tuple[int, int] | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if error_line is not None and token.start_mark.line + 1 > error_line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'"):
                first, last = token.start_mark.line + 1, token.end_mark.line + 1
                if last > first and found is None:
                    found = (first, last)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "context_mark", None)
        if found is None and mark is not None and "quoted scalar" in str(getattr(exc, "context", "")):
            found = (mark.line + 1, (getattr(exc, "problem_mark", None) or mark).line + 1)
    return found
