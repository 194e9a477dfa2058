"""Dead letters: rejected input kept with where it came from and why, never dropped silently."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO


@dataclass(frozen=True)
class DeadLetter:
    """One rejected input: its origin (file and line, or topic/partition/offset), the reasons, the raw text."""

    origin: str
    line: int | None
    reason: str
    problems: list[dict[str, str]] = field(default_factory=list)
    raw: str = ""
    event_id: str | None = None
    rejected_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class DeadLetterSink(Protocol):
    """Where rejected input goes."""

    def put(self, letter: DeadLetter) -> None: ...

    def close(self) -> None: ...


class FileDeadLetters:
    """Appends dead letters as JSON Lines to a file, created on the first letter."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None
        self.count = 0

    def put(self, letter: DeadLetter) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(letter.to_json() + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class MemoryDeadLetters:
    """Keeps dead letters in a list (tests, embedding)."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def put(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def close(self) -> None:
        pass
