"""The simulator plants uses of data past the retention periods a policy declares, and the rules find exactly them.

Under policies/s-plus-retention-example.yaml (the S Plus policy with periods), a simulated stream is ingested into
each store through the handler; every rule's precision and recall on the truth file are 1.0, and `lineage retention
check --as-of` the world's end finds exactly the data the world holds past a period.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from lineage.cli import main
from lineage.sim_retention import RETENTION, held_past
from lineage.simulator import DEFAULT_START, SimulatedEvent, simulate, simulated_registry
from policies import default_policy
from policies.loader import load_policy
from policies.transfers import RecipientRules
from schemas.parsing import validate_event
from schemas.policy import Policy
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import neo4j_store

EXAMPLE = Path(__file__).parents[2] / "policies" / "s-plus-retention-example.yaml"
DAYS = 30
# (people, undeclared rate) per store: the Neo4j world stays under 10^4 events on the shared server
WORLDS = {"sqlite": (100, 0.02), "neo4j": (40, 0.04)}


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(EXAMPLE)


def test_the_example_is_the_s_plus_policy_with_retention_periods(example: Policy) -> None:
    s_plus = default_policy()
    assert not any(p.days for p in s_plus.retention.periods)  # the published text declares none
    assert [p.days for p in example.retention.periods] == [14, 14, None]
    same = {"retention", "version", "source"}  # the copy's source path is resolved from its own file
    assert example.model_dump(exclude=same) == s_plus.model_dump(exclude=same)


def test_without_periods_the_world_is_unchanged(example: Policy) -> None:
    criteria_only = [p for p in example.retention.periods if p.days is None]
    plain = [s.event for s in simulate(30, 20, 5)]
    assert [s.event for s in simulate(30, 20, 5, retention=criteria_only)] == plain
    with_periods = list(simulate(30, 20, 5, retention=example.retention.periods))
    assert [s.event for s in with_periods] != plain
    assert any(RETENTION in s.undeclared for s in with_periods)


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[GraphStore, int, float]]:
    """An empty store of one kind, and how many people and what undeclared rate its simulated world has."""
    if request.param == "neo4j":
        store = neo4j_store(tmp_path)
    else:
        from graph.sqlite_store import SQLiteGraphStore

        store = SQLiteGraphStore(tmp_path / "lineage.db")
    yield (store, *WORLDS[request.param])
    store.close()


def _store_args(store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The command-line options that open ``store`` (its key in the environment)."""
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    namespace = getattr(store, "namespace", None)
    if namespace is None:
        return ["--store", f"sqlite:///{tmp_path / 'lineage.db'}"]
    from tests.contract.neo4j_backend import server_settings

    s = server_settings()
    monkeypatch.setenv("LINEAGE_NEO4J_PASSWORD", s["password"])
    monkeypatch.setenv("LINEAGE_NEO4J_NAMESPACE", namespace)
    return ["--store", s["uri"]]


def _rules_by_event(store: GraphStore) -> dict[str, set[str]]:
    alerted: dict[str, set[str]] = {}
    for alert in store.alerts():
        for e in evidence(store, [alert.alert_id]):  # every triggering event (an alert itself carries its latest)
            alerted.setdefault(e.event_id, set()).add(alert.rule)
    return alerted


def test_every_rule_finds_exactly_the_planted_events_and_retention_check_the_held_data(
    world: tuple[GraphStore, int, float], example: Policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, people, rate = world
    sims: list[SimulatedEvent] = list(
        simulate(people, DAYS, 20260301, undeclared_rate=rate, retention=example.retention.periods)
    )
    handler = Handler(store, example, Pseudonymizer(TEST_KEY), recipients=RecipientRules(simulated_registry()))
    for i in range(0, len(sims), 1000):
        handler.handle([validate_event(s.event, handler.taxonomy) for s in sims[i : i + 1000]])

    planted = {s.event["event_id"]: set(s.undeclared) for s in sims if s.undeclared}
    alerted = _rules_by_event(store)
    rules = {r for found in (*planted.values(), *alerted.values()) for r in found}
    assert len(sims) < 10_000 or store.__class__.__name__.startswith("SQLite")  # small on the shared Neo4j
    assert sum(RETENTION in r for r in planted.values()) >= 10, "too few uses past a period planted"
    scores: dict[str, tuple[float, float]] = {}
    for rule in sorted(rules):
        want = {e for e, r in planted.items() if rule in r}
        got = {e for e, r in alerted.items() if rule in r}
        scores[rule] = (len(want & got) / len(got) if got else 0.0, len(want & got) / len(want) if want else 0.0)
    assert RETENTION in scores
    assert scores == {rule: (1.0, 1.0) for rule in rules}, {r: s for r, s in scores.items() if s != (1.0, 1.0)}

    # lineage retention check, as of the world's end, over the store: exactly what the world holds past a period
    end = DEFAULT_START + timedelta(days=DAYS)
    held = held_past((s.event for s in sims), example.retention.periods, end)
    assert held, "no data held past a period"
    pseudonym = Pseudonymizer(TEST_KEY)
    expected = {(pseudonym(person), category, period) for person, category, period in held}
    out, err = io.StringIO(), io.StringIO()
    argv = ["retention", "check", *_store_args(store, tmp_path, monkeypatch), "--policy", str(EXAMPLE)]
    assert main([*argv, "--as-of", end.isoformat(), "--format", "json"], out, err) == 1, err.getvalue()
    found: list[dict[str, Any]] = json.loads(out.getvalue())
    assert {(f["subject"], f["category"], f["period"]) for f in found} == expected
    assert len(found) == len(expected)


def test_lineage_simulate_plants_uses_past_the_periods_of_its_policy(tmp_path: Path) -> None:
    def truth(*more: str) -> list[dict[str, Any]]:
        out = tmp_path / "events.jsonl"
        argv = ["simulate", "--people", "30", "--days", "20", "--seed", "5", "-o", str(out), *more]
        assert main(argv, io.StringIO(), io.StringIO()) == 0
        return [json.loads(line) for line in (tmp_path / "events.jsonl.truth.jsonl").read_text().splitlines()]

    plain = truth()
    assert plain and not any(RETENTION in t["expected_rules"] for t in plain)
    marked = [t for t in truth("--policy", str(EXAMPLE)) if RETENTION in t["expected_rules"]]
    assert marked and all(
        t["note"].endswith("past its retention period") or len(t["expected_rules"]) > 1 for t in marked
    )
