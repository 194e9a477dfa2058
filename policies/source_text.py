"""A published policy text read as sections and sentences, from its own structure, so quotes can be checked.

Two forms are read:

- **Markdown** (``.md``): ``#`` headings open sections (nested by level); a paragraph or list item that begins with
  a bold run-in title (``- **Cookie Information.** S Plus ...``) is a section of its own, one level down, for that
  item only; a thematic break (``---``) closes the innermost open section, so the text after it belongs to the
  enclosing one; HTML comments are not text.
- **Plain text** (anything else): a line standing alone between blank lines that does not end like a sentence
  (``.``, ``!``, ``?``, ``:``, ``;``, ``,`` or a closing quote after one) is a heading; headings do not nest.

Nothing is guessed from the number of words or from capital letters: a sentence of three words, or one in title
case, is a sentence. Blocks (paragraphs and list items) are split into sentences at ``.``, ``!`` or ``?`` (and any
closing quotes or brackets after it) followed by white space and a capital letter, a digit or an opening quote, so
``e. g. , your employer`` or ``etc. )`` do not end a sentence. Text is compared with white space collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_WS = re.compile(r"\s+")
_BOUNDARY = re.compile(r"[.!?][”’\"')\]]*(\s+)(?=[“‘\"(\[]?[A-Z0-9])")
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BREAK = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_RUN_IN = re.compile(r"^\*\*(.+?)\*\*")
_SENTENCE_END = re.compile(r"[.!?:;,][”’\"')\]]*$")


def normalize(text: str) -> str:
    """White space (including no-break spaces) collapsed to single spaces, ends stripped."""
    return _WS.sub(" ", text.replace("\u00a0", " ")).strip()


def split_sentences(text: str) -> list[str]:
    """The sentences of one block of text (normalised first)."""
    flat = normalize(text)
    out, start = [], 0
    for m in _BOUNDARY.finditer(flat):
        out.append(flat[start : m.start(1)])
        start = m.end(1)
    if flat[start:]:
        out.append(flat[start:])
    return out


@dataclass(frozen=True)
class Sentence:
    """One sentence of the source, where it is and which section it belongs to."""

    text: str
    section: str
    path: tuple[str, ...]
    line: int
    index: int  # position in the whole document
    section_line: int = 0  # line of the heading that opens its section (0: before any heading)


@dataclass(frozen=True)
class Heading:
    """A section heading of the source."""

    text: str
    level: int
    line: int


@dataclass
class _Block:
    lines: list[tuple[int, str]] = field(default_factory=list)
    path: tuple[str, ...] = ()
    opened: int = 0  # line of the heading of its section


@dataclass(frozen=True)
class SourceText:
    """A source document as headings and sentences in reading order."""

    file: Path
    headings: tuple[Heading, ...]
    sentences: tuple[Sentence, ...]

    def runs(self, section: str) -> list[list[Sentence]]:
        """Each stretch of the document under a heading named ``section`` (a name may head several), in order."""
        out: list[list[Sentence]] = []
        previous: Sentence | None = None
        for s in self.sentences:
            if s.section == section:
                if previous is None or previous.section_line != s.section_line or previous.path != s.path:
                    out.append([])
                out[-1].append(s)
            previous = s
        return out

    def locate(self, section: str, quote: str) -> list[Sentence]:
        """The sentences a quote consists of, wherever it is whole consecutive sentences of a section of that name.

        Empty when it is not. A quote found in several places (a sentence repeated under a repeated heading)
        gives the sentences of every place.
        """
        wanted = normalize(quote)
        found: list[Sentence] = []
        for run in self.runs(section):
            for i in range(len(run)):
                text, j = run[i].text, i
                while text != wanted and wanted.startswith(text + " ") and j + 1 < len(run):
                    j += 1
                    text += " " + run[j].text
                if text == wanted:
                    found += run[i : j + 1]
        return found

    def sections_quoting(self, quote: str) -> list[str]:
        """The sections whose sentences contain the quote as whole consecutive sentences."""
        return sorted({s for s in {x.section for x in self.sentences} if self.locate(s, quote)})

    def contains(self, quote: str) -> bool:
        """Whether the quote occurs in the text at all (whatever the sentence boundaries)."""
        return normalize(quote) in self._flat

    @property
    def _flat(self) -> str:
        return " ".join(s.text for s in self.sentences)


def read_source(file: Path) -> SourceText:
    """Read a source document; raise OSError if it cannot be read."""
    text = file.read_text(encoding="utf-8")
    markdown = file.suffix.lower() in (".md", ".markdown")
    headings, blocks = _blocks_markdown(text) if markdown else _blocks_plain(text)
    sentences: list[Sentence] = []
    for block in blocks:
        for sentence, line in _sentences_with_lines(block.lines):
            section = block.path[-1] if block.path else ""
            sentences.append(Sentence(sentence, section, block.path, line, len(sentences), block.opened))
    return SourceText(file, tuple(headings), tuple(sentences))


def _without_comments(text: str) -> list[tuple[int, str]]:
    """The lines of a Markdown text, numbered from 1, with HTML comments blanked (line numbers kept)."""
    out: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        kept = ""
        rest = line
        while rest:
            if inside:
                end = rest.find("-->")
                if end < 0:
                    rest = ""
                else:
                    inside, rest = False, rest[end + 3 :]
            else:
                start = rest.find("<!--")
                if start < 0:
                    kept, rest = kept + rest, ""
                else:
                    kept, rest, inside = kept + rest[:start], rest[start + 4 :], True
        out.append((number, kept))
    return out


def _blocks_markdown(text: str) -> tuple[list[Heading], list[_Block]]:
    headings: list[Heading] = []
    stack: list[Heading] = []
    blocks: list[_Block] = []
    current: _Block | None = None

    def path() -> tuple[str, ...]:
        return tuple(h.text for h in stack)

    def opened() -> int:
        return stack[-1].line if stack else 0

    def close() -> None:
        nonlocal current
        if current is not None and current.lines:
            first_line, first = current.lines[0]
            run_in = _RUN_IN.match(first)
            if run_in:
                title = normalize(run_in.group(1)).rstrip(".")
                level = (stack[-1].level if stack else 0) + 1
                headings.append(Heading(title, level, first_line))
                current.path = (*current.path, title)
                current.opened = first_line
                current.lines[0] = (first_line, first[run_in.end() :])
            blocks.append(current)
        current = None

    for number, line in _without_comments(text):
        heading = _ATX.match(line)
        if heading:
            close()
            level = len(heading.group(1))
            while stack and stack[-1].level >= level:
                stack.pop()
            found = Heading(normalize(heading.group(2)), level, number)
            headings.append(found)
            stack.append(found)
        elif _BREAK.match(line):
            close()
            if stack:
                stack.pop()
        elif not line.strip():
            close()
        elif _ITEM.match(line):
            close()
            current = _Block([(number, _ITEM.sub("", line, count=1))], path(), opened())
        else:
            if current is None:
                current = _Block([], path(), opened())
            current.lines.append((number, line))
    close()
    return headings, blocks


def _blocks_plain(text: str) -> tuple[list[Heading], list[_Block]]:
    headings: list[Heading] = []
    blocks: list[_Block] = []
    section: tuple[str, ...] = ()
    opened = 0
    chunk: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal section, opened
        if not chunk:
            return
        if len(chunk) == 1 and not _ITEM.match(chunk[0][1]) and not _SENTENCE_END.search(chunk[0][1].strip()):
            title = normalize(chunk[0][1])
            headings.append(Heading(title, 1, chunk[0][0]))
            section, opened = (title,), chunk[0][0]
        else:
            current: _Block | None = None
            for number, line in chunk:
                if _ITEM.match(line) or current is None:
                    current = _Block([(number, _ITEM.sub("", line, count=1))], section, opened)
                    blocks.append(current)
                else:
                    current.lines.append((number, line))
        chunk.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            chunk.append((number, line))
        else:
            flush()
    flush()
    return headings, blocks


def _sentences_with_lines(lines: list[tuple[int, str]]) -> Iterator[tuple[str, int]]:
    """Split a block into sentences, each with the source line it starts on."""
    chars: list[str] = []
    where: list[int] = []
    for number, line in lines:
        for ch in line.replace("\u00a0", " ") + " ":
            if ch.isspace():
                if not chars or chars[-1] == " ":
                    continue
                ch = " "
            chars.append(ch)
            where.append(number)
    flat = "".join(chars).rstrip()
    start = 0
    for m in _BOUNDARY.finditer(flat):
        yield flat[start : m.start(1)], where[start]
        start = m.end(1)
    if flat[start:]:
        yield flat[start:], where[start]
