"""The registry view of the console: GET /api/registry, and the Transfers page in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lineage.simulator import simulated_registry
from lineage.web.app import create_app
from lineage.web.console import Console
from tests.web.conftest import World, world_console
from tests.web.live import serving
from tests.web.test_page import Live, _css, _no_page_errors, _shot, _sign_in, _wait, browser  # noqa: F401 - a fixture


def _console(world: World, tmp: Path, registry: bool = True) -> tuple[Console, dict[str, str]]:
    console, secrets = world_console(world, tmp, "reg", registry=simulated_registry() if registry else None)
    return console, secrets


def test_the_registry_endpoint_joins_registry_and_observed_recipients(world: World, tmp_path: Path) -> None:
    console, tokens = _console(world, tmp_path)
    with TestClient(create_app(console)) as client:
        assert client.get("/api/registry", headers={"Authorization": f"Bearer {tokens['service']}"}).status_code == 403
        reply = client.get("/api/registry", headers={"Authorization": f"Bearer {tokens['auditor']}"})
    console.close()
    assert reply.status_code == 200
    doc = reply.json()
    assert doc["configured"] is True and doc["home_area"] == "EEA" and doc["adequacy_as_of"] == "2026-12-03"
    by_id = {r["id"]: r for r in doc["recipients"]}
    assert set(by_id) >= {r.id for r in simulated_registry().recipients}
    assert (by_id["northwind"]["basis"], by_id["northwind"]["in_registry"]) == ("adequacy", True)
    assert "(EU) 2021/1772" in by_id["northwind"]["statement"]
    assert (by_id["payflow"]["basis"], by_id["payflow"]["role"], by_id["payflow"]["dpa"]) == (
        "home",
        "processor",
        "DPA-2024-003",
    )
    assert by_id["sos-in"]["basis"] == "none"
    broker = by_id.get("dataharvest")
    if broker is not None:  # observed only when the simulation planted a disclosure to it
        assert (broker["in_registry"], broker["observed"], broker["basis"]) == (False, True, "none")


def test_the_recipients_list_says_what_each_transfer_rests_on(world: World, tmp_path: Path) -> None:
    console, tokens = _console(world, tmp_path)
    auth = {"Authorization": f"Bearer {tokens['dpo']}"}
    with TestClient(create_app(console)) as client:
        listed = {s["recipient"]["id"]: s for s in client.get("/api/recipients", headers=auth).json()}
        registry = {r["id"]: r for r in client.get("/api/registry", headers=auth).json()["recipients"]}
    console.close()
    assert listed and set(listed) <= set(registry)
    for rid, s in listed.items():  # one judgement, whichever view a DPO opens
        assert (s["transfer"], s["transfer_statement"]) == (registry[rid]["basis"], registry[rid]["statement"]), rid
    assert listed["northwind"]["transfer"] == "adequacy" and listed["sos-in"]["transfer"] == "none"


def test_without_a_registry_every_observed_recipient_is_listed_unregistered(world: World, tmp_path: Path) -> None:
    console, tokens = _console(world, tmp_path, registry=False)
    with TestClient(create_app(console)) as client:
        doc = client.get("/api/registry", headers={"Authorization": f"Bearer {tokens['dpo']}"}).json()
    console.close()
    assert doc["configured"] is False and doc["recipients"]
    assert all(r["observed"] and not r["in_registry"] for r in doc["recipients"])
    assert {r["basis"] for r in doc["recipients"] if r["country"] == "HK"} == {"none"}


@pytest.fixture(scope="module")
def live(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    console, tokens = _console(world, tmp_path_factory.mktemp("registry-page"))
    with serving(create_app(console)) as base:
        yield Live(base, console, tokens)
    console.close()


def test_the_transfers_view_shows_what_each_transfer_rests_on(browser: Any, live: Live) -> None:  # noqa: F811
    _sign_in(browser, live, "auditor")
    _css(browser, 'nav a[data-view="transfers"]')[0].click()
    _wait(browser, lambda d: len(_css(d, "#transfer-list tr")) > 5)
    rows = {r.find_element("css selector", "td .mono").text: r for r in _css(browser, "#transfer-list tr")[1:]}
    assert "undeclared" in rows["sos-in"].get_attribute("class")  # nothing to rest on: marked
    assert "adequacy decision" in rows["northwind"].text and "2021/1772" in rows["northwind"].text
    assert "DPA DPA-2024-003" in rows["payflow"].text
    _no_page_errors(browser)
    _shot(browser, "web-transfers.png")
