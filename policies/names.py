"""A names file: what the systems and parties events name as sources are, in words a person understands."""

from __future__ import annotations

from pathlib import Path

import yaml

from policies.problems import PolicyFileError, PolicyProblem


def load_names(file: str | Path) -> dict[str, str]:
    """The descriptions of a names file (``systems: {internal-name: description}``), for the access letter.

    Raises :class:`PolicyFileError` locating what is wrong (the file, the key).
    """
    path = Path(file)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(path, [PolicyProblem("", None, f"cannot read it: {exc.strerror or exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyFileError(path, [PolicyProblem("", line, f"not valid YAML: {exc}")]) from None
    systems = doc.get("systems") if isinstance(doc, dict) else None
    if not isinstance(systems, dict) or not systems:
        expected = "expected a mapping of system name -> description"
        raise PolicyFileError(path, [PolicyProblem("systems", None, expected)])
    problems = [
        PolicyProblem(f"systems.{k}", None, "expected a non-empty text")
        for k, v in systems.items()
        if not isinstance(k, str) or not isinstance(v, str) or not v.strip()
    ]
    if problems:
        raise PolicyFileError(path, problems)
    return {str(k): str(v).strip() for k, v in systems.items()}
