"""`lineage report ...` end to end on the embedded store: formats, files, periods, errors, and no writes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.reports.test_reports import ALICE, CAROL, _pdf_text, _weasyprint, golden_events, visible_text


def run(*argv: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = out or io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


#: The golden events' recipients but the data broker, with what a transfer to each rests on.
REGISTRY = """\
recipients:
  - {id: hk-affiliate, name: SOS Hong Kong Ltd, type: affiliate, country: HK, role: controller,
     safeguard: {kind: bcr, reference: SOS Group BCR, date: 2024-05-02}}
  - {id: hk-police, name: Hong Kong Police Force, type: authority, country: HK, role: controller,
     safeguard: {kind: derogation, reference: "GDPR Art. 49(1)(e)", date: 2026-02-10}}
  - {id: adnet, name: AdNet GmbH, type: advertiser, country: DE, role: controller}
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    (tmp_path / "recipients.yaml").write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(tmp_path / "recipients.yaml"))
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in golden_events()), encoding="utf-8")
    code, _, err = run("ingest", str(events), "--store", url)
    assert code == 0, err
    return url


def db_state(url: str) -> str:
    path = Path(url.removeprefix("sqlite:///"))
    digest = hashlib.sha256()
    for p in sorted(path.parent.glob(path.name + "*")):  # the database, its WAL and shared memory
        if not p.name.endswith("-shm"):
            digest.update(p.name.encode() + p.read_bytes())
    return digest.hexdigest()


def test_access_json(store: str) -> None:
    code, out, err = run("report", "access", ALICE, "--store", store)
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "access" and data["subject_id"] == ALICE
    assert [r["name"] for r in data["recipients"]] == ["AdNet GmbH", "DataBrokr Inc", "SOS Hong Kong Ltd"]
    assert data["evidence_event_ids"] == ["s1", "s2", "s3"]


def test_access_with_period_and_region(store: str) -> None:
    code, out, err = run("report", "access", ALICE, "--store", store, "--since", "2026-02-10", "--until",
                         "2026-02-28", "--region", "EEA,ch")
    assert code == 0, err
    data = json.loads(out)
    assert [(r["id"], r["event_ids"], r["outside_region"]) for r in data["recipients"]] == [("adnet", ["s2"], False)]
    assert "CH" in data["transfers"]["region"] and "DE" in data["transfers"]["region"]


def test_unknown_person_and_empty_store(store: str, tmp_path: Path) -> None:
    code, out, _ = run("report", "access", CAROL, "--store", store)
    assert code == 0 and json.loads(out)["data_found"] is False
    empty = f"sqlite:///{tmp_path / 'empty.db'}"  # never written: a report refuses it, and creates nothing
    code, out, err = run("report", "art19", ALICE, "--store", empty)
    assert (code, out) == (2, "") and err.startswith("lineage report art19: there is no SQLite store at ")
    assert not (tmp_path / "empty.db").exists()


def test_ccpa_csv_tables_and_period(store: str) -> None:
    code, out, err = run("report", "ccpa", "--store", store, "--since", "2026-01-01", "--until", "2026-04-01",
                         "--format", "csv", "--table", "shared")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["category"], r["third_party_categories"], r["events"]) for r in rows] == [
        ("user.contact.email", "advertiser; data_broker", "2")]
    code, out, err = run("report", "ccpa", "--store", store, "--since", "2026-01-01", "--until", "2026-04-01",
                         "--format", "csv", "--table", "sold")
    assert code == 0, err
    assert [(r["third_party_categories"], r["recipients"], r["events"])
            for r in csv.DictReader(io.StringIO(out))] == [("data_broker", "brokr", "1")]
    code, out, err = run("evidence", *rows[0]["flows"].split("; "), "--store", store)
    assert code == 0, err
    assert sorted(line.split()[-1] for line in out.splitlines()) == ["s2", "s3"]
    code, out, _ = run("report", "ccpa", "--store", store, "--since", "2030-01-01", "--until", "2031-01-01")
    found = json.loads(out)
    assert found["sold_statement"] == "None: no personal information was sold in the period."
    assert found["shared_statement"] == (
        "None: no personal information was shared for cross-context behavioural advertising in the period.")


def test_gaps_and_ropa(store: str) -> None:
    code, out, _ = run("report", "gaps", "--store", store, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    # the broker is in no registry, in the US and not certified under the Data Privacy Framework, and this is its
    # first disclosure
    assert [(r["rule"], r["recipient_name"], r["events"], r["people"]) for r in rows] == [
        ("undeclared-recipient-type", "DataBrokr Inc", "1", "1"),
        ("transfer-without-safeguard", "DataBrokr Inc", "1", "1"),
        ("new-recipient", "DataBrokr Inc", "1", "1"),
    ]
    code, out, _ = run("report", "ropa", "--store", store, "--controller-contact", "legal@sos.example")
    data = json.loads(out)
    assert data["header"]["controller"]["contact"] == "legal@sos.example"
    assert data["gaps"]["undeclared"][0]["events"] == 1
    transfers = {t["recipient_id"]: (t["basis"], t["safeguard"], t["in_registry"]) for t in data["transfers"]}
    assert transfers == {
        "brokr": ("none", None, False), "hk-affiliate": ("safeguard", "bcr", True),
        "hk-police": ("safeguard", "derogation", True),
    }


def test_evidence_file_and_command(store: str, tmp_path: Path) -> None:
    evidence = tmp_path / "ropa-evidence.csv"
    code, out, err = run("report", "ropa", "--store", store, "--evidence", str(evidence))
    assert code == 0, err
    data = json.loads(out)
    flows = [f for a in data["activities"] + data["processor"]["activities"] if a["observed"]
             for f in a["observed"]["flows"]]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(evidence.read_text(encoding="utf-8"))))
    assert set(rows[0]) == {"ref", "event_id", "occurred_at"}
    per_ref: dict[str, set[str]] = {}
    for r in rows:
        per_ref.setdefault(r["ref"], set()).add(r["event_id"])
    # every flow the record quotes has its events in the file, as many as it counts
    assert all(len(per_ref[f["ref"]]) == f["events"] for f in flows)
    assert per_ref[data["gaps"]["undeclared"][0]["alert_id"]] == {"s3"}
    assert max(len(c) for r in rows for c in r.values()) < 100  # no cell grows with the history
    jsonl = tmp_path / "gaps.jsonl"
    code, _, err = run("report", "gaps", "--store", store, "--evidence", str(jsonl), "--since", "2026-03-01")
    assert code == 0 and f"to {jsonl}" in err
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    # both of the broker's alerts (undeclared type, transfer without safeguard) rest on the one event
    assert sorted((d["ref"], d["event_id"]) for d in lines) == sorted(
        (a["alert_id"], "s3") for a in data["gaps"]["undeclared"]
    )
    code, _, err = run("report", "gaps", "--store", store, "--evidence", str(tmp_path / "x.txt"))
    assert code == 2 and ".csv or .jsonl" in err
    code, _, err = run("report", "gaps", "--store", store, "--evidence-annex")
    assert code == 2 and "--evidence-annex is for --format html or pdf" in err
    alert = data["gaps"]["undeclared"][0]["alert_id"]
    code, out, err = run("evidence", alert, "--store", store, "--format", "jsonl")
    assert code == 0 and [json.loads(line)["event_id"] for line in out.splitlines()] == ["s3"]
    code, out, err = run("evidence", "f_0000000000000000", "--store", store)
    assert code == 1 and "no event in the period behind: f_0000000000000000" in err


def test_evidence_annex_in_the_html(store: str, tmp_path: Path) -> None:
    page = tmp_path / "gaps.html"
    code, _, err = run("report", "gaps", "--store", store, "--format", "html", "--evidence-annex", "-o", str(page))
    assert code == 0, err
    text = visible_text(page.read_text(encoding="utf-8"))
    assert "Annex: the events behind each reference" in text and text.endswith(" 1 event(s) s3")


def test_html_and_pdf_files(store: str, tmp_path: Path) -> None:
    html_file = tmp_path / "art19.html"
    code, _, err = run("report", "art19", ALICE, "--store", store, "--format", "html", "--output", str(html_file))
    assert code == 0 and f"to {html_file}" in err
    text = visible_text(html_file.read_text(encoding="utf-8"))
    assert "Recipients to notify of a rectification, erasure or restriction" in text
    assert "privacy@sos-hk.example" in text
    _weasyprint()
    pdf_file = tmp_path / "access.pdf"
    code, _, err = run("report", "access", ALICE, "--store", store, "--format", "pdf", "-o", str(pdf_file))
    assert code == 0, err
    text = _pdf_text(pdf_file.read_bytes())
    assert "Access to your personal data" in text and "SOS Hong Kong Ltd" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Pipe(io.StringIO):
    """A text stdout with a binary buffer under it, like sys.stdout redirected to a file."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def test_pdf_to_stdout_only_when_not_a_terminal(store: str) -> None:
    code, out, err = run("report", "gaps", "--store", store, "--format", "pdf", out=_Tty())
    assert code == 2 and "--output" in err and out == ""
    code, _, err = run("report", "gaps", "--store", store, "--format", "pdf")  # text-only output
    assert code == 2 and "--output" in err
    _weasyprint()
    pipe = _Pipe()
    code, _, err = run("report", "art19", ALICE, "--store", store, "--format", "pdf", out=pipe)
    assert code == 0, err
    assert pipe.buffer.getvalue().startswith(b"%PDF-")


def test_usage_errors(store: str) -> None:
    code, _, err = run("report", "ccpa", "--store", store, "--since", "2026-03-01", "--until", "2026-02-01")
    assert code == 2 and "--since must be before --until" in err
    code, _, err = run("report", "gaps", "--store", store, "--format", "csv", "--table", "nope")
    assert code == 2 and "argument --table: invalid choice: 'nope'" in err
    code, _, err = run("report", "gaps", "--store", store, "--table", "undeclared")
    assert code == 2 and "--table is for --format csv" in err
    code, _, err = run("report", "access", ALICE, "--store", store, "--region", "Europe")
    assert code == 2 and err == (  # one line, naming the command once
        "lineage report access: argument --region: not a country code or 'EEA': 'Europe' "
        "(see 'lineage report access --help')\n"
    )


def test_reports_leave_the_store_file_untouched(store: str, tmp_path: Path) -> None:
    before = db_state(store)
    for argv in (["access", ALICE], ["art19", ALICE], ["ropa"], ["ccpa"], ["gaps"]):
        assert run("report", *argv, "--store", store, "--format", "csv")[0] == 0
    assert db_state(store) == before


def test_wrong_key_is_refused_not_answered_with_no_data(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "cd" * 32)
    code, out, err = run("report", "access", ALICE, "--store", store)
    assert code == 2 and "another pseudonym key" in err and out == ""


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_stops_early_ends_the_command_quietly(store: str) -> None:
    """`lineage evidence REF | head`: the reader closes the pipe; no internal error, the status a shell gives."""
    _, out, _ = run("report", "gaps", "--store", store)
    alert = json.loads(out)["undeclared"][0]["alert_id"]
    err = io.StringIO()
    code = main(["evidence", alert, "--store", store], out=_ClosedPipe(), err=err)
    assert (code, err.getvalue()) == (141, "")
