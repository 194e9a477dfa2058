"""Settings from the environment (and CLI flags): store URL, policy file, pseudonym key, service options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STORE = "sqlite:///lineage.db"


def _default_key_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "privacy-lineage" / "pseudonym.key"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, read once; factories take this instead of reading the environment."""

    store: str = DEFAULT_STORE
    policy_file: Path | None = None
    pseudonym_key: str | None = field(default=None, repr=False)
    pseudonym_key_file: Path = field(default_factory=_default_key_file)
    neo4j_user: str = "neo4j"
    neo4j_password: str = field(default="lineage-local", repr=False)
    neo4j_database: str = "neo4j"
    kafka_bootstrap: str = "127.0.0.1:9092"
    log_level: str = "WARNING"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        e = os.environ if env is None else env
        values: dict[str, object] = {
            "store": e.get("LINEAGE_STORE") or DEFAULT_STORE,
            "policy_file": Path(e["LINEAGE_POLICY"]) if e.get("LINEAGE_POLICY") else None,
            "pseudonym_key": e.get("LINEAGE_PSEUDONYM_KEY") or None,
            "neo4j_user": e.get("LINEAGE_NEO4J_USER") or e.get("NEO4J_USER") or "neo4j",
            "neo4j_password": e.get("LINEAGE_NEO4J_PASSWORD") or e.get("NEO4J_PASSWORD") or "lineage-local",
            "neo4j_database": e.get("LINEAGE_NEO4J_DATABASE") or "neo4j",
            "kafka_bootstrap": e.get("LINEAGE_KAFKA_BOOTSTRAP") or "127.0.0.1:9092",
            "log_level": (e.get("LINEAGE_LOG_LEVEL") or "WARNING").upper(),
        }
        if e.get("LINEAGE_PSEUDONYM_KEY_FILE"):
            values["pseudonym_key_file"] = Path(e["LINEAGE_PSEUDONYM_KEY_FILE"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def store_options(self) -> dict[str, str]:
        return {"user": self.neo4j_user, "password": self.neo4j_password, "database": self.neo4j_database}
