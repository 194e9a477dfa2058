"""Text made safe for where it is shown: a spreadsheet (no formula in a CSV cell) and a terminal (no control
character). Names of recipients, sources and the like come from events, so from anyone who can send one."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from typing import Any

# OWASP's CSV injection rule: a cell starting with one of these is read as a formula by Excel, LibreOffice or Google
# Sheets (also behind a leading tab, carriage return or line feed); the full-width forms are read the same way by
# some of them. Such a cell gets a leading apostrophe, which the spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates: a text starting like a formula gets a leading ``'``.

    Numbers stay numbers (-5 is a number, not a formula); only text is changed.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(head: Iterable[Any], rows: Iterable[Iterable[Any]], lineterminator: str = "\r\n") -> str:
    """A header row and rows as CSV (RFC 4180 quoting), every cell through :func:`spreadsheet_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow([spreadsheet_cell(c) for c in head])
    writer.writerows([spreadsheet_cell(c) for c in row] for row in rows)
    return buf.getvalue()


_UNSAFE = frozenset(("Cc", "Cf", "Zl", "Zp"))  # controls, format (bidi, zero-width), line and paragraph separators


def printable(text: object) -> str:
    """``text`` for a terminal: every control character (ESC of ANSI and OSC sequences, BEL, backspace, carriage
    return, line breaks), bidirectional override and other format character is written as its escape
    (``\\x1b``, ``\\u202e``), so that a value can neither drive the terminal nor fake a line of output."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE else c for c in value)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
