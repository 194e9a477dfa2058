"""Evidence out of the report body: the events behind the references a report quotes, as a file of its own (CSV or
JSON Lines, one line per reference and event) or as a PDF annex, only when asked for."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TextIO

from graph.aggregate_reads import Evidence, evidence
from graph.store import GraphStore

EVIDENCE_FORMATS = ("csv", "jsonl")
COLUMNS = ("ref", "event_id", "occurred_at")


def evidence_format(path: str) -> str:
    """The format an evidence file's name asks for (``.csv``, ``.jsonl``); ValueError for any other."""
    for fmt in EVIDENCE_FORMATS:
        if path.lower().endswith("." + fmt):
            return fmt
    raise ValueError(f"an evidence file is .csv or .jsonl, not {path!r}")


def _when(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def write_evidence(
    items: Iterable[Evidence], out: TextIO, fmt: str, on_progress: Callable[[int], None] | None = None
) -> int:
    """Write evidence lines (ref, event id, occurred_at) in ``fmt``; return how many. ``on_progress`` is told
    the count every few thousand lines."""
    n = 0
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for e in items:
        if writer is not None:
            writer.writerow((e.ref, e.event_id, _when(e.occurred_at)))
        else:
            out.write(json.dumps({"ref": e.ref, "event_id": e.event_id, "occurred_at": _when(e.occurred_at)}) + "\n")
        n += 1
        if on_progress is not None and n % 5000 == 0:
            on_progress(n)
    if on_progress is not None:
        on_progress(n)
    return n


def annex(
    store: GraphStore,
    refs: Iterable[str],
    since: datetime | None,
    until: datetime | None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, list[str]]:
    """The event ids behind each reference in [since, until) (sorted), for a PDF annex."""
    wanted = list(dict.fromkeys(refs))
    out: dict[str, list[str]] = {ref: [] for ref in wanted}
    for n, e in enumerate(evidence(store, wanted, since, until), 1):
        out[e.ref].append(e.event_id)
        if on_progress is not None and n % 5000 == 0:
            on_progress(n)
    return {ref: sorted(ids) for ref, ids in out.items()}
