"""The worker under faults of its own connections (the shared servers are not touched): Neo4j commits that land
while the worker loses the connection, and Neo4j unreachable mid-stream, through a proxy that only this test's
worker uses. Every finding reaches the alerts topic, and the health file's counts add up to the events applied."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from graph.pseudonym import Pseudonymizer, key_from_text
from graph.sqlite_store import SQLiteGraphStore
from lineage.simulator import simulate, simulated_registry
from policies import default_policy
from policies.transfers import RecipientRules
from schemas.parsing import validate_event
from streams.handler import Handler
from streams.health import read_health
from streams.messages import finding_document
from tests.contract.neo4j_backend import server_settings
from tests.integration.bolt_proxy import BoltFaultProxy
from tests.integration.test_faults import committed, neo4j_deployment, neo4j_namespace, open_neo4j, wait
from tests.integration.test_kafka_pipeline import KEY, Deployment, broker, deployment

pytestmark = pytest.mark.integration
SHARED_FIXTURES = (broker, deployment, neo4j_namespace)


def _finding_keys(docs: list[dict[str, object]]) -> set[tuple[object, ...]]:
    """Each finding by (event, rule, alert); a new recipient's by (recipient, rule) alone: which of its first
    disclosures comes first depends on the order the worker reads the partitions in, not on the faults."""
    return {
        (d["recipient_id"], d["rule"]) if d["rule"] == "new-recipient" else (d["event_id"], d["rule"], d["alert_id"])
        for d in docs
    }


@pytest.mark.parametrize("trial", [1, 2, 3])
def test_every_finding_reaches_the_alerts_topic_when_neo4j_fails_mid_stream(
    deployment: Deployment, neo4j_namespace: str, tmp_path: Path, trial: int
) -> None:
    target = urlsplit(server_settings()["uri"])
    proxy = BoltFaultProxy((target.hostname or "127.0.0.1", target.port or 7687))
    health = tmp_path / "health.json"
    url = neo4j_deployment(
        deployment,
        neo4j_namespace,
        LINEAGE_WORKER_HEALTH_FILE=str(health),
        LINEAGE_WORKER_RETRY_MAX="1",
        LINEAGE_NEO4J_MAX_RETRY_TIME="1",
    )
    deployment.settings = replace(deployment.settings, store=url.replace(server_settings()["uri"], proxy.url))
    sims = [s.event for s in simulate(20, 4, seed=100 + trial, undeclared_rate=0.06)]
    # the simulation has no consent events, so an event's findings do not depend on how the stream is batched; the
    # workers judge against the simulated world's recipient registry (LINEAGE_RECIPIENTS), and so does this handler
    rules = RecipientRules(simulated_registry())
    judge = Handler(SQLiteGraphStore(":memory:"), default_policy(), Pseudonymizer(key_from_text(KEY)), recipients=rules)
    changes = judge.changes([validate_event(e, judge.taxonomy) for e in sims], {})
    expected = _finding_keys([finding_document(f) for cs in changes for f in cs.findings])
    assert len(expected) >= 20

    faults_done = threading.Event()

    def faults() -> None:  # while the worker writes: unseen commits, then an outage, then unseen commits again
        try:
            for _ in range(3):
                proxy.cut_commits(1)
                time.sleep(0.4)
            proxy.down()
            time.sleep(2.5)
            proxy.up()
            for _ in range(2):
                proxy.cut_commits(1)
                time.sleep(0.4)
        finally:
            faults_done.set()

    try:
        with deployment.emitter() as emitter:
            for ev in sims:
                emitter.emit(ev)
        worker = deployment.start_worker()
        wait(
            "the worker to start writing",
            lambda: health.exists() and read_health(health)["batches"] >= 1,
            60,
            deployment,
        )
        threading.Thread(target=faults, daemon=True).start()
        assert faults_done.wait(30)
        store = open_neo4j(neo4j_namespace)
        try:
            deployment.wait_for(f"all {len(sims)} events in Neo4j", lambda: store.stats().events == len(sims), 90)
            wait("every offset committed", lambda: committed(deployment) == len(sims), 30, deployment)
            stats = store.stats()
        finally:
            store.close()
        assert proxy.commits_cut >= 3, "no commit was cut: the faults missed the writes"
        published = [json.loads(r.value) for r in deployment.read_topic(deployment.topics.alerts, 10**6, 20)]
        assert _finding_keys(published) == expected  # every finding, at least once
        state = read_health(health)
        assert state["applied"] + state["suppressed"] == stats.events == len(sims)
        assert state["outages"] >= 1 and state["status"] == "ok"
        assert worker.poll() is None, deployment.logs()
        print(
            f"trial {trial}: {len(sims)} events, {len(expected)} findings, {len(published)} published "
            f"({len(published) - len(expected)} repeated), {proxy.commits_cut} commits cut, "
            f"{state['outages']} outage(s) in the health file"
        )
    finally:
        proxy.close()
