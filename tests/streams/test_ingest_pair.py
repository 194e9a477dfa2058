"""The embedded ingest on two processes: the same graph, findings and dead letters as on one, batches stored in input
order, consent judged as one process would have judged it, and a failure in the second process reaching the caller."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from graph.changes import ChangeSet
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import ApplyResult, StoreUnavailable
from lineage.simulator import simulate
from policies import default_policy
from policies.loader import load_policy
from policies.transfers import RecipientRules
from schemas.policy import Policy
from streams.deadletter import MemoryDeadLetters
from streams.embedded import IngestReport, ingest_lines
from streams.handler import Handler
from streams.ingest_pair import SecondProcessFailed
from tests.conftest import TEST_KEY
from tests.contract.test_aggregates import PERIODS, answered
from tests.factories import ADVERTISER, event

BATCH = 50  # lines per batch: the batches alternate between the two processes
ANALYTICS_SHARE = {"recipient": ADVERTISER, "purpose": "analytics.reporting"}  # declared, unless consent is gone


def _consent(kind: str, event_id: str, at: str, subject: str) -> dict[str, Any]:
    used = event("used", subject_id=subject)
    keep = ("schema_version", "emitted_by", "subject")
    return {**{k: used[k] for k in keep}, "event_id": event_id, "occurred_at": at, "kind": kind}


def _share(event_id: str, at: str, subject: str) -> dict[str, Any]:
    return event("shared", event_id=event_id, occurred_at=at, subject_id=subject, **ANALYTICS_SHARE)


def _corpus() -> list[str]:
    """Simulated traffic in batches of BATCH lines, with hostile lines and, across batch boundaries (so across the
    two processes, both ways), a withdrawal before a share, and an erasure that deletes a withdrawal before a share:
    findings that depend on the batch before being stored when the next one is judged."""
    lines = [json.dumps(s.event) for s in simulate(12, 4, seed=5, undeclared_rate=0.05)][: 8 * BATCH - 20]
    planted = {
        # batch 0 (first process) -> batch 1 (second): alice withdraws, then shares for analytics
        10: _consent("consent_withdrawn", "w-alice", "2026-03-01T09:00:00Z", "alice@example.com"),
        BATCH + 10: _share("s-alice", "2026-03-01T10:00:00Z", "alice@example.com"),
        # batch 1 (second) -> batch 2 (first): bob withdraws, then shares
        BATCH + 20: _consent("consent_withdrawn", "w-bob", "2026-03-01T09:00:00Z", "bob@example.com"),
        2 * BATCH + 5: _share("s-bob", "2026-03-01T10:00:00Z", "bob@example.com"),
        # carol withdraws (batch 2), is erased after it (batch 3): her later share (batch 4) raises nothing
        2 * BATCH + 30: _consent("consent_withdrawn", "w-carol", "2026-03-01T09:00:00Z", "carol@example.com"),
        3 * BATCH + 1: _consent("erased", "x-carol", "2026-03-01T09:30:00Z", "carol@example.com"),
        4 * BATCH + 2: _share("s-carol", "2026-03-01T10:00:00Z", "carol@example.com"),
        # dave is erased (batch 5) and an earlier event of his comes later (batch 6): dropped
        5 * BATCH + 3: _consent("erased", "x-dave", "2026-03-01T09:30:00Z", "dave@example.com"),
        6 * BATCH + 4: _share("s-dave", "2026-03-01T08:00:00Z", "dave@example.com"),
    }
    for at in sorted(planted):
        lines.insert(at, json.dumps(planted[at]))
    for at in (3, BATCH + 7, 4 * BATCH + 9, 7 * BATCH + 1):
        lines.insert(at, '{"not": "an event"')
    lines.insert(2 * BATCH + 11, "   ")
    return lines


def _ingest(
    path: Path,
    lines: Sequence[str],
    processes: int,
    policy: Policy | None = None,
    recipients: RecipientRules | None = None,
) -> tuple[IngestReport, MemoryDeadLetters]:
    store = SQLiteGraphStore(path)
    try:
        handler = Handler(store, policy or default_policy(), Pseudonymizer(TEST_KEY), recipients=recipients)
        dead = MemoryDeadLetters()
        return ingest_lines(lines, handler, dead, origin="f", batch_size=BATCH, processes=processes), dead
    finally:
        store.close()


def _graph(path: Path, people: Sequence[str]) -> dict[str, Any]:
    store = SQLiteGraphStore(path)
    try:
        pseudonym = Pseudonymizer(TEST_KEY)
        return {
            "stats": store.stats(),
            "alerts": sorted((a.alert_id, a.count, a.first_seen, a.last_seen) for a in store.alerts()),
            "who_has": {p: store.who_has(pseudonym(p)) for p in people},
            "erasures": [  # all but applied_at, the time of writing
                (t.event_id, t.subject, t.erased_at, t.recipients) for ts in store.erasures(None).values() for t in ts
            ],
            # the flow aggregates, which each process writes from what it remembers of each person
            "aggregates": [answered(store, since, until) for since, until in PERIODS],
        }
    finally:
        store.close()


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch takes 0.3 s to store, in both processes (the fork inherits the patch): the next batch is then
    always judged while the one before it is being written, which is what the consent recheck is for."""
    apply = SQLiteGraphStore.apply

    def slow(self: SQLiteGraphStore, batch: Sequence[ChangeSet]) -> ApplyResult:
        time.sleep(0.3)
        return apply(self, batch)

    monkeypatch.setattr(SQLiteGraphStore, "apply", slow)


def test_two_processes_store_and_report_what_one_does(tmp_path: Path, slow_writes: None) -> None:
    lines = _corpus()
    people = sorted({json.loads(x)["subject"]["id"] for x in lines if x.startswith("{") and x.endswith("}")})
    one, one_dead = _ingest(tmp_path / "one.db", lines, processes=1)
    two, two_dead = _ingest(tmp_path / "two.db", lines, processes=2)

    def findings(report: IngestReport) -> list[tuple[str, str]]:
        return sorted((f.event_id, f.rule) for f in report.findings)

    # the planted cases came out as one process judges them
    assert {("s-alice", "disclosure-after-withdrawal"), ("s-bob", "disclosure-after-withdrawal")} <= set(findings(one))
    assert not [e for e, _ in findings(one) if e in ("s-carol", "s-dave")]
    assert one.suppressed == 1 and one.rejected == 4 and one.blank == 1 and len(findings(one)) > 10
    assert findings(two) == findings(one)
    assert [(r.lines, r.blank, r.applied, r.duplicates, r.rejected, r.suppressed, r.failed) for r in (two,)] == [
        (one.lines, one.blank, one.applied, one.duplicates, one.rejected, one.suppressed, one.failed)
    ]
    assert [(d.line, d.reason) for d in two_dead.letters] == [(d.line, d.reason) for d in one_dead.letters]
    assert _graph(tmp_path / "two.db", people) == _graph(tmp_path / "one.db", people)


def test_the_batches_are_stored_in_input_order_alternately_by_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log"
    apply = SQLiteGraphStore.apply

    def logged(self: SQLiteGraphStore, batch: Sequence[ChangeSet]) -> ApplyResult:
        result = apply(self, batch)
        with log.open("a") as fh:
            fh.write(f"{os.getpid()} {min(cs.event.event_id for cs in batch)}\n")
        return result

    monkeypatch.setattr(SQLiteGraphStore, "apply", logged)
    lines = [json.dumps(event(event_id=f"e{i:04d}", subject_id=f"p{i % 7}")) for i in range(7 * BATCH)]
    report, _ = _ingest(tmp_path / "s.db", lines, processes=2)
    assert report.applied == 7 * BATCH
    entries = [line.split() for line in log.read_text().splitlines()]
    assert [first for _, first in entries] == [f"e{k * BATCH:04d}" for k in range(7)]
    pids = [pid for pid, _ in entries]
    assert pids[0::2] == [str(os.getpid())] * 4 and len(set(pids[1::2])) == 1 and pids[1] != pids[0]


def test_a_single_batch_or_a_store_in_memory_stays_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    monkeypatch.setattr("multiprocessing.context.ForkProcess.start", lambda self: forks.append(1))
    store = SQLiteGraphStore(":memory:")
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    lines = [json.dumps(event(event_id=f"m{i}")) for i in range(3 * BATCH)]
    report = ingest_lines(lines, handler, MemoryDeadLetters(), batch_size=BATCH, processes=2)
    assert report.applied == 3 * BATCH and forks == []
    store.close()


def _failing_in_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Any) -> Iterator[Any]:
    parent = os.getpid()
    apply = SQLiteGraphStore.apply

    def failing(self: SQLiteGraphStore, batch: Sequence[ChangeSet]) -> ApplyResult:
        if os.getpid() != parent:
            failure()
        return apply(self, batch)

    monkeypatch.setattr(SQLiteGraphStore, "apply", failing)
    lines = [json.dumps(event(event_id=f"f{i}")) for i in range(4 * BATCH)]
    yield lambda: _ingest(tmp_path / "s.db", lines, processes=2)


def test_a_store_error_in_the_second_process_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable() -> None:
        raise StoreUnavailable("database is locked")

    (run,) = _failing_in_second(tmp_path, monkeypatch, unavailable)
    with pytest.raises(StoreUnavailable, match="database is locked"):
        run()


def test_a_second_process_that_dies_is_an_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (run,) = _failing_in_second(tmp_path, monkeypatch, lambda: os._exit(7))
    with pytest.raises(SecondProcessFailed, match="status 7"):
        run()


def test_lineage_ingest_says_the_same_with_one_process_or_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from lineage.cli import main

    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(_corpus()) + "\n", encoding="utf-8")
    said = {}
    for processes in ("1", "2"):
        out, err = io.StringIO(), io.StringIO()
        store = f"sqlite:///{tmp_path / f'{processes}.db'}"
        args = ["ingest", str(source), "--store", store, "--batch-size", str(BATCH), "--processes", processes]
        args += ["--dead-letters", str(tmp_path / f"{processes}.dead.jsonl")]
        code = main(args, out, err)
        stats = io.StringIO()
        main(["stats", "--store", store], stats, io.StringIO())
        summary = out.getvalue().replace(f"{processes}.dead", "N.dead")
        said[processes] = (code, summary, err.getvalue(), stats.getvalue())
    assert said["2"] == said["1"]
    assert said["1"][0] == 1 and "4 line(s) rejected" in said["1"][1]


def test_a_retention_period_counts_from_data_the_batch_before_recorded(tmp_path: Path, slow_writes: None) -> None:
    """Erin's email is first recorded in batch 0 and used for marketing 20 days later in batch 1 (the other process),
    past the example policy's 14 days: the second process judged batch 1 while batch 0 was being written, so the
    store it read did not hold her email yet. Two processes must find what one does."""
    policy = load_policy(Path(__file__).parents[2] / "policies" / "s-plus-retention-example.yaml")
    lines = [json.dumps(event(subject_id=f"p{k}@example.com")) for k in range(2 * BATCH)]
    lines[5] = json.dumps(event(event_id="c-erin", subject_id="erin@example.com"))
    lines[BATCH + 5] = json.dumps(
        event("used", event_id="u-erin", subject_id="erin@example.com", purpose="marketing.advertising.first_party",
              occurred_at="2026-03-21T10:00:00Z")
    )  # fmt: skip

    def findings(processes: int) -> list[tuple[str, str]]:
        report, _ = _ingest(tmp_path / f"{processes}.db", lines, processes, policy)
        return sorted((f.event_id, f.rule) for f in report.findings)

    one = findings(1)
    assert ("u-erin", "retention-exceeded") in one
    assert findings(2) == one


def test_the_first_disclosure_to_a_new_recipient_passes_over_one_the_batch_before_erased(
    tmp_path: Path, slow_writes: None
) -> None:
    """Gina is erased in batch 0; in batch 1 (the other process) an earlier disclosure of hers to a recipient never
    seen comes first, then Hank's to it. Hers is dropped (she was erased after it), so Hank's is the first disclosure
    to that recipient: the second process judged batch 1 before the erasure was stored."""
    newco = {"id": "newco", "name": "NewCo Ltd", "type": "business_partner", "country": "DE"}
    lines = [json.dumps(event(subject_id=f"p{k}@example.com")) for k in range(2 * BATCH)]
    lines[5] = json.dumps(_consent("erased", "x-gina", "2026-03-01T09:30:00Z", "gina@example.com"))
    shares = (
        ("s-gina", "gina@example.com", "2026-03-01T08:00:00Z"),
        ("s-hank", "hank@example.com", "2026-03-01T10:00:00Z"),
    )
    for k, (event_id, subject, at) in enumerate(shares):
        lines[BATCH + 5 + k] = json.dumps(
            event("shared", event_id=event_id, subject_id=subject, occurred_at=at, recipient=newco)
        )

    def findings(processes: int) -> list[tuple[str, str]]:
        report, _ = _ingest(tmp_path / f"{processes}.db", lines, processes, recipients=RecipientRules(None))
        return sorted((f.event_id, f.rule) for f in report.findings if f.rule == "new-recipient")

    one = findings(1)
    assert one == [("s-hank", "new-recipient")]
    assert findings(2) == one


def test_an_error_in_the_second_process_before_its_turn_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second process fails while it prepares and ends before the first one gives it the turn: the caller gets
    that error, not a broken pipe."""
    parent = os.getpid()
    consent_state, apply = SQLiteGraphStore.consent_state, SQLiteGraphStore.apply

    def failing(self: SQLiteGraphStore, subjects: Sequence[str]) -> Any:
        if os.getpid() != parent:
            raise StoreUnavailable("database is locked")
        return consent_state(self, subjects)

    def slow(self: SQLiteGraphStore, batch: Sequence[ChangeSet]) -> ApplyResult:
        time.sleep(1.0)  # the first batch: long enough for the second process to fail and end meanwhile
        return apply(self, batch)

    monkeypatch.setattr(SQLiteGraphStore, "consent_state", failing)
    monkeypatch.setattr(SQLiteGraphStore, "apply", slow)
    lines = [json.dumps(event(event_id=f"p{i}")) for i in range(4 * BATCH)]
    with pytest.raises(StoreUnavailable, match="database is locked"):
        _ingest(tmp_path / "s.db", lines, processes=2)
