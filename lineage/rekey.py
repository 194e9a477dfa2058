"""Pseudonym-key rotation: rebuild a store under a new key from the source events, carrying tombstones across.

Pseudonyms are HMACs: nobody, not even the tracker, can turn one back into the subject id, so a store cannot be
re-keyed in place from what it holds. Rotation therefore rebuilds: the source events (files, or a dump of the
events topic) are applied to a fresh store with the new key through the usual handler. What exists only in the
old store is carried across where it can be:

* tombstones (erasures applied with ``lineage erase`` need not be in the source): an old tombstone is re-created
  under the new pseudonym when the subject id behind it appears in the source events or in a supplied list of
  subject ids, keeping its event id, time, reason, Art. 19 recipients and what each of them received;
* Art. 19 notices (kept by pseudonym) go with their person's tombstones: each is recorded again under the new
  pseudonym with its notice id (what the recipient quotes), sending time, sink and acknowledgement;
* acknowledged alerts (alert ids do not depend on people) are acknowledged again.

The rebuild is idempotent (event ids), so an interrupted rotation is simply run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from graph.changes import ChangeSet
from graph.projection import project
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore, StoreConfigError
from policies.transfers import RecipientRules
from schemas.answers import StoreStats
from schemas.jsontext import JsonTextError, loads
from schemas.parsing import DEFAULT_TIME_WINDOW, TimeWindow, validate_event
from schemas.policy import Policy
from streams.deadletter import DeadLetterSink
from streams.embedded import IngestReport, ingest_lines, read_lines
from streams.handler import Handler


@dataclass
class RekeyReport:
    """What a rotation did, and whether the new store holds all the old one did."""

    old: StoreStats
    new: StoreStats
    ingest: IngestReport = field(default_factory=IngestReport)
    tombstones_carried: int = 0
    tombstones_lost: int = 0  # erased people whose subject id appears neither in the events nor in the list
    acknowledgements_carried: int = 0
    acknowledgements_pending: int = 0  # acknowledged alerts the rebuilt store does not (yet) have
    notices_carried: int = 0
    notices_lost: int = 0  # Art. 19 notices of people whose subject id is neither in the events nor in the list

    @property
    def complete(self) -> bool:
        """True when every tombstone and acknowledgement was carried and nothing applied in the old store is
        missing from the new one (as far as the counts tell)."""
        return (
            self.tombstones_lost == 0
            and self.notices_lost == 0
            and self.acknowledgements_pending == 0
            and self.new.events >= self.old.events
            and self.new.subjects >= self.old.subjects
        )


def subject_ids(paths: Iterable[Path]) -> Iterator[str]:
    """The subject ids named by JSON Lines event files (lines that are not events are skipped: ingest reports them)."""
    for path in paths:
        with path.open("rb") as fh:
            for line in read_lines(fh):
                if not isinstance(line, bytes):
                    continue  # too long to be an event
                try:
                    sid = loads(line)["subject"]["id"]
                except (JsonTextError, KeyError, TypeError):
                    continue
                if isinstance(sid, str):
                    yield sid


def read_subject_list(path: Path) -> Iterator[str]:
    """Subject ids, one a line (blank lines and lines starting with # skipped)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text


def rekey(
    old: GraphStore,
    old_key: Pseudonymizer,
    new: GraphStore,
    new_key: Pseudonymizer,
    policy: Policy,
    events: Iterable[Path],
    dead_letters: DeadLetterSink,
    *,
    subjects: Iterable[str] = (),
    batch_size: int = 1000,
    window: TimeWindow = DEFAULT_TIME_WINDOW,
    recipients: RecipientRules | None = None,
) -> RekeyReport:
    """Rebuild ``new`` (empty, or a rotation to the same key interrupted earlier) from ``events`` under ``new_key``.

    ``old`` must have been written with ``old_key`` (checked); ``recipients`` are the registry rules the events are
    judged by again, as the handler that wrote ``old`` judged them. Raises StoreConfigError when the keys are the same
    or ``new`` belongs to yet another key.
    """
    if old_key.fingerprint == new_key.fingerprint:
        raise StoreConfigError("the new pseudonym key is the key the store already uses: nothing to rotate")
    old.bind_key(old_key.fingerprint)
    # binds the new key, or refuses a store written with another
    handler = Handler(new, policy, new_key, window, recipients)
    files = list(events)
    report = RekeyReport(old=old.stats(), new=new.stats())

    # tombstones first (the outcome does not depend on the order, but the person then never reappears at all)
    known = {old_key(sid): sid for sid in (*subjects, *subject_ids(files))}
    carried: list[ChangeSet] = []
    for pseudonym, tombstones in old.erasures(None).items():
        sid = known.get(pseudonym)
        if sid is None:
            report.tombstones_lost += len(tombstones)
            continue
        for t in tombstones:
            event = validate_event(
                {
                    "schema_version": 1,
                    "event_id": t.event_id,
                    "kind": "erased",
                    "occurred_at": t.erased_at.isoformat(),
                    "emitted_by": "lineage-rekey",
                    "subject": {"id": sid, "type": "customer"},  # the type is not kept, and an erasure needs none
                    **({"reason": t.reason} if t.reason else {}),
                },
                handler.taxonomy,
            )
            cs = project(event, new_key)
            assert cs.erasure is not None
            erasure = replace(cs.erasure, recipients=t.recipients, received=t.received)
            carried.append(cs._replace(erasure=erasure))
    for i in range(0, len(carried), batch_size):
        new.apply(carried[i : i + batch_size])
    report.tombstones_carried = len(carried)

    # the notices of those erasures, under the new pseudonym; the same notice id, so an acknowledgement quoting it
    # still finds it (recording one already carried changes nothing)
    for notice in old.notices():
        sid = known.get(notice.subject)
        if sid is None:
            report.notices_lost += 1
            continue
        new.record_notice(notice.model_copy(update={"subject": new_key(sid)}))
        report.notices_carried += 1

    for path in files:
        with path.open("rb") as fh:
            part = ingest_lines(read_lines(fh), handler, dead_letters, origin=str(path), batch_size=batch_size)
        for name in ("lines", "blank", "applied", "duplicates", "rejected", "suppressed", "failed", "unwritten"):
            setattr(report.ingest, name, getattr(report.ingest, name) + getattr(part, name))

    for alert in old.alerts(status="acknowledged"):
        if new.acknowledge_alert(alert.alert_id):
            report.acknowledgements_carried += 1
        else:
            report.acknowledgements_pending += 1
    report.new = new.stats()
    return report
