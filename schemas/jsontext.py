"""Reading one JSON text strictly: UTF-8 only, no repeated keys, bounded nesting, and errors that quote nothing."""

from __future__ import annotations

import json
import re
from typing import Any


class JsonTextError(ValueError):
    """The text is not one strict JSON value; the message says why and where, never quoting the text."""


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def decode_utf8(raw: bytes) -> str:
    """``raw`` as text; :class:`JsonTextError` naming the byte offset when it is not UTF-8 (no byte-order mark)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"not valid UTF-8 (at byte {exc.start + 1})") from None
    if text.startswith("\ufeff"):
        raise JsonTextError("starts with a byte-order mark (U+FEFF): JSON text must not")
    return text


def loads(raw: str | bytes, safe_keys: frozenset[str] = frozenset()) -> Any:
    """Decode one JSON text strictly, or raise :class:`JsonTextError`.

    Stricter than :func:`json.loads`: bytes must be UTF-8 (``json.loads`` would also guess UTF-16 and UTF-32, and
    callers used to replace bad bytes, turning one person's id into another's), the same key twice in one object
    is refused (``json.loads`` keeps the last, so a second ``subject`` silently won), and nesting deeper than
    Python's recursion limit is an error, not a ``RecursionError``. The message names a repeated key only when it
    is one of ``safe_keys`` (the contract's own field names): any other key is input, and may be personal.
    """
    text = decode_utf8(raw) if isinstance(raw, bytes | bytearray) else raw
    try:
        return json.loads(text, object_pairs_hook=_no_repeats)
    except _RepeatedKey as exc:
        named = f"'{exc.key}'" if exc.key in safe_keys else "a key"
        raise JsonTextError(f"{named} appears twice in one object") from None
    except RecursionError:
        raise JsonTextError("nested too deeply (arrays or objects within each other)") from None
    except json.JSONDecodeError as exc:
        # json's messages end in " at" where they name a place ("Unterminated string starting at"): one "at" only
        raise JsonTextError(f"not valid JSON: {exc.msg.removesuffix(' at')} at character {exc.pos + 1}") from None
    except ValueError:  # e.g. an integer of more than 4,300 digits
        raise JsonTextError("not valid JSON: a number too long to read") from None


# A key is a string followed by optional whitespace and a colon. Compact JSON writes `":` after every key and never
# a quote followed by whitespace, so counting `":` is enough unless whitespace follows some quote.
_KEY_END_B = re.compile(rb'"[ \t\r\n]*:')
_KEY_END_S = re.compile(r'"[ \t\r\n]*:')
_LOOSE_B = re.compile(rb'"[ \t\r\n]')
_LOOSE_S = re.compile(r'"[ \t\r\n]')


def keys_at_most(raw: str | bytes) -> int:
    """An upper bound of the number of object keys in a *valid* JSON text (two scans of the text: ~2 us for an
    event's 500 bytes here).

    Never below the true count; above it only when a string value holds an escaped quote followed by a colon. A
    reader that knows how many distinct keys it read can then tell, cheaply, that no key was repeated.
    """
    if isinstance(raw, str):
        return raw.count('":') if _LOOSE_S.search(raw) is None else len(_KEY_END_S.findall(raw))
    return raw.count(b'":') if _LOOSE_B.search(raw) is None else len(_KEY_END_B.findall(raw))


# One token of a JSON text, for splitting an array without parsing its items: a whole string (escapes included), one
# of the structural characters, or a quote that starts a string never closed. Everything else (numbers, literals,
# whitespace, colons) lies between tokens and is left to the parser of each item.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]|"')
_OPENS = {ord("["): ord("]"), ord("{"): ord("}")}


def array_items(raw: bytes) -> list[bytes]:
    """The texts of the items of a JSON array, each to be parsed on its own; :class:`JsonTextError` when ``raw`` is
    not an array whose brackets, braces and strings close.

    Iterative (no recursion, whatever the nesting) and linear in the text, so that one item nested 100,000 deep, or
    one that is not JSON at all, costs only itself: the caller parses and refuses it alone, with the others intact.
    """
    text = raw.lstrip(b" \t\r\n")
    if not text.startswith(b"["):
        raise JsonTextError("not a JSON array")
    offset = len(raw) - len(text)
    stack: list[int] = []
    items: list[bytes] = []
    start = 0
    end = -1
    for match in _TOKEN.finditer(raw, offset):
        token = match.group()
        char = token[0]
        if char == ord('"'):
            if len(token) == 1:  # the lone quote: a string that never closes
                raise JsonTextError(f"not valid JSON: a string never closed, at character {match.start() + 1}")
            continue
        if char in _OPENS:
            stack.append(_OPENS[char])
            if len(stack) == 1:
                start = match.end()
            continue
        if char == ord(","):
            if len(stack) == 1:
                items.append(raw[start : match.start()].strip(b" \t\r\n"))
                start = match.end()
            continue
        if not stack or stack.pop() != char:
            raise JsonTextError(f"not valid JSON: an unmatched '{chr(char)}' at character {match.start() + 1}")
        if not stack:
            last = raw[start : match.start()].strip(b" \t\r\n")
            if last or items:
                items.append(last)
            end = match.end()
            break
    if end < 0:
        raise JsonTextError("not valid JSON: the array is never closed")
    if raw[end:].strip(b" \t\r\n"):
        raise JsonTextError(f"not valid JSON: something follows the array, at character {end + 1}")
    if any(not item for item in items):
        raise JsonTextError("not valid JSON: an empty item between commas")
    return items
