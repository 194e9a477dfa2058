"""Key rotation (lineage.rekey) on every store: rebuilt under the new key, tombstones and acknowledgements carried."""

from __future__ import annotations

import json
from pathlib import Path

from graph.pseudonym import Pseudonymizer
from lineage.rekey import rekey
from policies import default_policy
from schemas.events import validate_event
from streams.deadletter import MemoryDeadLetters
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.conftest import StoreFactory
from tests.contract.test_erasure import ALICE, BOB, ERASURE, alice_before, erased

POLICY = default_policy()
OLD, NEW = Pseudonymizer(TEST_KEY), Pseudonymizer(b"a brand new key, rotated in 2026")


def test_rekey_on_every_store(make_store: StoreFactory, tmp_path: Path) -> None:
    old, new = make_store(), make_store()
    h = Handler(old, POLICY, OLD)
    h.handle([validate_event(e, h.taxonomy) for e in alice_before()])
    h.handle([validate_event(ERASURE, h.taxonomy)])  # applied directly: not in the source file
    h.handle([validate_event(erased("erase-z", "2026-03-10T00:00:00Z", subject="zed@example.com"), h.taxonomy)])
    (alert,) = old.alerts(rule="undeclared-recipient-type")
    assert old.acknowledge_alert(alert.alert_id)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in alice_before()), encoding="utf-8")

    report = rekey(old, OLD, new, NEW, POLICY, [events], MemoryDeadLetters())
    assert (report.tombstones_carried, report.tombstones_lost) == (1, 1)  # zed's id is nowhere in the source
    assert report.ingest.suppressed == 5 and report.ingest.applied == 1  # Alice stays erased; Bob comes across
    assert not report.complete
    report = rekey(old, OLD, new, NEW, POLICY, [events], MemoryDeadLetters(), subjects=["zed@example.com"])
    assert report.complete and report.tombstones_carried == 2 and report.acknowledgements_carried == 1
    assert new.stats() == old.stats()
    assert new.who_has(NEW(ALICE)) is None and new.who_has(OLD(BOB)) is None
    bob = new.who_has(NEW(BOB))
    assert bob is not None and bob == old.who_has(OLD(BOB)).model_copy(update={"subject": NEW(BOB)})  # type: ignore[union-attr]
    assert [t.recipients for t in new.erasures([NEW(ALICE)])[NEW(ALICE)]] == [("brokr", "hk-affiliate")]
    assert [(a.alert_id, a.status) for a in new.alerts()] == [(a.alert_id, a.status) for a in old.alerts()]
