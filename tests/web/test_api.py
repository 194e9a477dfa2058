"""The HTTP API: every endpoint with every role, the refusals (401/403 without data), the answers, the audit trail."""

from __future__ import annotations

import csv
import io
import json
import re
from functools import partial
from pathlib import Path
from urllib.parse import quote

import anyio
import pytest
from fastapi.routing import serialize_response
from fastapi.testclient import TestClient

from graph.aggregate_reads import evidence
from graph.concerning import person_lookup
from lineage.web.api_people import people_router
from tests.factories import BROKER, event
from tests.web.conftest import Site, World

ROLES = ("dpo", "auditor", "service")

# (method, path) -> roles allowed; {person} is filled in with a URL-encoded subject id
ENDPOINTS: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/health"): {"dpo", "auditor", "service"},
    ("GET", "/api/me"): {"dpo", "auditor", "service"},
    ("GET", "/api/stats"): {"dpo", "auditor"},
    ("GET", "/api/recipients"): {"dpo", "auditor"},
    ("GET", "/api/recipients/sos-hk"): {"dpo", "auditor"},
    ("GET", "/api/evidence/f_0000000000000000"): {"dpo", "auditor"},
    ("GET", "/api/registry"): {"dpo", "auditor"},
    ("GET", "/api/alerts"): {"dpo", "auditor"},
    ("GET", "/api/vocabulary"): {"dpo", "auditor"},
    ("POST", "/api/alerts/a_0000000000000000/ack"): {"dpo"},
    ("POST", "/api/events"): {"dpo", "service"},
    ("GET", "/api/subjects/{person}"): {"dpo"},
    ("GET", "/api/subjects/{person}/alerts"): {"dpo"},
    ("GET", "/api/subjects/{person}/notices"): {"dpo"},
    ("POST", "/api/subjects/{person}/notices"): {"dpo"},
    ("POST", "/api/notices/n_0000000000000000/ack"): {"dpo"},
    ("GET", "/api/audit"): {"dpo"},
    ("GET", "/api/audit/export"): {"dpo"},
    ("GET", "/api/audit/verify"): {"dpo"},
    ("GET", "/api/reports/access?subject={person}"): {"dpo"},
    ("GET", "/api/reports/art19?subject={person}"): {"dpo"},
    ("GET", "/api/reports"): {"dpo", "auditor"},
    ("GET", "/api/reports/ropa"): {"dpo", "auditor"},
    ("GET", "/api/reports/ccpa"): {"dpo", "auditor"},
    ("GET", "/api/reports/gaps"): {"dpo", "auditor"},
    ("GET", "/api/reports/gaps/download?format=csv"): {"dpo", "auditor"},
    ("GET", "/api/reports/access/download?format=json&subject={person}"): {"dpo"},
    ("GET", "/api/reports/art19/download?format=csv&subject={person}"): {"dpo"},
}


def call(client: TestClient, method: str, path: str, world: World, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    url = path.replace("{person}", quote(world.person, safe=""))
    body = [] if method == "POST" and url == "/api/events" else None
    return client.request(method, url, headers=headers or {}, json=body)


def test_every_route_is_in_the_table(client: TestClient) -> None:
    documented = {(m.upper(), p) for p, ops in client.get("/openapi.json").json()["paths"].items() for m in ops}
    covered = {(m, p.split("?")[0]) for m, p in ENDPOINTS}
    templated = {
        (
            m,
            re.sub(r"/reports/\w+/download", "/reports/{kind}/download", p)
            .replace("{person}", "{subject_id}")
            .replace("sos-hk", "{recipient_id}")
            .replace("a_0000000000000000", "{alert_id}")
            .replace("n_0000000000000000", "{notice_id}")
            .replace("f_0000000000000000", "{ref}"),
        )
        for m, p in covered
    }
    assert documented == templated


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
def test_refusals_carry_no_data(client: TestClient, site: Site, world: World, method: str, path: str) -> None:
    allowed = ENDPOINTS[(method, path)]
    for headers in ({}, {"Authorization": "Bearer lin_not-a-token"}, {"Authorization": "Basic ZHBvOmRwbw=="}):
        res = call(client, method, path, world, headers)
        assert res.status_code == 401, (headers, res.text)
        assert set(res.json()) == {"detail"}
        assert res.headers["www-authenticate"].startswith("Bearer")
    for role in ROLES:
        res = call(client, method, path, world, site.auth(role))
        if role in allowed:
            assert res.status_code in (200, 404), (role, res.text)  # 404: the made-up alert id
        else:
            assert res.status_code == 403, (role, res.text)
            assert set(res.json()) == {"detail"}
            assert world.person not in res.text
    # refusals are not lookups: only the allowed calls above may have been recorded
    for entry in site.console.audit.entries():
        assert entry.role in allowed


def test_health_and_me(client: TestClient, site: Site) -> None:
    assert client.get("/api/health", headers=site.auth("service")).json()["status"] == "ok"
    assert client.get("/api/me", headers=site.auth("auditor")).json() == {"name": "auditor-1", "role": "auditor"}


def test_who_has_answers_and_is_audited_by_pseudonym(client: TestClient, site: Site, world: World) -> None:
    res = client.get(
        f"/api/subjects/{quote(world.person, safe='')}", headers=site.auth("dpo") | {"X-Lineage-Client": "page"}
    )
    assert res.status_code == 200
    body = res.json()
    assert body["subject"] == world.person and body["categories"] and body["recipients"]
    assert res.headers["cache-control"] == "no-store"
    (entry,) = site.console.audit.entries()
    assert entry.actor == "dpo-1" and entry.role == "dpo" and entry.action == "who-has" and entry.client == "page"
    assert entry.subject == site.console.pseudonymizer(world.person)
    assert entry.returned == {
        "categories": len(body["categories"]),
        "recipients": len(body["recipients"]),
        "opt_outs": len(body["opt_outs"]),
    }
    assert entry.endpoint == "GET /api/subjects/{subject_id:path}"
    assert world.person not in site.audit_path.read_text()  # the trail holds pseudonyms, never the id


def test_who_has_answers_the_bytes_fastapi_makes_of_its_response_model(
    client: TestClient, site: Site, world: World
) -> None:
    """The route serialises its answer itself (FastAPI would check the model again on a thread of its own first):
    byte for byte what FastAPI's own path makes of the same answer for the route's response_model."""
    console = site.console
    route = next(
        r for r in people_router(console).routes if getattr(r, "path", "") == "/api/subjects/{subject_id:path}"
    )
    people = [*world.people[:12], world.person, world.mixed_person, world.plain_person, "nobody@example.com"]
    for person in people:
        res = client.get(f"/api/subjects/{quote(person, safe='')}", headers=site.auth("dpo"))
        answer = person_lookup(
            console.store, console.pseudonymizer(person), person, console.policy, console.handler.taxonomy
        )
        framework = anyio.run(
            partial(serialize_response, field=route.response_field, response_content=answer, dump_json=True)
        )
        assert (res.status_code, res.headers["content-type"]) == (200, "application/json")
        assert res.content == framework


def test_unknown_person_is_an_empty_answer(client: TestClient, site: Site) -> None:
    res = client.get("/api/subjects/nobody%40example.com", headers=site.auth("dpo"))
    assert res.json() == {
        "subject": "nobody@example.com",
        "subject_type": None,
        "categories": [],
        "recipients": [],
        "flows": [],
        "opt_outs": [],
    }
    assert site.console.audit.entries()[0].returned == {"categories": 0, "recipients": 0, "opt_outs": 0}


def test_an_id_with_a_slash_is_one_id(client: TestClient, site: Site) -> None:
    res = client.get("/api/subjects/acme%2Fbob", headers=site.auth("dpo"))
    assert res.status_code == 200 and res.json()["subject"] == "acme/bob"


def test_alerts_concerning_a_person(client: TestClient, site: Site, world: World) -> None:
    path = f"/api/subjects/{quote(world.person, safe='')}"
    who = client.get(path, headers=site.auth("dpo")).json()
    mine = client.get(path + "/alerts", headers=site.auth("dpo")).json()
    assert mine, "the chosen person had an undeclared disclosure"
    # the alerts its events triggered: the same as every alert whose evidence holds one of the person's events
    pseudonym = site.console.pseudonymizer(world.person)
    theirs = {e.event_id for e in site.console.store.event_facts(people=[pseudonym])}
    everyone_full = site.console.store.alerts()
    expected = {a.alert_id for a in everyone_full
                if theirs & {e.event_id for e in evidence(site.console.store, [a.alert_id])}}  # fmt: skip
    assert {a["alert_id"] for a in mine} == expected and who["recipients"]
    for a in mine:  # the person's part of each alert: their events, not everyone's
        own = sorted(theirs & {e.event_id for e in evidence(site.console.store, [a["alert_id"]])})
        assert sorted(a["person_event_ids"]) == own and a["person_events"] == len(own) >= 1
    assert any(a["person_events"] < a["count"] for a in mine), "some alert concerns others too"
    everyone = client.get("/api/alerts", headers=site.auth("dpo")).json()
    assert len(mine) < len(everyone)
    plain = client.get(f"/api/subjects/{quote(world.plain_person, safe='')}/alerts", headers=site.auth("dpo")).json()
    assert plain == []
    assert [e.action for e in site.console.audit.entries()] == ["subject-alerts", "subject-alerts", "who-has"]


def test_recipients_list_and_page(client: TestClient, site: Site) -> None:
    listing = client.get("/api/recipients", headers=site.auth("auditor")).json()
    ids = [s["recipient"]["id"] for s in listing]
    assert "sos-hk" in ids
    view = client.get("/api/recipients/sos-hk", headers=site.auth("auditor")).json()
    assert view["recipient"]["name"] == "SOS Hong Kong Ltd" and view["recipient"]["type"] == "affiliate"
    assert view["categories"] == sorted({f["category"] for f in view["flows"]})
    # the recipient's own counts: distinct events and people over all its flows
    shares = list(evidence(site.console.store, [view["ref"]]))
    assert view["events"] == len(shares) > 0
    facts = {f.event_id: f.subject for f in site.console.store.event_facts()}
    assert view["people"] == len({facts[e.event_id] for e in shares}) >= 1
    assert sum(f["events"] for f in view["flows"]) >= view["events"]  # an event with two categories is in two flows
    summary = next(s for s in listing if s["recipient"]["id"] == "sos-hk")
    assert (summary["events"], summary["people"], summary["ref"]) == (view["events"], view["people"], view["ref"])
    page = client.get(f"/api/evidence/{view['flows'][0]['ref']}?limit=2", headers=site.auth("auditor")).json()
    assert len(page["events"]) == min(2, view["flows"][0]["events"])
    assert page["complete"] == (view["flows"][0]["events"] <= 2)
    assert client.get("/api/recipients/nobody", headers=site.auth("dpo")).status_code == 404
    early = client.get("/api/recipients/sos-hk?until=2026-01-01T00:00:00Z", headers=site.auth("dpo"))
    assert early.status_code == 404  # nothing before the simulation starts
    assert site.console.audit.entries() == []  # aggregates are not per-person lookups


def test_alerts_filter_and_acknowledge(client: TestClient, site: Site) -> None:
    dpo, auditor = site.auth("dpo"), site.auth("auditor")
    alerts = client.get("/api/alerts?status=open", headers=auditor).json()
    assert alerts and all(a["status"] == "open" for a in alerts)
    rule = alerts[0]["rule"]
    assert {a["rule"] for a in client.get(f"/api/alerts?rule={rule}", headers=auditor).json()} == {rule}
    assert client.get("/api/alerts?since=2999-01-01", headers=auditor).json() == []
    assert client.get("/api/alerts?status=closed", headers=auditor).status_code == 422
    first = alerts[0]["alert_id"]
    assert client.post(f"/api/alerts/{first}/ack", headers=auditor).status_code == 403
    res = client.post(f"/api/alerts/{first}/ack", headers=dpo)
    assert res.json() == {"alert_id": first, "status": "acknowledged"}
    assert first not in {a["alert_id"] for a in client.get("/api/alerts?status=open", headers=dpo).json()}
    assert client.post("/api/alerts/a_nope/ack", headers=dpo).status_code == 404
    (entry,) = site.console.audit.entries()
    assert (entry.action, entry.target, entry.subject) == ("alert-ack", first, None)


def test_ingest_over_http(client: TestClient, site: Site) -> None:
    events = [
        event("shared", event_id="web-1", subject_id="zoe@example.com", recipient=BROKER),
        {"kind": "shared", "event_id": "web-2"},
        event("collected", event_id="web-3", subject_id="zoe@example.com"),
    ]
    res = client.post("/api/events", headers=site.auth("service"), json=events)
    assert res.status_code == 200
    body = res.json()
    assert body["applied"] == 2 and body["duplicates"] == 0 and body["findings"] >= 1
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [(1, "web-2")]
    assert "zoe@example.com" not in res.text
    again = client.post("/api/events", headers=site.auth("service"), json=events[:1]).json()
    assert again["applied"] == 0 and again["duplicates"] == 1
    who = client.get("/api/subjects/zoe%40example.com", headers=site.auth("dpo")).json()
    assert [r["id"] for r in who["recipients"]] == ["brokr"]
    too_many = client.post("/api/events", headers=site.auth("service"), json=[{}] * 1001)
    assert too_many.status_code == 422


def test_an_erasure_posted_as_an_event_sends_its_notices_when_the_switch_is_on(world: World, tmp_path: Path) -> None:
    """LINEAGE_NOTIFY_ERASURES in the console: an `erased` event through POST /api/events sends one notice to each
    recipient of the person's data and says so; the same event again is a duplicate and sends nothing."""
    from lineage.web.app import create_app
    from streams.notice_sinks import FileNoticeSink
    from streams.notify import ErasureNotices
    from tests.web.conftest import world_console

    outbox = tmp_path / "outbox"
    console, tokens = world_console(world, tmp_path, erasure_notices=ErasureNotices(FileNoticeSink(outbox)))
    service = {"Authorization": f"Bearer {tokens['service']}"}
    dpo = {"Authorization": f"Bearer {tokens['dpo']}"}
    erasure = {"schema_version": 1, "event_id": "web-erase-1", "kind": "erased", "occurred_at": "2026-12-01T00:00:00Z",
               "emitted_by": "privacy-desk", "subject": {"id": world.person, "type": "customer"}}  # fmt: skip
    try:
        with TestClient(create_app(console)) as client:
            person = quote(world.person, safe="")
            recipients = {r["id"] for r in client.get(f"/api/subjects/{person}", headers=dpo).json()["recipients"]}
            assert recipients
            body = client.post("/api/events", headers=service, json=[erasure]).json()
            assert (body["applied"], body["notices_sent"], body["notices_unsent"]) == (1, len(recipients), 0)
            sent = [json.loads(f.read_text()) for f in sorted(outbox.glob("n_*.json"))]
            assert {d["notice"]["recipient_id"] for d in sent} == recipients
            assert all(world.person not in json.dumps(d) for d in sent)
            again = client.post("/api/events", headers=service, json=[erasure]).json()
            assert (again["duplicates"], again["notices_sent"]) == (1, 0)
            assert len(list(outbox.glob("n_*.json"))) == len(recipients)
    finally:
        console.close()


def test_audit_query_export_and_verify(client: TestClient, site: Site, world: World) -> None:
    dpo = site.auth("dpo")
    for person in (world.person, world.plain_person, world.person):
        client.get(f"/api/subjects/{quote(person, safe='')}", headers=dpo)
    assert len(client.get("/api/audit", headers=dpo).json()) == 3
    mine = client.get("/api/audit", headers=dpo, params={"subject": world.person}).json()
    assert [e["seq"] for e in mine] == [3, 1]  # newest first; the query itself is recorded after answering
    assert mine[0]["subject"] == site.console.pseudonymizer(world.person)
    assert client.get("/api/audit", headers=dpo, params={"actor": "nobody"}).json() == []
    assert len(client.get("/api/audit", headers=dpo, params={"action": "audit-query"}).json()) == 1
    assert client.get("/api/audit", headers=dpo, params={"since": "2999-01-01"}).json() == []

    res = client.get("/api/audit/export", headers=dpo, params={"format": "csv"})
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]  # oldest first; 4 is the subject query
    assert rows[0]["returned"].startswith("categories=")
    lines = client.get("/api/audit/export", headers=dpo, params={"format": "jsonl"}).text.splitlines()
    assert [json.loads(x)["action"] for x in lines][:3] == ["who-has"] * 3
    assert world.person not in res.text

    verified = client.get("/api/audit/verify", headers=dpo).json()
    assert (verified["ok"], verified["entries"], verified["first_broken"]) == (True, 4, None)
    assert verified["head_entries"] == 4
    text = site.audit_path.read_text().splitlines()
    site.audit_path.write_text("\n".join([text[0], *text[2:]]) + "\n")  # someone removes an entry
    assert client.get("/api/audit/verify", headers=dpo).json()["first_broken"] == 2


def test_lookup_refused_when_the_trail_cannot_be_written(client: TestClient, site: Site, world: World) -> None:
    site.audit_path.mkdir()  # a directory where the file should be: every append fails, even for root
    res = client.get(f"/api/subjects/{quote(world.person, safe='')}", headers=site.auth("dpo"))
    assert res.status_code == 503 and world.person not in res.text and "categories" not in res.text


def test_revoked_token_is_refused_at_once(client: TestClient, site: Site) -> None:
    assert client.get("/api/health", headers=site.auth("auditor")).status_code == 200
    site.console.tokens.revoke("auditor-1")
    assert client.get("/api/health", headers=site.auth("auditor")).status_code == 401


def test_the_reports_on_offer_are_the_table_of_report_kinds(client: TestClient, site: Site) -> None:
    from reports.registry import REPORTS

    dpo = client.get("/api/reports", headers=site.auth("dpo")).json()
    assert [r["kind"] for r in dpo] == list(REPORTS)  # one table feeds the CLI, the API and the console
    assert all(r["heading"] and r["summary"] for r in dpo)
    assert {r["kind"]: r["period"] for r in dpo if r["per_person"]} == {"access": True, "art19": False}
    auditor = client.get("/api/reports", headers=site.auth("auditor")).json()
    assert [r["kind"] for r in auditor] == [k for k, v in REPORTS.items() if not v.per_person]
    assert client.get("/api/reports", headers=site.auth("service")).status_code == 403


def test_reports_json_and_downloads(client: TestClient, site: Site, world: World) -> None:
    dpo, auditor = site.auth("dpo"), site.auth("auditor")
    for kind in ("ropa", "ccpa", "gaps"):
        res = client.get(f"/api/reports/{kind}", headers=auditor)
        assert res.status_code == 200 and res.json()["kind"] == kind
    access = client.get("/api/reports/access", headers=dpo, params={"subject": world.person}).json()
    assert access["kind"] == "access" and access["subject_id"] == world.person and access["recipients"]
    art19 = client.get("/api/reports/art19", headers=dpo, params={"subject": world.person}).json()
    assert art19["kind"] == "art19"
    assert [e.action for e in reversed(site.console.audit.entries())] == ["report:access", "report:art19"]
    assert site.console.audit.entries()[1].returned["recipients"] == len(access["recipients"])

    html = client.get("/api/reports/ropa/download", headers=auditor, params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    csv_ = client.get("/api/reports/ccpa/download", headers=auditor, params={"format": "csv", "table": "collected"})
    assert csv_.text.startswith("category,")
    assert (
        client.get("/api/reports/ccpa/download", headers=auditor, params={"format": "csv", "table": "nope"}).status_code
        == 400
    )
    assert (
        client.get("/api/reports/ccpa/download", headers=auditor, params={"format": "html", "table": "x"}).status_code
        == 400
    )
    assert (
        client.get("/api/reports/access/download", headers=auditor, params={"subject": world.person}).status_code == 403
    )
    assert client.get("/api/reports/access/download", headers=dpo).status_code == 400
    assert client.get("/api/reports/access", headers=auditor, params={"subject": world.person}).status_code == 403
    bad = client.get("/api/reports/gaps", headers=auditor, params={"since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 400
    assert (
        client.get("/api/reports/access", headers=dpo, params={"subject": world.person, "region": "XYZ"}).status_code
        == 400
    )
    pdf = client.get("/api/reports/access/download", headers=dpo, params={"format": "pdf", "subject": world.person})
    if pdf.status_code == 501:
        pytest.skip(f"PDF rendering unavailable here: {pdf.json()['detail']}")
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    assert 'filename="lineage-access-' in pdf.headers["content-disposition"]


def test_page_and_static_files_are_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN
    for asset in ("/", "/static/app.js", "/static/app.css"):
        assert "http://" not in client.get(asset).text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in client.get(asset).text


def test_access_log_names_routes_not_people(
    client: TestClient, site: Site, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="lineage.web.access"):
        client.get(f"/api/subjects/{quote(world.person, safe='')}", headers=site.auth("dpo"))
        client.get("/api/reports/access", headers=site.auth("dpo"), params={"subject": world.person})
    lines = [r.getMessage() for r in caplog.records if r.name == "lineage.web.access"]
    assert any("/api/subjects/{subject_id:path} 200" in x for x in lines)
    assert all(world.person not in x and quote(world.person, safe="") not in x for x in lines)


def test_the_vocabulary_names_every_key_and_rule(client: TestClient, site: Site, world: World) -> None:
    from policies.compliance import RULES

    vocab = client.get("/api/vocabulary", headers=site.auth("auditor")).json()
    who = client.get(f"/api/subjects/{quote(world.person, safe='')}", headers=site.auth("dpo")).json()
    for c in who["categories"]:
        assert vocab["categories"][c["category"]] and vocab["categories"][c["category"]] != c["category"]
        for p in c["purposes"]:
            assert vocab["purposes"][p] != p
    assert [r["id"] for r in vocab["rules"]] == [r.id for r in RULES]
    from lineage.audit_actions import ACTIONS

    assert vocab["audit_actions"] == ACTIONS and "notice-ack" in vocab["audit_actions"]
    from lineage.web.api_vocab import declared_purposes

    broker = vocab["recipient_types"]["data_broker"]
    assert broker["label"] == "Data brokers" and broker["declared"] == "identified"  # by law, for a few purposes only
    assert broker["declared_purposes"] == declared_purposes(site.console.policy, "data_broker")
    assert "essential.legal_obligation" in broker["declared_purposes"]
    assert "marketing.advertising" not in broker["declared_purposes"]
    assert vocab["systems"]["teams-chat"] == site.console.policy.systems["teams-chat"]


def test_who_has_gives_each_flow_of_the_person(client: TestClient, site: Site, world: World) -> None:
    who = client.get(f"/api/subjects/{quote(world.person, safe='')}", headers=site.auth("dpo")).json()
    shares = {(f["category"], f["purpose"], f["recipient"]) for f in who["flows"] if f["recipient"]}
    expected = {(c, p, r["id"]) for r in who["recipients"] for c in r["categories"] for p in r["purposes"]}
    assert shares and shares <= expected
    assert {f["category"] for f in who["flows"]} <= {c["category"] for c in who["categories"]}
