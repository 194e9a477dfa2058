"""A Neo4j commit that lands while the client loses the connection (the server committed, the answer never came):
the retry of the same batch recognises its own commit, reports the batch's events as applied and their findings, and
writes nothing twice. Through a proxy that cuts this test's connections only (tests/integration/bolt_proxy.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from graph.pseudonym import Pseudonymizer
from graph.store import StoreUnavailable
from lineage.simulator import simulate
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import delete_namespace, new_namespace, options, server_settings
from tests.factories import BROKER, event
from tests.integration.bolt_proxy import BoltFaultProxy
from tests.services import require

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy() -> Iterator[BoltFaultProxy]:
    target = urlsplit(server_settings()["uri"])
    proxy = BoltFaultProxy((target.hostname or "127.0.0.1", target.port or 7687))
    yield proxy
    proxy.close()


@pytest.fixture
def handler(proxy: BoltFaultProxy) -> Iterator[Handler]:
    from graph.neo4j_store import Neo4jGraphStore

    namespace = new_namespace()
    try:
        # the driver's own retries give up after 1 s (30 s by default): the handler's caller retries, as the worker does
        store = Neo4jGraphStore.from_url(proxy.url, replace(options(namespace), neo4j_max_retry_time=1.0))
    except StoreUnavailable as exc:
        require("Neo4j", str(exc))
    yield Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    store.close()
    delete_namespace(namespace)


def _events() -> list[dict[str, object]]:
    sims = [s.event for s in simulate(8, 3, seed=5, undeclared_rate=0.1)]
    sims.append(event("shared", recipient=BROKER, purpose="marketing.advertising"))  # at least one finding
    return sims


def test_a_retry_after_an_unseen_commit_reports_the_batch_and_its_findings(
    handler: Handler, proxy: BoltFaultProxy
) -> None:
    events = [validate_event(e, handler.taxonomy) for e in _events()]
    expected = handler.changes(events, {})
    expected_findings = sorted((f.event_id, f.rule) for cs in expected for f in cs.findings)
    assert expected_findings, "the batch should raise findings"
    proxy.cut_commits(1)  # the batch's write
    with pytest.raises(StoreUnavailable):
        handler.handle(events)
    assert proxy.commits_cut == 1
    assert handler.store.processed([e.event_id for e in events]) == {e.event_id for e in events}  # it landed
    stats = handler.store.stats()

    retried = handler.handle(events)  # what the worker does: the same batch again
    assert (retried.applied, retried.duplicates, retried.suppressed) == (len(events), 0, 0)
    assert sorted((f.event_id, f.rule) for f in retried.findings) == expected_findings
    assert handler.store.stats() == stats  # nothing written twice

    again = handler.handle(events)  # settled: a later delivery is a replay
    assert (again.applied, again.duplicates, again.findings) == (0, len(events), ())


def test_a_retry_of_a_commit_that_did_not_land_applies_the_batch(handler: Handler, proxy: BoltFaultProxy) -> None:
    events = [validate_event(e, handler.taxonomy) for e in _events()]
    proxy.down()
    with pytest.raises(StoreUnavailable):
        handler.handle(events)
    proxy.up()
    assert handler.store.processed([e.event_id for e in events]) == set()
    retried = handler.handle(events)
    assert retried.applied == len(events) and retried.findings
