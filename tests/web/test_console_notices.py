"""Art. 19 notices in the console: the API (dpo only, audited, through the server's sink, no raw id in what is
sent) and the person page's panel and button, checked in headless Chromium (screenshot in test-artifacts/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lineage.cli_privacy import erasure_event
from lineage.web.app import create_app
from lineage.web.console import Console
from schemas.parsing import validate_event
from schemas.taxonomy import Dimension
from streams.notice_sinks import FileNoticeSink
from tests.web import test_page as page
from tests.web.conftest import Site, World, world_console
from tests.web.live import serving
from tests.web.test_page import ARTIFACTS, Live, _css, _no_page_errors, _sign_in, _wait

browser = page.browser


def _erase(console: Console, person: str) -> None:
    h = console.handler
    h.handle([validate_event(erasure_event(person, event_id="erase-web-1"), h.taxonomy, h.window)])


def _path(person: str) -> str:
    return f"/api/subjects/{quote(person, safe='')}/notices"


def test_the_api_sends_once_records_and_acknowledges(
    client: TestClient, site: Site, world: World, tmp_path: Path
) -> None:
    dpo = site.auth("dpo")
    assert client.post(_path(world.person), headers=dpo).status_code == 404  # no erasure: nothing to notify
    _erase(site.console, world.person)
    res = client.post(_path(world.person), headers=dpo)
    assert res.status_code == 409 and "LINEAGE_NOTICE_DIR" in res.json()["detail"]  # no sink on this server
    before = client.get(_path(world.person), headers=dpo).json()
    assert before and {n["status"] for n in before} == {"not-sent"}

    site.console.notice_sink = FileNoticeSink(tmp_path / "outbox")
    sent = client.post(_path(world.person), headers=dpo | {"X-Lineage-Client": "page"}).json()
    assert sent["channel"] == "file" and {o["outcome"] for o in sent["outcomes"]} == {"sent"}
    assert [n["recipient_id"] for n in sent["notices"]] == [n["recipient_id"] for n in before]
    assert {n["status"] for n in sent["notices"]} == {"sent"}
    files = list((tmp_path / "outbox").glob("n_*.json"))
    assert len(files) == len(before)
    for f in files:
        text = f.read_text()
        assert world.person not in text and world.person.split("@")[0] not in text
        assert json.loads(text)["notice"]["person"]["value"] == site.console.pseudonymizer(world.person)
    again = client.post(_path(world.person), headers=dpo).json()
    assert {o["outcome"] for o in again["outcomes"]} == {"already-sent"} and len(list(files)) == len(before)

    nid = sent["outcomes"][0]["notice_id"]
    acked = client.post(f"/api/notices/{nid}/ack", headers=dpo).json()
    assert acked["acknowledged_by"] == "dpo-1" and acked["acknowledged_at"]
    assert client.post("/api/notices/n_0000000000000000/ack", headers=dpo).status_code == 404
    after = {n["notice_id"]: n["status"] for n in client.get(_path(world.person), headers=dpo).json()}
    assert after[nid] == "acknowledged"

    actions = [(e.action, e.client) for e in reversed(site.console.audit.entries())]
    assert ("notify-art19", "page") in actions and ("notice-ack", "api") in actions
    assert [a for a, _ in actions].count("subject-notices") == 2
    assert world.person not in site.audit_path.read_text()


@pytest.fixture(scope="module")
def notice_live(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("notices-page")
    console, secrets = world_console(world, tmp, "page", notice_sink=FileNoticeSink(tmp / "outbox"))
    _erase(console, world.person)
    with serving(create_app(console)) as base:
        yield Live(base, console, secrets)
    console.close()


def _shot(d: Any, name: str) -> None:
    """The whole page at a laptop's width, in test-artifacts/NAME-laptop.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    d.set_window_size(1024, min(max(height, 768), 4000))
    d.save_screenshot(str(ARTIFACTS / f"{name}-laptop.png"))
    d.set_window_size(1024, 768)


def test_the_person_page_sends_the_notices_and_shows_each_status(browser: Any, notice_live: Live, world: World) -> None:
    d = browser
    d.set_window_size(1024, 768)
    _sign_in(d, notice_live, "dpo")
    d.get(d.current_url.split("#")[0] + "#/person")
    _wait(d, lambda d: _css(d, "#subject-id") and _css(d, "#subject-id")[0].is_displayed())
    _css(d, "#subject-id")[0].send_keys(world.person)
    _css(d, "#person-form button")[0].click()
    _wait(d, lambda d: _css(d, "#notices-table tr[data-recipient]"))
    rows = _css(d, "#notices-table tr[data-recipient]")
    expected = notice_live.console.store.erasures([notice_live.console.pseudonymizer(world.person)])
    (tombstone,) = next(iter(expected.values()))
    assert [r.get_attribute("data-recipient") for r in rows] == sorted(tombstone.recipients)
    assert {r.find_element("css selector", "td.notice-status").text for r in rows} == {"not sent"}
    # each recipient's categories, as the erasure recorded them, in words (the notices API's `categories`)
    taxonomy = notice_live.console.policy.taxonomy()
    for r in rows:
        received = tombstone.categories_received(r.get_attribute("data-recipient"))
        assert received, "the erasure recorded what each recipient received"
        words = ", ".join(taxonomy.label(Dimension.DATA_CATEGORY, k) for k in received)
        assert r.find_element("css selector", ".notice-categories").text == f"Received: {words}"
    _shot(d, "person-notices-before")
    button = _css(d, "#send-notices")[0]
    assert button.text == f"Send Art. 19 notices ({len(rows)} not sent)"
    button.click()
    # read in one step: the panel is drawn anew when the answer comes
    statuses = "return [...document.querySelectorAll('#notices-table td.notice-status')].map((c) => c.textContent)"
    _wait(d, lambda d: set(d.execute_script(statuses)) == {"sent, awaiting acknowledgement"})
    assert "notice(s) sent through file" in _css(d, "#message")[0].text
    assert _css(d, "#send-notices")[0].get_attribute("disabled") is not None  # everyone notified
    assert {c.text for c in _css(d, "#notices-table tr[data-recipient] td:nth-child(5)")} == {"file"}
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), "page too wide"
    _shot(d, "person-notices-sent")
    _no_page_errors(d)
    kept = notice_live.console.store.notices(notice_live.console.pseudonymizer(world.person))
    assert {n.recipient for n in kept} == set(tombstone.recipients)
    actions = [e.action for e in notice_live.console.audit.entries()]  # newest first
    assert actions[0] == "notify-art19" and "subject-notices" in actions[1:4]


def test_a_notice_is_acknowledged_from_its_row_after_a_confirmation(
    browser: Any, notice_live: Live, world: World
) -> None:
    d = browser
    d.set_window_size(1400, 1000)
    _sign_in(d, notice_live, "dpo")
    d.get(d.current_url.split("#")[0] + "#/person")
    _wait(d, lambda d: _css(d, "#subject-id") and _css(d, "#subject-id")[0].is_displayed())
    _css(d, "#subject-id")[0].send_keys(world.person)
    _css(d, "#person-form button")[0].click()
    _wait(d, lambda d: _css(d, "#notices-table tr[data-recipient]"))
    if _css(d, "#send-notices")[0].get_attribute("disabled") is None:  # not sent yet when this test runs alone
        _css(d, "#send-notices")[0].click()
        _wait(
            d,
            lambda d: (
                len(_css(d, "#notices-table button.ack-notice")) == len(_css(d, "#notices-table tr[data-recipient]"))
            ),
        )
    store, pseudonym = notice_live.console.store, notice_live.console.pseudonymizer(world.person)
    d.execute_script("window.notReloaded = true")
    row = _css(d, "#notices-table tr[data-recipient]")[0]
    nid, name = row.get_attribute("data-notice"), row.find_element("css selector", "td a").text
    assert nid and store.notices(notice_id=nid)[0].acknowledged_at is None

    # the button asks first; cancelling records nothing
    row.find_element("css selector", "button.ack-notice").click()
    _wait(d, lambda d: _css(d, "#notices-table .ack-confirm"))
    ask = _css(d, "#notices-table .ack-confirm")[0].text
    assert f"Record that {name} acknowledged this notice, now, by dpo-page?" in ask
    assert d.execute_script("return document.activeElement.classList.contains('confirm-ack')")  # keyboard: Enter
    _shot(d, "person-notice-ack-confirm")
    _css(d, "#notices-table .cancel-ack")[0].click()
    _wait(d, lambda d: not _css(d, "#notices-table .ack-confirm"))
    assert store.notices(notice_id=nid)[0].acknowledged_at is None
    assert "notice-ack" not in [e.action for e in notice_live.console.audit.entries()]

    # confirmed: recorded through the audited API by the token's name, shown in the row without a reload
    _css(d, f'#notices-table tr[data-notice="{nid}"] button.ack-notice')[0].click()
    _wait(d, lambda d: _css(d, "#notices-table .confirm-ack"))
    _css(d, "#notices-table .confirm-ack")[0].click()
    status = f"return document.querySelector('#notices-table tr[data-notice=\"{nid}\"] td.notice-status').textContent"
    _wait(d, lambda d: d.execute_script(status).startswith("acknowledged "))
    (kept,) = store.notices(notice_id=nid)
    assert kept.acknowledged_by == "dpo-page" and kept.acknowledged_at is not None
    assert d.execute_script(status) == (
        f"acknowledged {kept.acknowledged_at.strftime('%Y-%m-%d %H:%M:%S')} UTC by dpo-page"
    )
    assert d.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert not _css(d, f'#notices-table tr[data-notice="{nid}"] button.ack-notice')  # nothing left to acknowledge
    assert len(_css(d, "#notices-table button.ack-notice")) == len(_css(d, "#notices-table tr[data-recipient]")) - 1
    assert f"Notice {nid} to {name}: acknowledged" in _css(d, "#message")[0].text
    (entry,) = [e for e in notice_live.console.audit.entries() if e.action == "notice-ack"]
    assert (entry.actor, entry.target, entry.subject, entry.client) == ("dpo-page", nid, pseudonym, "page")
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), "page too wide"
    page._shot(d, "person-notice-acked-wide.png")
    _shot(d, "person-notice-acked")
    _no_page_errors(d)
