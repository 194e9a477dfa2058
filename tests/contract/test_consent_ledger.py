"""GraphStore.consent_and_erasures on every store: everyone's consent records and tombstones in one read, all of them
or those applied since a time (the alerter's bulk load and its incremental refresh)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from graph.store import GraphStore
from tests.contract.test_consent_state import ALICE, BOB, KEY, consent
from tests.contract.test_erasure import erased, handle
from tests.factories import event

CAROL = "carol@example.com"


def test_everyones_consent_records_and_tombstones_oldest_first(store: GraphStore) -> None:
    assert store.consent_and_erasures() == store.consent_and_erasures(None)
    assert store.consent_and_erasures().consent == () and store.consent_and_erasures().tombstones == ()
    handle(
        store,
        consent("opted_out", "o2", "2026-03-05T00:00:00Z", scope="marketing.communications.email"),
        consent(
            "consent_withdrawn",
            "w1",
            "2026-03-02T00:00:00+02:00",
            purposes=["analytics"],
            data_categories=["user.behavior"],
        ),
        consent("consent_withdrawn", "wb", "2026-03-04T00:00:00Z", subject=BOB),
        event("collected", event_id="c-carol", subject_id=CAROL, occurred_at="2026-03-01T00:00:00Z"),
        erased("x-carol", "2026-03-03T00:00:00Z", subject=CAROL),
    )
    ledger = store.consent_and_erasures()
    assert [(c.event_id, c.subject, c.kind) for c in ledger.consent] == [
        ("w1", KEY(ALICE), "consent_withdrawn"),
        ("wb", KEY(BOB), "consent_withdrawn"),
        ("o2", KEY(ALICE), "opted_out"),
    ]
    w1 = ledger.consent[0]
    assert w1.occurred_at == datetime(2026, 3, 1, 22, tzinfo=UTC)
    assert (w1.purposes, w1.categories) == (("analytics",), ("user.behavior",))
    # the same records as the per-person reads give
    per_person = store.consent_state([KEY(ALICE), KEY(BOB)])
    assert {c.event_id: c for c in ledger.consent} == {r.event_id: r for s in per_person.values() for r in s.records}
    (tomb,) = ledger.tombstones
    assert (tomb.event_id, tomb.subject, tomb.erased_at) == ("x-carol", KEY(CAROL), datetime(2026, 3, 3, tzinfo=UTC))
    assert tomb == store.erasures([KEY(CAROL)])[KEY(CAROL)][0]


def test_only_what_was_applied_since_a_time(store: GraphStore) -> None:
    handle(
        store, consent("consent_withdrawn", "w1", "2026-03-02T00:00:00Z"), erased("x-bob", "2026-03-03T00:00:00Z", BOB)
    )
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    handle(
        store, consent("opted_out", "o1", "2026-03-01T00:00:00Z", subject=CAROL), erased("x-al", "2026-03-06T00:00:00Z")
    )
    later = store.consent_and_erasures(between)
    assert [c.event_id for c in later.consent] == ["o1"]
    assert [t.event_id for t in later.tombstones] == ["x-al"]
    nothing = store.consent_and_erasures(datetime.now(UTC) + timedelta(seconds=5))
    assert nothing.consent == () and nothing.tombstones == ()
    everything = store.consent_and_erasures(datetime(2000, 1, 1, tzinfo=UTC))
    # Alice's withdrawal of 2026-03-02 went with her erasure of 2026-03-06: it is no longer recorded
    assert [c.event_id for c in everything.consent] == ["o1"]
    assert [t.event_id for t in everything.tombstones] == ["x-bob", "x-al"]
    assert everything == store.consent_and_erasures()
