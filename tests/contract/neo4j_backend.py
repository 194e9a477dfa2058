"""The Neo4j store for the contract suite: the local server from docker/local/neo4j.sh, one namespace per store.

Community Edition has a single user database, so each store gets a fresh namespace (the ``ns`` property of
every node) instead of a database of its own: stores made in one test, and test runs sharing the server, never
see each other's data, and nothing outside the namespace is ever deleted. A store deletes its namespace when
it is closed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from config import Settings
from graph.store import GraphStore, StoreUnavailable

DEFAULT_URI = "bolt://127.0.0.1:7687"
LABELS = (
    "Event", "Subject", "Data", "Source", "Purpose", "Recipient", "Alert", "Consent", "Tombstone", "Meta",
    "AggUnit", "AggKey", "AggMonth", "AggStep", "Art19Notice",
)  # fmt: skip


def server_settings() -> dict[str, str]:
    """URI, user, password and database of the test server (env LINEAGE_TEST_NEO4J_URI, NEO4J_PASSWORD)."""
    return {
        "uri": os.environ.get("LINEAGE_TEST_NEO4J_URI") or DEFAULT_URI,
        "user": os.environ.get("NEO4J_USER") or "neo4j",
        "password": os.environ.get("NEO4J_PASSWORD") or "lineage-local",
        "database": os.environ.get("LINEAGE_TEST_NEO4J_DATABASE") or "neo4j",
    }


def options(namespace: str | None = None) -> Settings:
    """Settings for the test server, in ``namespace`` (default: a new, empty one)."""
    s = server_settings()
    return Settings(
        neo4j_user=s["user"],
        neo4j_password=s["password"],
        neo4j_database=s["database"],
        neo4j_namespace=namespace or new_namespace(),
        neo4j_connection_timeout=3.0,
    )


def new_namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def delete_namespace(namespace: str) -> None:
    """Delete every node (and its relationships) of one namespace."""
    import neo4j

    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:
        for label in LABELS:
            deleted = 1
            while deleted:  # in chunks, so a big namespace fits the server's transaction memory
                records, _, _ = driver.execute_query(
                    f"MATCH (n:{label} {{ns: $ns}}) WITH n LIMIT 2000 DETACH DELETE n RETURN count(*) AS n",
                    {"ns": namespace},
                    database_=s["database"],
                )
                deleted = records[0]["n"]


def neo4j_store(folder: Path) -> GraphStore:
    """A Neo4jGraphStore in a new, empty namespace; skips (locally) or fails (CI=true) without a server.

    The folder is unused: the data lives in the server.
    """
    from tests.services import require

    try:
        from graph.neo4j_store import Neo4jGraphStore
    except ImportError:
        require("Neo4j", "the neo4j driver is not installed (pip install -e '.[neo4j]')")
        raise

    class ScratchNeo4jStore(Neo4jGraphStore):
        """Deletes its namespace when closed."""

        def close(self) -> None:
            try:
                delete_namespace(self.namespace)
            finally:
                super().close()

    try:
        return ScratchNeo4jStore.from_url(server_settings()["uri"], options())
    except StoreUnavailable as exc:
        require("Neo4j", str(exc))
        raise
