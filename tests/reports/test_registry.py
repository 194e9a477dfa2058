"""The report table: each kind's tables are the ones it names, and a report added by one entry of the table
appears in the CLI, the HTTP API and every format (HTML from the generic page when it has no template)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from graph.sqlite_store import SQLiteGraphStore
from reports import registry
from reports.formats import render_csv, render_html, tables
from reports.registry import REPORTS, ReportKind, ReportRequest
from reports.vocab import Table, make_header, make_period
from schemas.reports import Report
from tests.conftest import TEST_AUDIT_KEY
from tests.reports.test_reports import ALICE, KEY, NOW, POLICY, load_golden


def test_every_kind_names_its_tables_in_order_and_the_generic_page_shows_them() -> None:
    from reports.formats import _environment

    store = load_golden(SQLiteGraphStore(":memory:"))
    for kind in REPORTS.values():
        report = kind.build(ReportRequest(store, POLICY, ALICE, KEY))
        assert report.kind == kind.name and isinstance(report, kind.model)
        shown = tables(report)
        assert tuple(shown) == kind.table_names
        page = _environment().get_template("tables.html").render(r=report, tables=shown)
        for name, (_head, rows) in shown.items():
            assert f"<h2>{name.replace('_', ' ').capitalize()}</h2>" in page
            # wide tables become one block of facts per row: every row's first value is on the page
            assert all(str(row[0]) in page for row in rows if row[0]), (kind.name, name)


class HeadcountReport(Report):
    """How many people and events the store holds (a report made up for this test)."""

    kind: Literal["headcount"] = Field(default="headcount", description="'headcount'.")
    people: int = Field(description="People recorded.")
    events: int = Field(description="Events recorded.")


def _headcount(r: ReportRequest) -> HeadcountReport:
    stats = r.store.stats()
    header = make_header(r.policy, "Headcount", "none", make_period(r.since, r.until), NOW, r.controller)
    return HeadcountReport(header=header, people=stats.subjects, events=stats.events)


def _headcount_tables(report: HeadcountReport) -> dict[str, Table]:
    return {"counts": (["people", "events"], [[report.people, report.events]])}


@pytest.fixture
def headcount(monkeypatch: pytest.MonkeyPatch) -> ReportKind[HeadcountReport]:
    kind = ReportKind(
        "headcount", "people and events held", HeadcountReport, _headcount, _headcount_tables, ("counts",)
    )
    monkeypatch.setitem(registry.REPORTS, "headcount", kind)  # the one line a new report adds
    return kind


def test_a_new_report_is_one_entry_in_the_table(
    headcount: ReportKind[HeadcountReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lineage.cli import main

    db = tmp_path / "lineage.db"
    load_golden(SQLiteGraphStore(db)).close()
    report = headcount.build(ReportRequest(SQLiteGraphStore(db), POLICY))
    assert render_csv(report) == "people,events\r\n2,9\r\n"
    page = render_html(report)  # no template of its own: the generic page with its table
    assert "<h1>Headcount</h1>" in page and "<th>people</th>" in page and "<td>9</td>" in page

    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    out, err = io.StringIO(), io.StringIO()
    assert main(["report", "headcount", "--store", f"sqlite:///{db}", "--format", "csv"], out, err) == 0, err.getvalue()
    assert out.getvalue() == "people,events\r\n2,9\r\n"


def test_a_new_report_is_served_by_the_api(headcount: ReportKind[HeadcountReport], tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the web extra is not installed")
    from fastapi.testclient import TestClient

    from lineage.web.app import create_app
    from lineage.web.audit import AuditLog
    from lineage.web.console import Console
    from lineage.web.tokens import TokenFile

    tokens = TokenFile(tmp_path / "tokens.json")
    auditor = {"Authorization": f"Bearer {tokens.add('auditor-1', 'auditor')}"}
    store = load_golden(SQLiteGraphStore(":memory:"))
    console = Console(
        store, POLICY, KEY, tokens, AuditLog(tmp_path / "audit.jsonl", TEST_AUDIT_KEY, tmp_path / "audit.head")
    )
    with TestClient(create_app(console)) as client:
        answer = client.get("/api/reports/headcount", headers=auditor)
        assert answer.status_code == 200 and answer.json()["people"] == 2
        page = client.get("/api/reports/headcount/download", params={"format": "csv"}, headers=auditor)
        assert page.status_code == 200 and page.text == "people,events\r\n2,9\r\n"
        assert "/api/reports/headcount" in client.get("/openapi.json", headers=auditor).json()["paths"]
        assert client.get("/api/reports/nothing/download", headers=auditor).status_code == 422
