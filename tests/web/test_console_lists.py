"""What the console's lists stand on, through the API: each recipient's policy status and open alerts by rule, and the
alerts filtered by severity, a known rule (an unknown one refused), status and period."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from fastapi.testclient import TestClient

from lineage.web.api_vocab import declared
from policies.compliance import RULES
from tests.web.conftest import Site


def test_recipients_carry_their_policy_status_and_undeclared_flag(client: TestClient, site: Site) -> None:
    auditor, dpo = site.auth("auditor"), site.auth("dpo")
    listing = client.get("/api/recipients", headers=auditor).json()
    open_alerts = site.console.store.alerts(status="open")
    for s in listing:
        rid = s["recipient"]["id"]
        mine = [a for a in open_alerts if a.recipient == rid]
        assert s["open_alerts"] == len(mine) and s["undeclared"] == bool(mine), rid
        assert s["open_by_rule"] == dict(Counter(a.rule for a in mine)), rid
        assert s["declared"] == declared(site.console.policy, s["recipient"]["type"])
    flagged = next(s for s in listing if s["undeclared"])
    assert any(not s["undeclared"] for s in listing), "some recipient has declared disclosures only"

    # acknowledging its alerts clears the flag: it marks what is still to review
    for a in open_alerts:
        if a.recipient == flagged["recipient"]["id"]:
            assert client.post(f"/api/alerts/{a.alert_id}/ack", headers=dpo).status_code == 200
    again = {s["recipient"]["id"]: s for s in client.get("/api/recipients", headers=auditor).json()}
    assert again[flagged["recipient"]["id"]]["open_alerts"] == 0
    assert again[flagged["recipient"]["id"]]["undeclared"] is False
    assert again[flagged["recipient"]["id"]]["open_by_rule"] == {}


def test_alerts_by_severity_rule_status_and_period(client: TestClient, site: Site) -> None:
    auditor = site.auth("auditor")
    everything = client.get("/api/alerts", headers=auditor).json()
    assert len({a["severity"] for a in everything}) > 1, "the world has alerts of several severities"
    for severity in ("critical", "high", "medium", "low"):
        got = client.get(f"/api/alerts?severity={severity}", headers=auditor).json()
        assert [a["alert_id"] for a in got] == [a["alert_id"] for a in everything if a["severity"] == severity]
    assert client.get("/api/alerts?severity=urgent", headers=auditor).status_code == 422

    for rule in {a["rule"] for a in everything}:
        got = client.get(f"/api/alerts?rule={rule}", headers=auditor).json()
        assert [a["alert_id"] for a in got] == [a["alert_id"] for a in everything if a["rule"] == rule]
    typo = client.get("/api/alerts?rule=undeclared-categroy", headers=auditor)
    assert typo.status_code == 422  # a typo is refused, not answered with an empty list that reads as all clear
    assert all(client.get(f"/api/alerts?rule={r.id}", headers=auditor).status_code == 200 for r in RULES)

    # the period: seen in [since, until) -- last seen at or after since, first seen before until
    firsts = sorted({a["first_seen"] for a in everything})
    cut = firsts[len(firsts) // 2]
    before = client.get("/api/alerts", params={"until": cut}, headers=auditor).json()
    expected = [
        a["alert_id"] for a in everything if datetime.fromisoformat(a["first_seen"]) < datetime.fromisoformat(cut)
    ]
    assert [a["alert_id"] for a in before] == expected and 0 < len(expected) < len(everything)
    both = client.get("/api/alerts", params={"since": cut, "until": cut, "severity": "critical"}, headers=auditor)
    assert both.status_code == 200 and all(a["severity"] == "critical" for a in both.json())

    first = everything[0]["alert_id"]
    client.post(f"/api/alerts/{first}/ack", headers=site.auth("dpo"))
    acknowledged = client.get("/api/alerts?status=acknowledged", headers=auditor).json()
    assert [a["alert_id"] for a in acknowledged] == [first]


def test_the_alert_form_offers_lists_not_free_text(client: TestClient) -> None:
    page = client.get("/").text
    for field in ("alert-severity", "alert-rule", "alert-status"):
        assert f'<select id="{field}">' in page, field
    assert 'id="alert-since" type="date"' in page and 'id="alert-until" type="date"' in page
