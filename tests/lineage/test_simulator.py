"""The traffic simulator: reproducible, on contract, in time order, and its truth marks agree with the evaluator."""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from lineage.simulator import DEFAULT_START, SimulatedEvent, registry_yaml, simulate, simulated_registry, write_jsonl
from lineage.traffic import PLANTED
from policies import compliance
from policies.compliance import RULES, PolicyEvaluator
from policies.consent import ConsentState, consent_record
from policies.new_recipients import NewRecipients
from policies.rules import NEW_RECIPIENT, RECIPIENT_COUNTRY_MISMATCH, SALE_AFTER_OPT_OUT, TRANSFER_WITHOUT_SAFEGUARD
from policies.transfers import TransferJudge
from schemas.events import AnyEvent, DataShared, OptedOut, RecipientType
from schemas.parsing import EventError, parse_event, validate_event
from schemas.policy import Policy

PEOPLE, DAYS, SEED = 300, 30, 20260101  # the large stream the precision/recall check runs on


@dataclass(frozen=True)
class Judged:
    """A simulated event, its validation (None if it failed) and the rule ids the evaluator found."""

    sim: SimulatedEvent
    parsed: AnyEvent | None
    error: str
    found: frozenset[str]


@pytest.fixture(scope="module")
def big_stream(policy: Policy) -> list[Judged]:
    """PEOPLE people over DAYS days, each event validated against the contract and judged by the evaluator (with
    each person's opt-outs so far), the transfer rules and the new-recipient rule against the simulated world's
    recipient registry."""
    taxonomy = policy.taxonomy()
    evaluator = PolicyEvaluator(policy)
    transfers = TransferJudge(simulated_registry(), policy.version)
    new = NewRecipients(simulated_registry(), policy.version)
    seen: set[str] = set()
    consent: dict[str, ConsentState] = {}
    out: list[Judged] = []
    for sim in simulate(PEOPLE, DAYS, SEED):
        try:
            parsed = validate_event(sim.event, taxonomy)
        except EventError as exc:
            out.append(Judged(sim, None, str(exc), frozenset()))
            continue
        person = parsed.subject.id  # the person's own id stands in for a pseudonym: nothing is stored
        if isinstance(parsed, OptedOut):
            state = consent.get(person) or ConsentState(person, ())
            consent[person] = state.merged((consent_record(parsed, person),))
        found = evaluator.evaluate(parsed, "p_simulated", consent.get(person))
        if isinstance(parsed, DataShared):
            found += transfers.judge(parsed, "p_simulated")
            if new.firsts([parsed], seen):
                found += (new.finding(parsed, "p_simulated"),)
            seen.add(parsed.recipient.id)
        out.append(Judged(sim, parsed, "", frozenset(f.rule for f in found)))
    return out


def _lines(events: list[SimulatedEvent]) -> list[str]:
    return [json.dumps(s.event, sort_keys=True) + repr((s.undeclared, s.note)) for s in events]


# -- reproducibility ----------------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_stream() -> None:
    first = _lines(list(simulate(40, 6, 7, undeclared_rate=0.1)))
    second = _lines(list(simulate(40, 6, 7, undeclared_rate=0.1)))
    assert first and first == second


def test_a_different_seed_gives_a_different_stream() -> None:
    a = list(simulate(40, 6, 7))
    b = list(simulate(40, 6, 8))
    assert _lines(a) != _lines(b)
    assert {s.event["event_id"] for s in a}.isdisjoint({s.event["event_id"] for s in b})


def test_the_default_start_is_fixed_not_now() -> None:
    events = list(simulate(5, 2, 1))
    assert events[0].event["occurred_at"].startswith(DEFAULT_START.strftime("%Y-%m-%d"))
    assert _lines(events) == _lines(list(simulate(5, 2, 1, start=DEFAULT_START)))


# -- the contract -------------------------------------------------------------------------------------------------


def test_every_event_meets_the_contract(big_stream: list[Judged]) -> None:
    failures = [(j.sim.event["event_id"], j.sim.note, j.error) for j in big_stream if j.parsed is None]
    assert not failures, failures[:5]
    assert len(big_stream) > 30_000


def test_event_ids_are_unique_uuid4(big_stream: list[Judged]) -> None:
    ids = [j.sim.event["event_id"] for j in big_stream]
    assert len(set(ids)) == len(ids)
    for raw in ids[:2000]:
        parsed = uuid.UUID(raw)
        assert str(parsed) == raw
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_events_name_the_customer_and_subjects_are_emails(big_stream: list[Judged]) -> None:
    for j in big_stream:
        event = j.sim.event
        assert event["kind"] == "opted_out" or event["customer"], event
        local, at, domain = event["subject"]["id"].partition("@")
        assert local and at and domain.endswith(".example"), event["subject"]


def test_each_person_is_one_stable_subject_of_one_customer(big_stream: list[Judged]) -> None:
    customers: dict[str, set[str]] = {}
    for j in big_stream:
        if j.sim.event["kind"] != "opted_out":
            customers.setdefault(j.sim.event["subject"]["id"], set()).add(j.sim.event["customer"])
    assert PEOPLE * 0.8 <= len(customers) <= PEOPLE  # nearly everyone is active at least once
    assert all(len(c) == 1 for c in customers.values())


# -- time ---------------------------------------------------------------------------------------------------------


def _times(events: list[SimulatedEvent]) -> list[datetime]:
    return [datetime.fromisoformat(s.event["occurred_at"]) for s in events]


def test_events_are_in_time_order_within_the_period(big_stream: list[Judged]) -> None:
    times = [j.parsed.occurred_at for j in big_stream if j.parsed is not None]
    assert times == sorted(times)
    assert times[0] >= DEFAULT_START and times[-1] < DEFAULT_START + timedelta(days=DAYS)
    assert times[-1] >= DEFAULT_START + timedelta(days=DAYS - 1)  # the stream covers the last day too


def test_a_start_with_an_offset_and_microseconds_is_respected() -> None:
    start = datetime(2025, 6, 30, 22, 15, 30, 250_000, tzinfo=timezone(timedelta(hours=8)))
    events = list(simulate(30, 3, 11, start=start))
    times = _times(events)
    assert times == sorted(times)
    assert start <= times[0] and times[-1] < start + timedelta(days=3)
    assert all(s.event["occurred_at"].endswith("Z") for s in events)


def test_a_naive_start_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        list(simulate(1, 1, 1, start=datetime(2026, 1, 1)))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        list(simulate(-1, 1, 1))
    with pytest.raises(ValueError):
        list(simulate(1, 1, 1, undeclared_rate=1.5))


def test_no_people_or_no_days_give_no_events() -> None:
    assert list(simulate(0, 10, 1)) == []
    assert list(simulate(10, 0, 1)) == []


# -- truth marks against the evaluator ----------------------------------------------------------------------------


def test_the_evaluator_finds_exactly_the_planted_flows(big_stream: list[Judged]) -> None:
    judged = [j for j in big_stream if j.parsed is not None]
    flagged = [j for j in judged if j.found]
    planted = [j for j in judged if j.sim.undeclared]
    true_positives = [j for j in flagged if j.sim.undeclared]
    assert planted and flagged
    precision = len(true_positives) / len(flagged)
    recall = len(true_positives) / len(planted)
    false_alarms = Counter((j.sim.note, tuple(sorted(j.found))) for j in flagged if not j.sim.undeclared)
    missed = Counter(j.sim.note for j in planted if not j.found)
    assert (precision, recall) == (1.0, 1.0), (false_alarms.most_common(5), missed.most_common(5))
    wrong_rules = Counter(
        (j.sim.note, tuple(sorted(j.sim.undeclared)), tuple(sorted(j.found)))
        for j in planted
        if j.found != frozenset(j.sim.undeclared)
    )
    assert not wrong_rules, wrong_rules.most_common(5)


def test_every_planted_kind_appears_and_names_real_rules(big_stream: list[Judged]) -> None:
    rule_ids = {r.id for r in RULES}
    notes = Counter(j.sim.note for j in big_stream if j.sim.undeclared)
    for flow in PLANTED:
        assert flow.rules and set(flow.rules) <= rule_ids, flow
        assert notes[flow.note] > 0, f"planted flow never drawn: {flow.note}"
    assert len({f.note for f in PLANTED}) == len(PLANTED)  # notes identify the kinds


def test_planted_flows_exercise_every_collection_use_and_disclosure_rule(big_stream: list[Judged]) -> None:
    planted_rules = {rule for j in big_stream for rule in j.sim.undeclared}
    exercised = {
        compliance.UNDECLARED_CATEGORY.id,
        compliance.UNDECLARED_SOURCE.id,
        compliance.UNDECLARED_SUBJECT_TYPE.id,
        compliance.UNDECLARED_PURPOSE.id,
        compliance.UNDECLARED_RECIPIENT_TYPE.id,
        compliance.UNDECLARED_DISCLOSURE_PURPOSE.id,
        compliance.PROCESSOR_BEYOND_INSTRUCTIONS.id,
        TRANSFER_WITHOUT_SAFEGUARD.id,
        RECIPIENT_COUNTRY_MISMATCH.id,
        NEW_RECIPIENT.id,
        SALE_AFTER_OPT_OUT.id,
    }
    assert exercised <= planted_rules <= {r.id for r in RULES}


def test_gpc_opt_outs_stop_declared_sales_and_sharing_and_only_planted_ones_follow(big_stream: list[Judged]) -> None:
    """Some web users' browsers send a Global Privacy Control signal when they join; from then on no declared
    disclosure of theirs is a sale or sharing, and every one that is (a job ignoring the opt-out, or a planted flow)
    is marked sale-after-opt-out. Recall and precision are checked with the other rules above."""
    opted: dict[str, str] = {}
    after = 0
    for j in big_stream:
        event = j.sim.event
        if event["kind"] == "opted_out":
            assert (event["scope"], event["signal"], j.sim.undeclared) == ("sale_and_sharing", "gpc", ())
            opted[event["subject"]["id"]] = event["occurred_at"]
        elif SALE_AFTER_OPT_OUT.id in j.sim.undeclared:
            assert event["occurred_at"] > opted[event["subject"]["id"]]
            after += 1
    assert len(opted) >= 10 and after >= 20
    ignored = [j for j in big_stream if "despite the person's opt-out" in j.sim.note]
    assert ignored and all(j.sim.undeclared == (SALE_AFTER_OPT_OUT.id,) for j in ignored)
    assert not any(s.event["kind"] == "opted_out" for s in simulate(10, 3, 5, undeclared_rate=1.0))


def test_the_undeclared_share_is_near_the_rate(big_stream: list[Judged]) -> None:
    share = sum(1 for j in big_stream if j.sim.undeclared) / len(big_stream)
    assert share == pytest.approx(0.02, abs=0.003)
    small = list(simulate(60, 10, 3, undeclared_rate=0.25))
    assert sum(1 for s in small if s.undeclared) / len(small) == pytest.approx(0.25, abs=0.02)


def test_rate_zero_plants_nothing_and_rate_one_plants_everything() -> None:
    none = list(simulate(80, 10, 5, undeclared_rate=0.0))
    assert none and not any(s.undeclared for s in none)
    everything = list(simulate(10, 3, 5, undeclared_rate=1.0))
    assert everything and all(s.undeclared for s in everything)


def test_declared_traffic_reaches_every_recipient_type_but_data_brokers(big_stream: list[Judged]) -> None:
    declared = Counter(
        j.sim.event["recipient"]["type"] for j in big_stream if "recipient" in j.sim.event and not j.sim.undeclared
    )
    assert set(declared) == {t.value for t in RecipientType} - {RecipientType.DATA_BROKER.value}


def test_recipients_are_stable_and_described(big_stream: list[Judged]) -> None:
    by_id: dict[str, str] = {}
    for j in big_stream:
        recipient = j.sim.event.get("recipient")
        if recipient is None or RECIPIENT_COUNTRY_MISMATCH.id in j.sim.undeclared:
            continue  # the planted mismatch names a registered recipient in another country
        assert recipient["name"] and recipient["country"] and "@" in recipient["contact"], recipient
        by_id.setdefault(recipient["id"], json.dumps(recipient, sort_keys=True))
        assert by_id[recipient["id"]] == json.dumps(recipient, sort_keys=True)


def test_all_three_kinds_and_both_roles_occur_in_declared_traffic(big_stream: list[Judged]) -> None:
    declared = [j.sim.event for j in big_stream if not j.sim.undeclared]
    assert {e["kind"] for e in declared} == {"collected", "used", "shared", "opted_out"}
    assert {e["role"] for e in declared if "role" in e} == {"controller", "processor"}
    assert {e["source"]["type"] for e in declared if "source" in e} == {
        "data_subject",
        "customer",
        "third_party",
        "automatic",
    }


# -- writing ------------------------------------------------------------------------------------------------------


def test_write_jsonl_round_trips_and_the_truth_file_lists_the_undeclared_events(policy: Policy) -> None:
    events = list(simulate(50, 7, 9, undeclared_rate=0.05))
    out, truth = io.StringIO(), io.StringIO()
    summary = write_jsonl(events, out, truth)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(events) == summary.events
    taxonomy = policy.taxonomy()
    for line, sim in zip(lines, events, strict=True):
        assert line == json.dumps(sim.event, separators=(",", ":"), ensure_ascii=False)  # compact, one per line
        assert parse_event(line, taxonomy) == validate_event(sim.event, taxonomy)
    marks = [json.loads(line) for line in truth.getvalue().splitlines()]
    expected = {s.event["event_id"]: s for s in events if s.undeclared}
    assert [m["event_id"] for m in marks] == list(expected)
    for mark in marks:
        assert set(mark) == {"event_id", "expected_rules", "note"}
        assert mark["expected_rules"] == list(expected[mark["event_id"]].undeclared)
        assert mark["note"] == expected[mark["event_id"]].note
    assert summary.undeclared == len(marks) > 0
    assert sum(summary.by_kind.values()) == summary.events
    assert summary.by_rule == dict(Counter(r for s in events for r in s.undeclared))
    assert summary.first_at == events[0].event["occurred_at"] and summary.last_at == events[-1].event["occurred_at"]
    assert str(summary).startswith(f"{summary.events} events")


def test_write_jsonl_without_a_truth_file_and_with_no_events() -> None:
    out = io.StringIO()
    summary = write_jsonl(simulate(5, 2, 1), out, None)
    assert summary.events == len(out.getvalue().splitlines()) > 0
    empty = write_jsonl([], io.StringIO(), io.StringIO())
    assert (empty.events, empty.undeclared, empty.first_at) == (0, 0, None)
    assert datetime.fromisoformat(summary.last_at or "").tzinfo == UTC


def test_the_simulated_registry_is_a_valid_registry_file(tmp_path: Path) -> None:
    from policies.recipients import read_registry

    path = tmp_path / "recipients.yaml"
    path.write_text(registry_yaml(), encoding="utf-8")
    registry, problems = read_registry(path)
    assert problems == [] and registry == simulated_registry()
