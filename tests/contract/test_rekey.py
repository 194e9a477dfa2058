"""Key rotation (lineage.rekey) on every store: rebuilt under the new key, tombstones (with what each recipient
received), Art. 19 notices and acknowledgements carried."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from graph.pseudonym import Pseudonymizer
from lineage.rekey import rekey
from policies import default_policy
from schemas.notices import NoticeRecord, RequestKind
from schemas.parsing import validate_event
from streams.deadletter import MemoryDeadLetters
from streams.handler import Handler
from streams.notify import send_art19_notices
from tests.conftest import TEST_KEY
from tests.contract.conftest import StoreFactory
from tests.contract.test_art19_notices import NAME_TO_BROKER, RECEIVED
from tests.contract.test_erasure import ALICE, BOB, ERASURE, alice_before, erased
from tests.streams.test_notify import MemoryNoticeSink

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
    # Alice's notices, one acknowledged; one to zed's (there was nobody to tell, but a notice kept is carried)
    at = datetime(2026, 3, 20, tzinfo=UTC)
    send_art19_notices(old, OLD(ALICE), ALICE, POLICY, MemoryNoticeSink(), now=at)
    assert old.acknowledge_notice(old.notices(OLD(ALICE))[0].notice_id, at, "dpo") is not None
    zed = NoticeRecord(notice_id="n_zed", subject=OLD("zed@example.com"), request="erase-z",
                       kind=RequestKind.ERASURE, recipient="brokr", channel="file", sent_at=at)  # fmt: skip
    assert old.record_notice(zed)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in alice_before()), encoding="utf-8")

    report = rekey(old, OLD, new, NEW, POLICY, [events], MemoryDeadLetters())
    assert (report.tombstones_carried, report.tombstones_lost) == (1, 1)  # zed's id is nowhere in the source
    assert (report.notices_carried, report.notices_lost) == (2, 1)
    assert report.ingest.suppressed == 5 and report.ingest.applied == 1  # Alice stays erased; Bob comes across
    assert not report.complete
    report = rekey(old, OLD, new, NEW, POLICY, [events], MemoryDeadLetters(), subjects=["zed@example.com"])
    assert report.complete and report.tombstones_carried == 2 and report.acknowledgements_carried == 1
    assert (report.notices_carried, report.notices_lost) == (3, 0)
    assert new.stats() == old.stats()
    assert new.who_has(NEW(ALICE)) is None and new.who_has(OLD(BOB)) is None
    bob = new.who_has(NEW(BOB))
    assert bob is not None and bob == old.who_has(OLD(BOB)).model_copy(update={"subject": NEW(BOB)})  # type: ignore[union-attr]
    assert [t.recipients for t in new.erasures([NEW(ALICE)])[NEW(ALICE)]] == [("brokr", "hk-affiliate")]
    assert [t.received for t in new.erasures([NEW(ALICE)])[NEW(ALICE)]] == [
        (("brokr", "user.contact.email"), ("hk-affiliate", "user.contact.email"))
    ]
    # the notices, under the new pseudonym with their ids, sinks, times and acknowledgement, once (run twice)
    assert new.notices(NEW(ALICE)) == [n.model_copy(update={"subject": NEW(ALICE)}) for n in old.notices(OLD(ALICE))]
    assert len(new.notices(NEW(ALICE))) == 2 and new.notices(NEW(ALICE))[0].acknowledged_by == "dpo"
    assert new.notices(NEW("zed@example.com")) == [zed.model_copy(update={"subject": NEW("zed@example.com")})]
    assert new.notices(OLD(ALICE)) == [] and len(new.notices()) == 3
    assert send_art19_notices(new, NEW(ALICE), ALICE, POLICY, MemoryNoticeSink(), now=at)[0].outcome == "already-sent"
    assert [(a.alert_id, a.status) for a in new.alerts()] == [(a.alert_id, a.status) for a in old.alerts()]


def test_rekey_carries_what_each_recipient_received_with_the_tombstone(make_store: StoreFactory) -> None:
    """Without the source events (erased people's events are often gone from them too), what each recipient received
    comes from the old tombstone alone."""
    old, new = make_store(), make_store()
    h = Handler(old, POLICY, OLD)
    h.handle([validate_event(e, h.taxonomy) for e in [*alice_before(), NAME_TO_BROKER, ERASURE]])
    report = rekey(old, OLD, new, NEW, POLICY, [], MemoryDeadLetters(), subjects=[ALICE])
    assert report.tombstones_carried == 1 and report.ingest.applied == 0
    (tomb,) = new.erasures([NEW(ALICE)])[NEW(ALICE)]
    assert (tomb.event_id, tomb.recipients, tomb.received) == ("erase-1", ("brokr", "hk-affiliate"), RECEIVED)
    again = rekey(old, OLD, new, NEW, POLICY, [], MemoryDeadLetters(), subjects=[ALICE])
    assert again.tombstones_carried == 1 and new.erasures(None) == {NEW(ALICE): [tomb]}
