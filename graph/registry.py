"""Open a GraphStore from a URL (sqlite:///path, sqlite:///:memory:, neo4j://..., bolt://...); drivers load lazily."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from graph.store import GraphStore, StoreConfigError

NEO4J_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


def open_store(url: str, options: Mapping[str, str] | None = None) -> GraphStore:
    """A GraphStore for ``url``; ``options`` carries store settings such as Neo4j user, password, database."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative.db, sqlite:////absolute/path.db, sqlite:///:memory:
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreConfigError(f"bad SQLite store URL {url!r}: expected sqlite:///path/to/file.db")
        from graph.sqlite_store import SQLiteGraphStore

        return SQLiteGraphStore(path)
    if scheme in NEO4J_SCHEMES:
        try:
            from graph.neo4j_store import Neo4jGraphStore
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise StoreConfigError(
                "the Neo4j store needs the 'neo4j' driver: pip install 'privacy-lineage[neo4j]'"
            ) from exc
        return Neo4jGraphStore.from_url(url, dict(options or {}))
    raise StoreConfigError(f"unknown store URL scheme {scheme!r} in {url!r}: use sqlite:///... or neo4j://...")
