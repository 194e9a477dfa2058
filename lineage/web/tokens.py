"""API tokens with roles, kept hashed (SHA-256) in a JSON file; the secret is shown once, when it is made."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

TOKEN_PREFIX = "lin_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for, not a secret
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(StrEnum):
    """What a token may do: ``dpo`` everything, ``auditor`` reports and alerts, ``service`` health and ingest."""

    DPO = "dpo"
    AUDITOR = "auditor"
    SERVICE = "service"


class TokenError(ValueError):
    """A token operation that cannot be done (bad name, duplicate, unknown, unreadable file)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name and role (never the token itself)."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token without its secret."""

    name: str
    role: Role
    created_at: str


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenFile:
    """The tokens file: ``{"version": 1, "tokens": [{"name", "role", "sha256", "created_at"}]}``, mode 0600.

    Reads are cached by the file's (mtime, size), so a running server sees ``lineage tokens revoke``
    at the next request without a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[dict[str, Any]] = []

    # -- reading ------------------------------------------------------------------------------
    def _load(self) -> list[dict[str, Any]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, []
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                entries = data["tokens"]
                if not isinstance(entries, list):
                    raise TypeError("tokens is not a list")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise TokenError(f"cannot read the tokens file {self.path}: {exc}") from None
            self._stamp, self._entries = stamp, entries
        return self._entries

    def list_tokens(self) -> list[TokenInfo]:
        """The stored tokens, by name, without secrets."""
        with self._lock:
            entries = self._load()
        return sorted(
            (TokenInfo(e["name"], Role(e["role"]), e.get("created_at", "")) for e in entries), key=lambda t: t.name
        )

    def verify(self, token: str) -> Principal | None:
        """The principal a presented token stands for, or None. Compares digests in constant time."""
        if not token:
            return None
        digest = _digest(token)
        found: Principal | None = None
        with self._lock:
            entries = self._load()
        for e in entries:
            if hmac.compare_digest(digest, str(e.get("sha256", ""))) and found is None:
                found = Principal(e["name"], Role(e["role"]))
        return found

    # -- writing ------------------------------------------------------------------------------
    def _save(self, entries: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": 1, "tokens": entries}, fh, indent=2)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None

    def add(self, name: str, role: Role | str) -> str:
        """Create a token for ``name`` with ``role``; return the secret (the only time it exists in clear)."""
        if not _NAME.match(name):
            raise TokenError(f"bad token name {name!r}: use letters, digits, '.', '_', '@' or '-' (at most 64)")
        try:
            role = Role(role)
        except ValueError:
            raise TokenError(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            entries = list(self._load())
            if any(e["name"] == name for e in entries):
                raise TokenError(f"a token named {name!r} exists already; revoke it first")
            entries.append(
                {
                    "name": name,
                    "role": role.value,
                    "sha256": _digest(token),
                    "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
            self._save(entries)
        return token

    def revoke(self, name: str) -> None:
        """Remove the token named ``name``; raise TokenError when there is none."""
        with self._lock:
            entries = list(self._load())
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                raise TokenError(f"no token named {name!r}")
            self._save(kept)
