"""Text from events is made safe where it is shown: no formula in any CSV cell (every report table, the audit
export), no control character on a terminal (who-has, alerts, erase, the alert log line)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from lineage import render
from lineage.cli import main
from policies import default_policy
from reports.escaping import FORMULA_STARTS, csv_text, printable, spreadsheet_cell
from reports.formats import render_csv
from reports.registry import REPORTS, ReportRequest
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event

FORMULAS = [
    '=HYPERLINK("https://evil.example/?x=1","Click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\uff1dHYPERLINK(1)",
]
ESCAPES = "SOS \x1b[31mRED\x1b[0m \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 \u202egnp.exe\x08\x08 Ltd"
PERSON = "victim@example.com"


def _store() -> SQLiteGraphStore:
    store = SQLiteGraphStore(":memory:")
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    events = [event("collected", subject_id=PERSON, source={"type": "third_party", "name": FORMULAS[0]})]
    for i, name in enumerate([*FORMULAS, ESCAPES]):
        recipient = {"id": name if i < len(FORMULAS) else f"r{i}", "name": name, "type": "data_broker", "country": "US"}
        events.append(event("shared", subject_id=PERSON, recipient=recipient, customer=FORMULAS[1]))
    result = handler.handle([validate_event(e, handler.taxonomy) for e in events])
    assert result.applied == len(events) and not result.failed
    return store


def test_a_cell_that_starts_like_a_formula_becomes_text() -> None:
    for start in FORMULA_STARTS:
        assert spreadsheet_cell(start + "1") == "'" + start + "1"
    assert spreadsheet_cell("SOS Ltd") == "SOS Ltd" and spreadsheet_cell(-5) == -5 and spreadsheet_cell("") == ""
    rows = list(csv.reader(io.StringIO(csv_text(["a"], [[FORMULAS[0]], ['x","=1+1']]))))
    assert rows == [["a"], ["'" + FORMULAS[0]], ['x","=1+1']]  # quoting keeps a value in its own cell


def test_no_cell_of_any_report_table_starts_like_a_formula() -> None:
    store = _store()
    seen = set()
    for kind in REPORTS.values():
        report = kind.build(ReportRequest(store, default_policy(), PERSON, Pseudonymizer(TEST_KEY)))
        for table in kind.table_names:
            for row in csv.reader(io.StringIO(render_csv(report, table))):
                for cell in row:
                    assert not cell.startswith(FORMULA_STARTS) or _number(cell), (kind.name, table, cell)
                    seen.update(f for f in FORMULAS if cell.startswith("'" + f))
    assert seen == set(FORMULAS)  # every hostile name was in some table, made text


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_the_audit_export_makes_formulas_text() -> None:
    from lineage.web.audit import AuditEntry
    from lineage.web.audit_export import to_csv

    entry = AuditEntry.model_construct(
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="dpo",
        role="dpo",
        action="alert-ack",
        endpoint="POST /api/alerts/{alert_id}/ack",
        client="api",
        subject=None,
        target=FORMULAS[0],
        returned={},
        prev="0" * 64,
    )
    (_, row) = list(csv.reader(io.StringIO(to_csv([entry]))))
    assert "'" + FORMULAS[0] in row


def test_terminal_text_shows_escapes_instead_of_obeying_them() -> None:
    shown = printable(ESCAPES + "\nforged line\r")
    assert shown == (
        "SOS \\x1b[31mRED\\x1b[0m \\x1b]8;;https://evil.example\\x07link\\x1b]8;;\\x07 \\u202egnp.exe\\x08\\x08 Ltd"
        "\\x0aforged line\\x0d"
    )
    assert printable("Zoë 😀 עברית\u00a0Ltd") == "Zoë 😀 עברית\u00a0Ltd"


def test_who_has_and_alerts_text_carry_no_control_character() -> None:
    store = _store()
    found = store.who_has(Pseudonymizer(TEST_KEY)(PERSON))
    assert found is not None
    for text in (render.who_has_text(found.model_copy(update={"subject": PERSON})), render.alerts_text(store.alerts())):
        assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in text)
    assert "\\x1b]8;;https://evil.example\\x07" in render.who_has_text(found)


def test_lineage_who_has_and_erase_print_names_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    src = tmp_path / "e.jsonl"
    recipient = {"id": "r1", "name": ESCAPES, "type": "data_broker", "country": "US", "contact": "a\x1b[2Jb"}
    src.write_text(json.dumps(event("shared", subject_id=PERSON, recipient=recipient)) + "\n")
    store = f"sqlite:///{tmp_path / 'l.db'}"
    assert main(["ingest", str(src), "--store", store], io.StringIO(), io.StringIO()) == 0
    for argv in (["who-has", PERSON], ["erase", PERSON, "--reason", "Art. 17"]):
        out = io.StringIO()
        main([*argv, "--store", store], out, io.StringIO())
        assert "\x1b" not in out.getvalue() and "\\x1b[31mRED" in out.getvalue(), argv
