"""Art. 19 notices on every store: kept by pseudonym apart from the graph, one per (request, recipient) unless
resent, acknowledged once, untouched by a later erasure; the status each recipient on the list is in; what each
recipient received, kept with the erasure's tombstone, so that a notice sent after the erasure names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph.store import GraphStore
from reports.art19 import art19_report
from reports.notices import notice_id, statuses
from schemas.notices import NoticeRecord, RequestKind
from schemas.recipients import PersonReference, RecipientRegistry, RegisteredRecipient
from streams.notify import NothingToNotify, send_art19_notices
from tests.contract.conftest import StoreFactory
from tests.contract.test_erasure import ALICE, BOB, ERASURE, KEY, POLICY, alice_before, erased, handle
from tests.factories import ADVERTISER, AFFILIATE, BROKER, event
from tests.streams.test_notify import MemoryNoticeSink

T0 = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


def record(n: str, subject: str = "p1", recipient: str = "brokr", at: datetime = T0) -> NoticeRecord:
    return NoticeRecord(
        notice_id=n, subject=subject, request="erase-1", kind=RequestKind.ERASURE, recipient=recipient,
        channel="file", sent_at=at,
    )  # fmt: skip


def test_a_notice_is_kept_once_by_its_id_and_read_back_by_person_or_id(store: GraphStore) -> None:
    assert store.notices() == [] and store.notices("p1") == [] and store.notices(notice_id="n_x") == []
    first, second = record("n_1"), record("n_2", recipient="hk-affiliate", at=T0 + timedelta(seconds=1))
    assert store.record_notice(first) is True
    assert store.record_notice(record("n_1", recipient="other", at=T0 + timedelta(days=1))) is False  # kept as first
    assert store.record_notice(second) is True
    store.record_notice(record("n_3", subject="p2"))
    assert store.notices("p1") == [first, second]
    assert store.notices(notice_id="n_2") == [second]
    assert [n.notice_id for n in store.notices()] == ["n_1", "n_3", "n_2"]  # oldest first, then by id


def test_the_first_acknowledgement_stays(store: GraphStore) -> None:
    assert store.acknowledge_notice("n_missing", T0, "dpo") is None
    store.record_notice(record("n_1"))
    acked = store.acknowledge_notice("n_1", T0 + timedelta(hours=2), "dpo@sos")
    assert acked is not None and acked.acknowledged_at == T0 + timedelta(hours=2) and acked.acknowledged_by == "dpo@sos"
    again = store.acknowledge_notice("n_1", T0 + timedelta(days=3), "someone else")
    assert again == acked == store.notices(notice_id="n_1")[0]


def test_sending_notifies_each_recipient_once_per_erasure_unless_resent(store: GraphStore) -> None:
    handle(store, *alice_before(), ERASURE)
    sink = MemoryNoticeSink()
    sent = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    assert [(o.outcome, o.recipient, o.request) for o in sent] == [
        ("sent", "brokr", "erase-1"), ("sent", "hk-affiliate", "erase-1"),
    ]  # fmt: skip
    assert [n.notice_id for n in sink.notices] == [
        notice_id(KEY(ALICE), "erase-1", r, 0) for r in ("brokr", "hk-affiliate")
    ]
    kept = store.notices(KEY(ALICE))  # oldest first, then by notice id
    assert sorted((n.recipient, n.channel, n.sent_at, n.subject) for n in kept) == [
        ("brokr", "memory", T0, KEY(ALICE)), ("hk-affiliate", "memory", T0, KEY(ALICE)),
    ]  # fmt: skip
    again = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, now=T0 + timedelta(days=1))
    assert [o.outcome for o in again] == ["already-sent", "already-sent"] and len(sink.notices) == 2
    assert store.notices(KEY(ALICE)) == kept
    resent = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, resend=True, now=T0 + timedelta(days=1))
    assert [o.outcome for o in resent] == ["sent", "sent"] and len(store.notices(KEY(ALICE))) == 4
    assert {o.notice.notice_id for o in resent if o.notice} == {
        notice_id(KEY(ALICE), "erase-1", r, 1) for r in ("brokr", "hk-affiliate")
    }


def test_a_dry_run_and_a_failed_sink_record_nothing(store: GraphStore) -> None:
    handle(store, *alice_before(), ERASURE)
    dry = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, None, now=T0)
    assert [o.outcome for o in dry] == ["would-send", "would-send"] and store.notices() == []
    sink = MemoryNoticeSink(fail_for={"brokr"})
    sent = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    assert [(o.outcome, o.recipient) for o in sent] == [("failed", "brokr"), ("sent", "hk-affiliate")]
    assert [s.status for s in statuses(store, KEY(ALICE))] == ["not-sent", "sent"]


def test_status_of_each_recipient_on_the_list(store: GraphStore) -> None:
    handle(store, *alice_before(), ERASURE)
    assert [(s.recipient_id, s.status, s.request) for s in statuses(store, KEY(ALICE))] == [
        ("brokr", "not-sent", "erase-1"), ("hk-affiliate", "not-sent", "erase-1"),
    ]  # fmt: skip
    send_art19_notices(store, KEY(ALICE), ALICE, POLICY, MemoryNoticeSink(), now=T0)
    nid = notice_id(KEY(ALICE), "erase-1", "brokr", 0)
    store.acknowledge_notice(nid, T0 + timedelta(days=2), "dpo")
    got = statuses(store, KEY(ALICE))
    assert [(s.recipient_id, s.recipient_name, s.status, s.channel, s.sent_at) for s in got] == [
        ("brokr", "DataBrokr Inc", "acknowledged", "memory", T0),
        ("hk-affiliate", "SOS Hong Kong Ltd", "sent", "memory", T0),
    ]
    assert got[0].acknowledged_at == T0 + timedelta(days=2) and got[0].acknowledged_by == "dpo"
    # a second erasure (new data after the first) is a request of its own; the first one's notices stay
    handle(store, erased("erase-2", "2026-04-01T00:00:00Z"))
    assert [(s.request, s.status) for s in statuses(store, KEY(ALICE))] == [
        ("erase-1", "acknowledged"),
        ("erase-1", "sent"),
    ]  # erase-2 found nothing disclosed: nobody on its list


def test_nothing_to_notify_without_an_erasure(store: GraphStore) -> None:
    with pytest.raises(NothingToNotify) as unknown:
        send_art19_notices(store, KEY(ALICE), ALICE, POLICY, MemoryNoticeSink())
    assert unknown.value.known is False
    handle(store, *alice_before())
    with pytest.raises(NothingToNotify) as known:
        send_art19_notices(store, KEY(BOB), BOB, POLICY, MemoryNoticeSink())
    assert known.value.known is True and "alice" not in str(known.value) and "bob" not in str(known.value)


def test_a_notice_names_the_person_only_by_the_recipients_reference_or_the_pseudonym(store: GraphStore) -> None:
    handle(store, *alice_before(), ERASURE)
    registry = RecipientRegistry(recipients=[
        RegisteredRecipient(id="brokr", name="DataBrokr Inc", type="data_broker", country="US", role="controller",
                            contact="privacy@brokr.example", person_reference=PersonReference.SHA256_EMAIL),
    ])  # fmt: skip
    sink = MemoryNoticeSink()
    send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, registry=registry, now=T0)
    broker, affiliate = sink.notices
    assert broker.person.scheme == "sha256-email" and len(broker.person.value) == 64
    assert broker.recipient_contact == "privacy@brokr.example"
    assert affiliate.person.scheme == "pseudonym" and affiliate.person.value == KEY(ALICE)
    for n in sink.notices:
        assert ALICE not in n.model_dump_json() and "alice" not in n.model_dump_json().lower()


def test_the_art19_report_shows_each_recipients_notice(store: GraphStore) -> None:
    handle(store, *alice_before(), ERASURE)
    before = art19_report(store, KEY, ALICE, POLICY, now=T0)
    assert before.recipients == [] and [n.status for n in before.notices] == ["not-sent", "not-sent"]
    statement = before.notices_statement
    assert statement.startswith("2 notice(s) due under Art. 19") and "2 not sent" in statement
    send_art19_notices(store, KEY(ALICE), ALICE, POLICY, MemoryNoticeSink(), now=T0)
    after = art19_report(store, KEY, ALICE, POLICY, now=T0)
    assert after.notices == statuses(store, KEY(ALICE)) and {n.status for n in after.notices} == {"sent"}
    assert art19_report(store, KEY, BOB, POLICY, now=T0).notices_statement == (
        "No erasure is recorded for this person, so no notice is due."
    )


# Alice's name went to the broker as well: the recipients received different categories
NAME_TO_BROKER = event("shared", event_id="a-s3", occurred_at="2026-03-04T12:00:00Z", recipient=BROKER,
                       purpose="marketing.advertising", data_categories=["user.name"])  # fmt: skip
RECEIVED = (("brokr", "user.contact.email"), ("brokr", "user.name"), ("hk-affiliate", "user.contact.email"))


def test_notices_sent_after_the_erasure_name_what_erase_notify_names(make_store: StoreFactory) -> None:
    """Erased today, notified tomorrow (lineage notify art19, the console) says what erasing and notifying at once
    (lineage erase --notify, which reads the categories before the erasure) says, on a twin store."""
    at_once, later = make_store(), make_store()
    handle(at_once, *alice_before(), NAME_TO_BROKER)
    read_before = art19_report(at_once, KEY, ALICE, POLICY, now=T0)  # what erase --notify reads first
    received = {r.id: [c.key for c in r.categories] for r in read_before.recipients}
    handle(at_once, ERASURE)
    sent_at_once = MemoryNoticeSink()
    send_art19_notices(at_once, KEY(ALICE), ALICE, POLICY, sent_at_once, now=T0, received=received)

    handle(later, *alice_before(), NAME_TO_BROKER)
    handle(later, ERASURE)
    assert later.who_has(KEY(ALICE)) is None  # the evidence is gone
    sent_later = MemoryNoticeSink()
    send_art19_notices(later, KEY(ALICE), ALICE, POLICY, sent_later, now=T0 + timedelta(days=1))
    assert {n.recipient_id: n.categories for n in sent_later.notices} == {
        "brokr": ["user.contact.email", "user.name"], "hk-affiliate": ["user.contact.email"],
    }  # fmt: skip
    assert [n.model_copy(update={"sent_at": T0}) for n in sent_later.notices] == sent_at_once.notices
    assert all("as recorded before the erasure" in n.categories_statement for n in sent_later.notices)
    assert [(s.recipient_id, s.categories) for s in statuses(later, KEY(ALICE))] == [
        ("brokr", ["user.contact.email", "user.name"]), ("hk-affiliate", ["user.contact.email"]),
    ]  # fmt: skip
    report = art19_report(later, KEY, ALICE, POLICY, now=T0)
    assert report.notices == statuses(later, KEY(ALICE)) and ALICE not in str(later.erasures(None))


def test_the_tombstone_keeps_what_each_recipient_received_once(store: GraphStore) -> None:
    handle(store, *alice_before(), NAME_TO_BROKER, ERASURE)
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert tomb.received == RECEIVED and tomb.recipients == ("brokr", "hk-affiliate")
    kept = store.erasures(None)
    handle(store, ERASURE)  # repeated
    handle(store, *alice_before(), NAME_TO_BROKER, ERASURE)  # replayed
    assert store.erasures(None) == kept
    # a disclosure the erasure covers, learnt of late: its recipient and what it received join the list, once
    late = event("shared", event_id="a-s9", occurred_at="2026-03-08T00:00:00Z", recipient=ADVERTISER,
                 purpose="marketing.advertising", data_categories=["user.name", "user.contact.email"])  # fmt: skip
    late_again = late | {"event_id": "a-s9-again", "data_categories": ["user.name"]}
    handle(store, late)
    handle(store, late, late_again)
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert tomb.recipients == ("adnet", "brokr", "hk-affiliate")
    assert tomb.received == (("adnet", "user.contact.email"), ("adnet", "user.name"), *RECEIVED)
    # a second erasure after new disclosures keeps its own: the first one's stay as they were
    handle(store, event("shared", event_id="a-s10", occurred_at="2026-03-12T09:00:00Z", recipient=AFFILIATE,
                        data_categories=["user.name"]), erased("erase-2", "2026-04-01T00:00:00Z"))  # fmt: skip
    first, second = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert first == tomb and second.received == (("hk-affiliate", "user.name"),)
    assert [(s.request, s.recipient_id, s.categories) for s in statuses(store, KEY(ALICE))] == [
        ("erase-1", "adnet", ["user.contact.email", "user.name"]),
        ("erase-1", "brokr", ["user.contact.email", "user.name"]),
        ("erase-1", "hk-affiliate", ["user.contact.email"]),
        ("erase-2", "hk-affiliate", ["user.name"]),
    ]
    # the second erasure's notice names only what it erased
    sink = MemoryNoticeSink()
    send_art19_notices(store, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    assert [(n.request, n.recipient_id, n.categories) for n in sink.notices][-1] == (
        "erase-2", "hk-affiliate", ["user.name"],
    )  # fmt: skip


def older_store(store: GraphStore) -> None:
    """What the conversion tests of both stores write before they take the store back to the version before
    tombstones kept what each recipient received: Alice's history, erased."""
    handle(store, *alice_before(), NAME_TO_BROKER, ERASURE)


def check_older_store(store: GraphStore) -> None:
    """A store converted from that version: its tombstone keeps whom to tell and no categories, so its notices say
    "every category disclosed to you", and a disclosure learnt of late adds its recipient but no categories; an
    erasure applied from then on records them."""
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert tomb.received is None and tomb.recipients == ("brokr", "hk-affiliate")
    late = event("shared", event_id="a-s9", occurred_at="2026-03-08T00:00:00Z", recipient=ADVERTISER,
                 purpose="marketing.advertising", data_categories=["user.name"])  # fmt: skip
    handle(store, late)
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert tomb.received is None and tomb.recipients == ("adnet", "brokr", "hk-affiliate")
    assert {s.categories is None for s in statuses(store, KEY(ALICE))} == {True}
    dry = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, None, now=T0)
    for o in dry:
        assert o.notice is not None and o.notice.categories == []
        assert o.notice.categories_statement.startswith("Every category of this person's personal data we disclosed")
    handle(store, event("shared", event_id="b-s2", subject_id=BOB, occurred_at="2026-03-05T00:00:00Z",
                        recipient=AFFILIATE), erased("erase-bob", "2026-03-10T00:00:00Z", subject=BOB))  # fmt: skip
    (bob,) = store.erasures([KEY(BOB)])[KEY(BOB)]
    assert bob.received == (("brokr", "user.contact.email"), ("hk-affiliate", "user.contact.email"))
