"""Reports on every GraphStore: the same golden stream gives the same reports, and reports never write."""

from __future__ import annotations

from datetime import UTC, datetime

from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore
from reports.access import access_report
from reports.art19 import art19_report
from reports.ccpa import ccpa_report
from reports.gaps import gaps_report
from reports.ropa import ropa_report
from schemas.parsing import validate_event
from schemas.reports import Report
from streams.handler import Handler
from tests.contract.conftest import StoreFactory
from tests.reports.test_reports import ALICE, BOB, CAROL, KEY, NOW, POLICY, golden_events, load_golden

FEB = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


def reports(store: GraphStore) -> dict[str, Report]:
    return {
        "access-alice": access_report(store, KEY, POLICY, ALICE, now=NOW),
        "access-alice-feb": access_report(store, KEY, POLICY, ALICE, *FEB, now=NOW),
        "access-bob": access_report(store, KEY, POLICY, BOB, now=NOW),
        "access-carol": access_report(store, KEY, POLICY, CAROL, now=NOW),
        "art19-alice": art19_report(store, KEY, ALICE, POLICY, now=NOW),
        "ccpa": ccpa_report(store, POLICY, now=NOW),
        "ccpa-feb": ccpa_report(store, POLICY, *FEB, now=NOW),
        "gaps": gaps_report(store, POLICY, now=NOW),
        "gaps-feb": gaps_report(store, POLICY, *FEB, now=NOW),
        "ropa": ropa_report(store, POLICY, now=NOW),
    }


def test_every_store_gives_the_reports_sqlite_gives(make_store: StoreFactory) -> None:
    expected = reports(load_golden(SQLiteGraphStore(":memory:")))
    got = reports(load_golden(make_store()))
    for name in expected:
        assert got[name] == expected[name], name


def test_two_stores_fed_in_different_orders_give_equal_reports(make_store: StoreFactory) -> None:
    first = load_golden(make_store())
    second = make_store()
    handler = Handler(second, POLICY, KEY)
    for raw in reversed(golden_events()):  # one event per batch, newest first
        handler.handle([validate_event(raw, handler.taxonomy)])
    assert reports(second) == reports(first)


def test_reports_never_write(make_store: StoreFactory) -> None:
    store = load_golden(make_store())
    before = (store.stats(), store.alerts(), store.flows(), store.who_has(KEY(ALICE)))
    reports(store)
    assert (store.stats(), store.alerts(), store.flows(), store.who_has(KEY(ALICE))) == before


def test_the_access_report_tells_sold_shared_and_business_purpose_apart(make_store: StoreFactory) -> None:
    store = load_golden(make_store())
    whole, feb, bob = (access_report(store, KEY, POLICY, *a, now=NOW) for a in ((ALICE,), (ALICE, *FEB), (BOB,)))
    # the broker bought Alice's address and had it shared for advertising; the advertiser had it shared
    assert whole.ccpa.sold_statement == "Sold: A. Identifiers to Data brokers."
    assert whole.ccpa.shared_statement == (
        "Shared for cross-context behavioural advertising: A. Identifiers to Advertisers and advertising networks; "
        "A. Identifiers to Data brokers."
    )
    assert {r.id: r.ccpa_disclosure for r in whole.recipients} == {
        "adnet": ["shared"], "brokr": ["sold", "shared"], "hk-affiliate": ["business_purpose"],
    }  # fmt: skip
    # in February only the advertiser and the affiliate received it: nothing was sold then
    assert (feb.ccpa.categories_sold, feb.ccpa.sold_statement) == (
        [],
        "None: no personal information about you was sold.",
    )
    assert feb.ccpa.shared_statement.endswith(": A. Identifiers to Advertisers and advertising networks.")
    # Bob's address went to the police only: a business purpose, neither sold nor shared
    assert (bob.ccpa.categories_sold, bob.ccpa.categories_shared) == ([], [])
    assert bob.ccpa.shared_statement == (
        "None: no personal information about you was shared for cross-context behavioural advertising."
    )
    assert bob.ccpa.disclosed_for_business_purpose_statement == (
        "Disclosed for a business purpose: A. Identifiers to Government entities, courts and law enforcement."
    )
