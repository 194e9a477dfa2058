"""What the web console runs on: where tokens and audit trail live, and the composed store, policy and key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from config import Settings, SettingsError
from graph.pseudonym import Pseudonymizer, key_from_text, load_or_create_key_file
from graph.store import GraphStore
from lineage.web.audit import AuditLog
from lineage.web.tokens import TokenFile
from lineage.wiring import (
    erasure_notices,
    event_window,
    load_configured_policy,
    load_configured_registry,
    open_configured_store,
    pseudonymizer,
)
from policies.transfers import RecipientRules
from schemas.parsing import DEFAULT_TIME_WINDOW, TimeWindow
from schemas.policy import Policy
from schemas.recipients import RecipientRegistry
from streams.handler import Handler
from streams.notice_sinks import NoticeSink, configured_sink
from streams.notify import ErasureNotices

DEFAULT_MAX_BODY = 1 << 20
"""Bytes of request body the API accepts by default (1 MiB: 1,000 events of the contract take about half of it)."""


@dataclass(frozen=True)
class WebSettings:
    """Where the tokens file, the audit trail, its key and its signed head live; by default beside the pseudonym
    key file (the key and the head belong apart from the trail: see docs/web.md)."""

    tokens_file: Path
    audit_log: Path
    audit_key_file: Path
    audit_head: Path
    max_body: int = DEFAULT_MAX_BODY  # LINEAGE_WEB_MAX_BODY / --max-body: bytes of request body accepted
    audit_key_hex: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(
        cls,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        *,
        tokens_file: Path | None = None,
        audit_log: Path | None = None,
        max_body: int | None = None,
    ) -> WebSettings:
        e = os.environ if env is None else env
        home = settings.pseudonym_key_file.parent
        key_file = Path(e.get("LINEAGE_AUDIT_KEY_FILE") or home / "audit.key")
        return cls(
            tokens_file=tokens_file or Path(e.get("LINEAGE_TOKENS_FILE") or home / "tokens.json"),
            audit_log=audit_log or Path(e.get("LINEAGE_AUDIT_LOG") or home / "audit.jsonl"),
            max_body=max_body if max_body is not None else _bytes(e, "LINEAGE_WEB_MAX_BODY", DEFAULT_MAX_BODY),
            audit_key_file=key_file,
            audit_head=Path(e.get("LINEAGE_AUDIT_HEAD") or key_file.with_name("audit.head")),
            audit_key_hex=e.get("LINEAGE_AUDIT_KEY") or None,
        )

    def audit_key(self) -> bytes:
        """The audit trail's MAC key: LINEAGE_AUDIT_KEY, or the key file (created when absent)."""
        if self.audit_key_hex:
            return key_from_text(self.audit_key_hex, origin="LINEAGE_AUDIT_KEY")
        return load_or_create_key_file(self.audit_key_file, what="audit key")

    def audit_trail(self) -> AuditLog:
        return AuditLog(self.audit_log, self.audit_key(), self.audit_head)


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r}: expected a number of bytes, at least 1")
    return int(raw)


@dataclass
class Console:
    """Everything the HTTP API needs, built once by :func:`open_console` (or by a test)."""

    store: GraphStore
    policy: Policy
    pseudonymizer: Pseudonymizer
    tokens: TokenFile
    audit: AuditLog
    window: TimeWindow = DEFAULT_TIME_WINDOW  # the event times POST /api/events accepts
    max_body: int = DEFAULT_MAX_BODY  # bytes of request body accepted (lineage.web.limits)
    registry: RecipientRegistry | None = None  # LINEAGE_RECIPIENTS: transfer safeguards, known recipients
    notice_sink: NoticeSink | None = None  # LINEAGE_NOTICE_*: where the person page's button sends Art. 19 notices
    notice_contact: str | None = None  # LINEAGE_NOTICE_CONTACT: the contact a notice gives, when the policy has none
    # LINEAGE_NOTIFY_ERASURES: what sends the Art. 19 notices of the erasures POST /api/events brings
    erasure_notices: ErasureNotices | None = None

    def __post_init__(self) -> None:
        # binds the store to the key, so a lookup with another key is refused before any answer
        rules = RecipientRules(self.registry)
        self.handler = Handler(self.store, self.policy, self.pseudonymizer, self.window, rules, self.erasure_notices)

    def close(self) -> None:
        if self.notice_sink is not None:
            self.notice_sink.close()
        self.store.close()


def open_console(settings: Settings, web: WebSettings) -> Console:
    """Open the configured store and bind it to the configured pseudonym key."""
    key = pseudonymizer(settings)
    policy, registry = load_configured_policy(settings), load_configured_registry(settings)
    window = event_window(settings)
    store = open_configured_store(settings)
    try:
        return Console(
            store,
            policy,
            key,
            TokenFile(web.tokens_file),
            web.audit_trail(),
            window,
            max_body=web.max_body,
            registry=registry,
            notice_sink=configured_sink(settings),
            notice_contact=settings.notice_contact,
            erasure_notices=erasure_notices(settings, policy, registry),
        )
    except BaseException:
        store.close()
        raise
