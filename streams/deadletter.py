"""Dead letters: rejected input kept with where it came from and why, never dropped silently."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO


@dataclass(frozen=True)
class DeadLetter:
    """One rejected input: its origin (file and line, or topic/partition/offset), the reasons, the raw text.

    ``raw`` holds the original when it is UTF-8 text; otherwise ``raw`` is empty and ``raw_base64`` holds the bytes
    (see :func:`raw_fields`), so that the letter keeps exactly what came in.
    """

    origin: str
    line: int | None
    reason: str
    problems: list[dict[str, str]] = field(default_factory=list)
    raw: str = ""
    event_id: str | None = None
    rejected_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    raw_base64: str | None = None

    def to_json(self) -> str:
        """One line of JSON: no character in it ends a line for any reader (see :func:`one_line_json`)."""
        doc = asdict(self)
        if doc["raw_base64"] is None:
            del doc["raw_base64"]
        return one_line_json(doc)


_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line_json(doc: object) -> str:
    """``doc`` as JSON on one line for every line splitter: ``json.dumps`` escapes the C0 controls, and this also
    escapes U+0085, U+2028 and U+2029, which Python's ``str.splitlines`` (and JavaScript) take for line breaks."""
    return json.dumps(doc, ensure_ascii=False).translate(_LINE_BREAKS)


def raw_fields(raw: str | bytes) -> tuple[str, str | None]:
    """What a dead letter keeps of an input line, without its line ending: ``(text, None)`` when it is UTF-8 text,
    else ``("", base64 of the bytes)``."""
    if isinstance(raw, str):
        text = raw.rstrip("\r\n")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not text any file can hold
            return "", base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")
        return text, None
    data = raw.rstrip(b"\r\n")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return "", base64.b64encode(data).decode("ascii")


class DeadLetterSink(Protocol):
    """Where rejected input goes."""

    def put(self, letter: DeadLetter) -> None: ...

    def close(self) -> None: ...


class FileDeadLetters:
    """Appends dead letters as JSON Lines to a file, created on the first letter with mode 0600 (letters keep the
    original input, raw subject ids included).

    Each append holds an exclusive ``flock`` on the file, and reopens the path when :func:`purge_dead_letters`
    replaced the file meanwhile, so a purge running beside an ingest loses none of the ingest's letters.
    A letter the file already holds (same origin, line and original text: the same file ingested again) is not
    written twice; ``count`` counts the letters written, ``repeated`` those already there.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None
        self._held: set[tuple[str, int | None, str]] | None = None
        self.count = 0
        self.repeated = 0

    def _already_held(self, letter: DeadLetter) -> bool:
        if self._held is None:
            self._held = set()
            if self.path.exists():
                with self.path.open(encoding="utf-8", errors="replace") as fh:
                    for text in fh:
                        try:
                            doc = json.loads(text)
                            kept = str(doc.get("raw") or doc.get("raw_base64") or "")
                            self._held.add((str(doc["origin"]), doc.get("line"), kept))
                        except (ValueError, KeyError, TypeError):
                            continue  # a line that is not a letter of ours holds nothing to compare
        key = (letter.origin, letter.line, letter.raw or letter.raw_base64 or "")
        if key in self._held:
            return True
        self._held.add(key)
        return False

    def problem(self) -> str | None:
        """Why letters could not be written to the path, found before any is (None: nothing in the way)."""
        if self.path.exists():
            if not self.path.is_file():
                return f"{self.path} is not a regular file"
            return None if os.access(self.path, os.W_OK) else f"{self.path} is not writable"
        folder = self.path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a folder"
        return None if os.access(folder, os.W_OK | os.X_OK) else f"cannot create files in {folder}"

    def put(self, letter: DeadLetter) -> None:
        if self._already_held(letter):
            self.repeated += 1
            return
        line = letter.to_json() + "\n"
        while True:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._fh = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
            try:
                if _same_file(self._fh, self.path):
                    self._fh.write(line)
                    self._fh.flush()
                    break
            finally:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()  # a purge replaced the file: append to the new one
            self._fh = None
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


def _same_file(fh: TextIO, path: Path) -> bool:
    try:
        return os.fstat(fh.fileno()).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class PurgeResult:
    """What :func:`purge_dead_letters` did to one file: letters kept and removed (never which ids matched)."""

    path: Path
    kept: int
    removed: int


def _needles(subject_ids: Iterable[str]) -> list[str]:
    """Each id as a whole JSON string, as it appears in an event's text (ASCII-escaped or not)."""
    out: set[str] = set()
    for sid in subject_ids:
        if not sid:
            raise ValueError("an empty subject id matches nothing; refusing to purge with it")
        out.add(json.dumps(sid))
        out.add(json.dumps(sid, ensure_ascii=False))
    return sorted(out)


def _concerns(line: str, needles: list[str]) -> bool:
    """Whether a dead-letter line holds one of the ids as a whole JSON string in its original input."""
    try:
        doc: Any = json.loads(line)
    except ValueError:
        doc = None
    texts = [line]
    if isinstance(doc, dict):
        texts = [str(doc.get("raw") or ""), json.dumps(doc.get("problems") or [], ensure_ascii=False)]
        if doc.get("raw_base64"):  # input that was not UTF-8: an id in it is still in UTF-8 among the other bytes
            with contextlib.suppress(ValueError):
                texts.append(base64.b64decode(str(doc["raw_base64"])).decode("utf-8", "replace"))
    return any(n in t for t in texts for n in needles)


def dead_letters_naming(path: str | Path, subject_ids: Iterable[str]) -> int:
    """How many letters of a dead-letter file :func:`purge_dead_letters` would remove for ``subject_ids``."""
    needles = _needles(subject_ids)
    with Path(path).open(encoding="utf-8") as fh:
        return sum(1 for line in _lines(fh) if _concerns(line, needles))


def purge_dead_letters(path: str | Path, subject_ids: Iterable[str]) -> PurgeResult:
    """Remove from a dead-letter file every letter whose original input names one of ``subject_ids``.

    A letter matches when its ``raw`` text (or its problems) contains an id as a whole JSON string, e.g.
    ``"alice@example.com"`` with its quotes: the way a subject id appears in an event, whether or not the rest of
    the line was valid. Letters of other people stay, byte for byte and in order. The file is rewritten to a
    temporary file beside it, synced, and renamed over it under an exclusive lock, so a crash leaves either the
    old or the new file, and a :class:`FileDeadLetters` appending meanwhile moves to the new file.
    A line cut short (``line longer than ...``) keeps only its first 1,000 characters: an id beyond them is not seen.
    """
    target = Path(path)
    needles = _needles(subject_ids)
    kept = removed = 0
    with target.open("r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".purge", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for line in _lines(fh):
                    if _concerns(line, needles):
                        removed += 1
                    else:
                        out.write(line)
                        kept += 1
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, os.stat(fh.fileno()).st_mode & 0o7777)
            if removed:
                os.replace(tmp, target)
                _sync_dir(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return PurgeResult(target, kept, removed)


def _lines(fh: TextIO) -> Iterator[str]:
    for line in fh:
        yield line if line.endswith("\n") else line + "\n"


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
