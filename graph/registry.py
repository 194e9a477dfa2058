"""Open a GraphStore from its URL: the table of URL schemes and the store each opens (drivers load lazily)."""

from __future__ import annotations

import importlib
from typing import NamedTuple
from urllib.parse import urlsplit

from config import Settings
from graph.store import GraphStore, StoreConfigError, StoreMissing


class StoreEntry(NamedTuple):
    """Where a store's class lives (imported when a URL of its scheme is opened), and the extra that installs its
    driver (None: the standard library's)."""

    module: str
    cls: str
    extra: str | None = None


_NEO4J = StoreEntry("graph.neo4j_store", "Neo4jGraphStore", "neo4j")
#: Every store by URL scheme: a new store is a module with a GraphStore subclass and its line here.
STORES: dict[str, StoreEntry] = {
    "sqlite": StoreEntry("graph.sqlite_store", "SQLiteGraphStore"),
    **{scheme: _NEO4J for scheme in ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")},
}


def open_store(url: str, settings: Settings | None = None, *, existing: bool = False) -> GraphStore:
    """The GraphStore ``url`` names, reading its options (credentials, TLS, timeouts) from ``settings``.

    With ``existing``, a store that is not there yet is refused (StoreMissing) instead of created.
    """
    scheme = urlsplit(url).scheme.lower()
    entry = STORES.get(scheme)
    if entry is None:
        # the URL is not repeated: it may carry a password
        raise StoreConfigError(f"unknown store URL scheme {scheme!r}: the stores' schemes are {', '.join(STORES)}")
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StoreConfigError(
            f"the {entry.cls} store needs its driver: pip install 'privacy-lineage[{entry.extra}]'"
        ) from exc
    store: type[GraphStore] = getattr(module, entry.cls)
    absent = store.missing(url) if existing else None
    if absent:
        raise StoreMissing(f"{absent}: nothing has been ingested there (check --store or LINEAGE_STORE)")
    return store.from_url(url, settings or Settings())
