"""What can be wrong with a policy file, located by file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file, located by field path and, where known, line.

    ``file`` is set when the problem is located in another file than the policy itself (its source text).
    """

    path: str
    line: int | None
    message: str
    file: Path | None = None

    def __str__(self) -> str:
        if self.file is not None and not self.path:  # a place in the source text, not a field of the policy
            return f"line {self.line}: {self.message}" if self.line else self.message
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class PolicyFileError(ValueError):
    """A policy file that cannot be used; ``problems`` locates each fault, in file and line order."""

    def __init__(self, file: Path, problems: list[PolicyProblem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: " + "; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        """One line per problem, each naming the file it is in."""
        return [f"{p.file or self.file}: {p}" for p in self.problems]
