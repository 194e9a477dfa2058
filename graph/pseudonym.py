"""Keyed pseudonyms for subject ids: the graph stores HMAC-SHA256(key, id), never the raw identifier."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

_FINGERPRINT_LABEL = b"privacy-lineage/pseudonym-key-fingerprint/v1"
MIN_KEY_BYTES = 16
_CACHE_SIZE = 65_536
_log = logging.getLogger(__name__)


class PseudonymKeyError(ValueError):
    """The pseudonym key is missing, too short, or not the one a store was written with."""


class Pseudonymizer:
    """Turns a subject id into a stable pseudonym with a secret key (GDPR Art. 4(5) pseudonymisation)."""

    __slots__ = ("_cache", "_key", "fingerprint")

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        #: Identifies the key without revealing it; stores remember it to refuse a mismatched key.
        self.fingerprint = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]
        # The handler asks for the same person's pseudonym several times per event (consent, policy, projection)
        # and the same people recur from batch to batch; an HMAC costs more than a dict lookup. Bounded (cleared
        # when full); the raw ids it keeps stay in this process's memory, which receives them in the events anyway.
        self._cache: dict[str, str] = {}

    def __call__(self, subject_id: str) -> str:
        found = self._cache.get(subject_id)
        if found is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            digest = hmac.new(self._key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()
            found = self._cache[subject_id] = "p_" + digest[:40]
        return found

    def __repr__(self) -> str:  # never show the key
        return f"Pseudonymizer(fingerprint={self.fingerprint!r})"


def key_from_text(text: str, *, origin: str = "the pseudonym key") -> bytes:
    """Decode a key given in settings or a key file: hex digits for at least 16 bytes (64 digits recommended).

    A short or non-hex key is refused rather than read as text: an 8-byte hex key would otherwise become 16
    bytes of ASCII and pass the length check with half the strength. ``origin`` names where the key came from
    in the error (a variable or a file, never the key).
    """
    text = text.strip()
    if not text:
        raise PseudonymKeyError(f"{origin} is empty; {_HOW_TO_MAKE}")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise PseudonymKeyError(f"{origin} is not hexadecimal; {_HOW_TO_MAKE}") from None
    if len(raw) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"{origin} is {len(raw)} bytes ({len(text)} hex digits); at least {MIN_KEY_BYTES} bytes "
            f"({2 * MIN_KEY_BYTES} hex digits) are needed; {_HOW_TO_MAKE}"
        )
    return raw


_HOW_TO_MAKE = "make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"


def read_key_file(path: Path) -> bytes:
    """Read an existing key file (a missing one is a PseudonymKeyError: commands that only read create none)."""
    origin = f"the pseudonym key file {path}"
    if not path.exists():
        raise PseudonymKeyError(
            f"there is no pseudonym key at {path}: the store's key is needed to find anyone in it "
            "(set LINEAGE_PSEUDONYM_KEY_FILE or LINEAGE_PSEUDONYM_KEY)"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _log.warning("%s is readable by others (mode %04o): run chmod 600 %s", origin, mode, path)
    return key_from_text(path.read_text(encoding="utf-8"), origin=origin)


def load_or_create_key_file(path: Path, *, what: str = "pseudonym key") -> bytes:
    """Read a key file, creating it (mode 0600, 32 random bytes as hex, in a directory made 0700) when absent.

    An existing key file that its group or others may read is used, with a warning on the ``graph.pseudonym``
    logger: whoever reads the pseudonym key can confirm who is in the graph. ``what`` names the key in messages.
    """
    origin = f"the {what} file {path}"
    if path.exists():
        return read_key_file(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return key_from_text(path.read_text(encoding="utf-8"), origin=origin)
