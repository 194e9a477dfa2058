"""What the web console runs on: where tokens and audit trail live, and the composed store, policy and key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from lineage.web.audit import AuditLog
from lineage.web.tokens import TokenFile
from lineage.wiring import event_window, load_configured_policy, open_configured_store, pseudonymizer
from schemas.events import DEFAULT_TIME_WINDOW, TimeWindow
from schemas.policy import Policy
from streams.handler import Handler


@dataclass(frozen=True)
class WebSettings:
    """Where the tokens file and the audit trail live; by default beside the pseudonym key file."""

    tokens_file: Path
    audit_log: Path

    @classmethod
    def from_env(
        cls,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        *,
        tokens_file: Path | None = None,
        audit_log: Path | None = None,
    ) -> WebSettings:
        e = os.environ if env is None else env
        home = settings.pseudonym_key_file.parent
        return cls(
            tokens_file=tokens_file or Path(e.get("LINEAGE_TOKENS_FILE") or home / "tokens.json"),
            audit_log=audit_log or Path(e.get("LINEAGE_AUDIT_LOG") or home / "audit.jsonl"),
        )


@dataclass
class Console:
    """Everything the HTTP API needs, built once by :func:`open_console` (or by a test)."""

    store: GraphStore
    policy: Policy
    pseudonymize: Pseudonymizer
    tokens: TokenFile
    audit: AuditLog
    window: TimeWindow = DEFAULT_TIME_WINDOW  # the event times POST /api/events accepts

    def __post_init__(self) -> None:
        # binds the store to the key, so a lookup with another key is refused before any answer
        self.handler = Handler(self.store, self.policy, self.pseudonymize, self.window)

    def close(self) -> None:
        self.store.close()


def open_console(settings: Settings, web: WebSettings) -> Console:
    """Open the configured store and bind it to the configured pseudonym key."""
    key = pseudonymizer(settings)
    policy = load_configured_policy(settings)
    store = open_configured_store(settings)
    try:
        return Console(store, policy, key, TokenFile(web.tokens_file), AuditLog(web.audit_log), event_window(settings))
    except BaseException:
        store.close()
        raise
