"""Keyed pseudonyms for subject ids: the graph stores HMAC-SHA256(key, id), never the raw identifier."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_FINGERPRINT_LABEL = b"privacy-lineage/pseudonym-key-fingerprint/v1"
MIN_KEY_BYTES = 16
_CACHE_SIZE = 65_536


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


def key_from_text(text: str) -> bytes:
    """Decode a key given in settings: hex (64 chars recommended) or any string of at least 16 bytes."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
        if len(raw) >= MIN_KEY_BYTES:
            return raw
    except ValueError:
        pass
    return text.encode("utf-8")


def load_or_create_key_file(path: Path) -> bytes:
    """Read a key file, creating it (mode 0600, 32 random bytes as hex) when it does not exist."""
    if path.exists():
        return key_from_text(path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return key_from_text(path.read_text(encoding="utf-8"))
