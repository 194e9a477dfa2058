"""Settings from the environment that reach the store: the Neo4j namespace."""

from __future__ import annotations

import pytest

from config import Settings
from lineage.wiring import open_configured_store
from tests.contract.neo4j_backend import delete_namespace, new_namespace, server_settings
from tests.services import require


def test_the_neo4j_namespace_setting_is_read_without_its_spaces() -> None:
    assert Settings.from_env({}).neo4j_namespace is None
    assert Settings.from_env({"LINEAGE_NEO4J_NAMESPACE": " staging "}).neo4j_namespace == "staging"


@pytest.mark.integration
def test_the_namespace_setting_opens_that_namespace_and_the_url_wins() -> None:
    from graph.store import StoreUnavailable

    uri, ns, other = server_settings()["uri"], new_namespace(), new_namespace()
    env = {"LINEAGE_STORE": uri, "LINEAGE_NEO4J_NAMESPACE": ns, "LINEAGE_NEO4J_PASSWORD": server_settings()["password"]}
    try:
        store = open_configured_store(Settings.from_env(env))
    except StoreUnavailable as exc:
        require("Neo4j", str(exc))
    try:
        with store:
            assert store.namespace == ns  # type: ignore[attr-defined]
        with open_configured_store(Settings.from_env({**env, "LINEAGE_STORE": f"{uri}?namespace={other}"})) as store:
            assert store.namespace == other  # type: ignore[attr-defined]
    finally:
        delete_namespace(ns)
        delete_namespace(other)
