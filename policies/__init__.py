"""Privacy policies as code: the S Plus Helpdesk Chatbot declaration and the loader that checks a policy file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.policy import Policy

POLICY_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY_FILE = POLICY_DIR / "s-plus-helpdesk-chatbot.yaml"
SOURCE_DIR = POLICY_DIR / "source"


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file, located by field path and, where known, line."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class PolicyFileError(ValueError):
    """A policy file that cannot be used; ``problems`` locates each fault."""

    def __init__(self, file: Path, problems: list[PolicyProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: " + "; ".join(str(p) for p in problems))


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[str(key)] = value_node.start_mark.line + 1
    mapping["__lines__"] = lines
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _LineList(items, [child.start_mark.line + 1 for child in node.value])


class _LineList(list[Any]):
    def __init__(self, items: list[Any], lines: list[int]) -> None:
        super().__init__(items)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "__lines__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _line_of(tree: Any, loc: tuple[int | str, ...]) -> int | None:
    line: int | None = None
    node = tree
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            line = node.get("__lines__", {}).get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_path(text: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for chunk in text.replace("]", "").split("."):
        head, *indexes = chunk.split("[")
        if head:
            parts.append(head)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return tuple(parts)


def load_policy(file: str | Path = DEFAULT_POLICY_FILE) -> Policy:
    """Read and validate a policy file (YAML or JSON); raise :class:`PolicyFileError` locating each fault."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(path, [PolicyProblem("", None, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        tree = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError(path, [PolicyProblem("", line, f"not valid YAML: {problem}")]) from None
    if not isinstance(tree, dict):
        raise PolicyFileError(path, [PolicyProblem("", 1, "a policy must be a mapping at the top level")])
    try:
        return Policy.model_validate(_strip(tree))
    except ValidationError as exc:
        problems: list[PolicyProblem] = []
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            loc = tuple(err["loc"])
            if not loc and "; " in msg or (not loc and ": " in msg):
                # model-level check: messages carry their own field paths
                for item in msg.split("; "):
                    where, _, what = item.partition(": ")
                    problems.append(PolicyProblem(where, _line_of(tree, _parse_path(where)), what))
                continue
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(PolicyProblem(_path(loc), _line_of(tree, loc), msg))
        raise PolicyFileError(path, problems) from None


def default_policy() -> Policy:
    """The bundled S Plus Helpdesk Chatbot policy."""
    return load_policy(DEFAULT_POLICY_FILE)
