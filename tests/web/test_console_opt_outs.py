"""A person's opt-outs in the console: the API's `opt_outs` (scope, signal, when, in words) and the person page, where
each opt-out is listed and a sale or sharing after one is flagged like an undeclared flow (the sale-after-opt-out
alert marks the flow), checked in headless Chromium at 1400 and 1024 px (screenshots in test-artifacts/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lineage.web.app import create_app
from lineage.web.console import Console
from schemas.parsing import validate_event
from tests.factories import ADVERTISER, AFFILIATE, event
from tests.web import test_page as page
from tests.web.conftest import Site, World, world_console
from tests.web.live import serving
from tests.web.test_page import ARTIFACTS, Live, _css, _no_page_errors, _sign_in, _wait

browser = page.browser
PERSON = "gpc.reader@example.com"
GPC_WORDS = "Opted out of sale and sharing (Global Privacy Control), 2026-05-01 10:00 UTC"
ASKED_WORDS = "Opted out of marketing (at their request), 2026-05-02 08:30 UTC"


def _opt_out_and_sell(console: Console) -> None:
    """PERSON signs up, opts out of sale and sharing by GPC, then of marketing by asking; their e-mail address then
    goes to an advertiser for advertising (sharing, after the opt-out) and to an affiliate for support (neither)."""
    who = {"subject_id": PERSON}
    raw = [
        event("collected", event_id="oo-c1", occurred_at="2026-05-01T09:00:00Z", **who),
        {**event("used", event_id="oo-gpc", occurred_at="2026-05-01T10:00:00Z", **who), "kind": "opted_out",
         "scope": "sale_and_sharing", "signal": "gpc"},
        {**event("used", event_id="oo-ask", occurred_at="2026-05-02T08:30:00Z", **who), "kind": "opted_out"},
        event("shared", event_id="oo-s1", occurred_at="2026-05-03T12:00:00Z", recipient=ADVERTISER,
              purpose="marketing.advertising", **who),
        event("shared", event_id="oo-s2", occurred_at="2026-05-03T13:00:00Z", recipient=AFFILIATE, **who),
    ]  # fmt: skip
    for ev in raw[1:3]:  # an opt-out carries no data, purpose or role
        for field in ("data_categories", "purpose", "role"):
            ev.pop(field, None)
    h = console.handler
    h.handle([validate_event(e, h.taxonomy, h.window) for e in raw])


def _path(person: str) -> str:
    return f"/api/subjects/{quote(person, safe='')}"


def test_the_api_gives_the_persons_opt_outs_in_words(client: TestClient, site: Site, world: World) -> None:
    dpo = site.auth("dpo")
    _opt_out_and_sell(site.console)
    body = client.get(_path(PERSON), headers=dpo).json()
    assert [(o["scope"], o["signal"], o["occurred_at"], o["event_id"], o["statement"]) for o in body["opt_outs"]] == [
        ("sale_and_sharing", "gpc", "2026-05-01T10:00:00Z", "oo-gpc", GPC_WORDS),
        ("marketing", "user_request", "2026-05-02T08:30:00Z", "oo-ask", ASKED_WORDS),
    ]
    assert site.console.audit.entries()[0].returned == {"categories": 1, "recipients": 2, "opt_outs": 2}
    # the sharing after the opt-out is an alert on that flow (category, purpose, recipient), the other disclosure not
    alerts = client.get(_path(PERSON) + "/alerts", headers=dpo).json()
    sale = [a for a in alerts if a["rule"] == "sale-after-opt-out"]
    assert [(a["category"], a["purpose"], a["recipient"]) for a in sale] == [
        ("user.contact.email", "marketing.advertising", "adnet")
    ]
    assert "by a Global Privacy Control signal" in sale[0]["reason"]
    # someone who never opted out, and someone unknown: none
    assert client.get(_path(world.plain_person), headers=dpo).json()["opt_outs"] == []
    assert client.get(_path("nobody@example.com"), headers=dpo).json()["opt_outs"] == []
    assert PERSON not in site.audit_path.read_text()


@pytest.fixture(scope="module")
def opt_out_live(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("opt-outs-page")
    console, secrets = world_console(world, tmp, "page")
    _opt_out_and_sell(console)
    with serving(create_app(console)) as base:
        yield Live(base, console, secrets)
    console.close()


@pytest.mark.parametrize("width", [1400, 1024])
def test_the_person_page_lists_opt_outs_and_flags_the_sale_after_them(
    browser: Any, opt_out_live: Live, width: int
) -> None:
    d = browser
    d.set_window_size(width, 900)
    _sign_in(d, opt_out_live, "dpo")
    d.set_window_size(width, 900)
    d.get(d.current_url.split("#")[0] + "#/person")
    _wait(d, lambda d: _css(d, "#subject-id") and _css(d, "#subject-id")[0].is_displayed())
    _css(d, "#subject-id")[0].send_keys(PERSON)
    _css(d, "#person-form button")[0].click()
    _wait(d, lambda d: _css(d, "#person-opt-outs li") and _css(d, "#person-recipients tr[data-recipient]"))
    assert [li.text for li in _css(d, "#person-opt-outs li")] == [GPC_WORDS, ASKED_WORDS]
    assert _css(d, "#person-opt-outs li")[0].get_attribute("data-signal") == "gpc"
    assert _css(d, "#sold-after-opt-out")[0].text.startswith(
        "⚠ Sold or shared after the person opted out: 1 flow(s), to AdNet GmbH"
    )
    # the flow itself is flagged where undeclared flows are: the recipient's row, the graph's edge, the timeline's bar
    rows = {r.get_attribute("data-recipient"): r for r in _css(d, "#person-recipients tr[data-recipient]")}
    assert "undeclared" in rows["adnet"].get_attribute("class")
    assert rows["adnet"].find_element("css selector", ".flag").text == "⚠ sold or shared after opt-out"
    assert "sold or shared" not in rows["hk-affiliate"].text  # a business purpose (its other alerts say otherwise)
    edges = _css(d, '#graph path.edge.undeclared[data-to="r:adnet"]')
    assert edges and "SOLD OR SHARED AFTER OPT-OUT" in edges[0].find_element("css selector", "title").get_attribute(
        "textContent"
    )
    flagged = [b.get_attribute("data-flow") for b in _css(d, "#timeline rect.flagged-bar")]
    assert "user.contact.email|marketing.advertising|adnet" in flagged
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), "page too wide"
    ARTIFACTS.mkdir(exist_ok=True)
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    d.set_window_size(width, min(max(height, 900), 3000))
    d.save_screenshot(str(ARTIFACTS / f"person-opt-outs-{width}.png"))
    d.set_window_size(1400, 1000)
    _no_page_errors(d)
