"""What a DPO sees in the console, checked in headless Chromium at two window sizes: a person page in human words
(person -> categories -> purposes -> recipients, declared flows faded, undeclared ones marked, paths highlighted
on hover and on keyboard focus, filters, a timeline per flow, the person's own alert counts), recipients with
what the policy declares of them and their flags, a recipient page that does not repeat itself, and alerts
sortable and filtered by severity, rule, status and period; nothing wider than the window, no label cut off or
overlapping another. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from policies.compliance import RULES
from tests.web import test_page as page
from tests.web.conftest import World
from tests.web.test_page import ARTIFACTS, Live, _css, _no_page_errors, _sign_in, _wait

live, browser = page.live, page.browser  # the page tests' server and browser, one each for this module too

SIZES = {"wide": (1400, 900), "laptop": (1024, 768)}


def _size(d: Any, name: str) -> None:
    d.set_window_size(*SIZES[name])


def _shot(d: Any, name: str, size: str) -> None:
    """A screenshot of the whole page at the window's width (made as tall as the page, up to 4000 px)."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = SIZES[size][0]
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    d.set_window_size(width, min(max(height, SIZES[size][1]), 4000))
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(str(ARTIFACTS / f"{name}-{size}.png"))
    _size(d, size)


def _fits_the_window(d: Any) -> None:
    """Nothing makes the page scroll sideways (a table too wide scrolls in its own box, if at all)."""
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
        "page wider than window"
    )


def _timeline_reads(d: Any) -> None:
    """Every row label of the timeline starts inside the drawing, and no two dates of its axis overlap."""
    boxes = d.execute_script(
        "const svg = document.querySelector('#timeline svg'); const r = svg.getBoundingClientRect();"
        "return {left: r.left, labels: [...svg.querySelectorAll('text.row-label')]"
        ".map((t) => t.getBoundingClientRect().left),"
        " ticks: [...svg.querySelectorAll('.axis text')].map((t) => { const b = t.getBoundingClientRect();"
        " return [b.left, b.right]; })}"
    )
    assert boxes["labels"] and min(boxes["labels"]) >= boxes["left"], "a row label starts left of the drawing"
    ticks = sorted(boxes["ticks"])
    assert len(ticks) >= 2 and all(a[1] <= b[0] for a, b in zip(ticks, ticks[1:], strict=False)), ticks


def _look_up(d: Any, person: str) -> None:
    d.get(d.current_url.split("#")[0] + "#/person")
    _wait(d, lambda d: _css(d, "#subject-id") and _css(d, "#subject-id")[0].is_displayed())
    box = _css(d, "#subject-id")[0]
    box.clear()
    box.send_keys(person)
    _css(d, "#person-form button")[0].click()
    _wait(d, lambda d: len(_css(d, "#graph svg g.node")) > 3)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_person_page_speaks_human_and_draws_every_flow(browser: Any, live: Live, world: World, size: str) -> None:
    d = browser
    _size(d, size)
    _sign_in(d, live, "dpo")
    _look_up(d, world.person)
    pseudonym = live.console.pseudonymizer(world.person)
    who = live.console.store.who_has(pseudonym)
    assert who is not None
    labels = live.console.policy.taxonomy()

    # four columns, across the panel's width
    titles = [t.text for t in _css(d, "#graph svg text.col-title")]
    assert titles == ["PERSON", "DATA CATEGORIES", "PURPOSES", "RECIPIENTS"]
    panel = _css(d, "#graph")[0].size["width"]
    drawing = _css(d, "#graph svg")[0].size["width"]
    assert drawing >= 0.9 * panel, (drawing, panel)

    # the person's id in whole; names, not keys, with the key in small print and on hover
    person = _css(d, "#graph g.node.person")[0]
    assert "".join(t.text for t in person.find_elements("css selector", "text.label")) == world.person
    for node in _css(d, "#graph g.node.category"):
        key = node.get_attribute("data-key").removeprefix("c:")
        shown = node.find_element("css selector", "text.label").text
        from schemas.taxonomy import Dimension

        assert shown.rstrip("…") and labels.label(Dimension.DATA_CATEGORY, key).startswith(shown.rstrip("…"))
        assert node.find_element("css selector", "text.small").text.rstrip("…") in key
        assert key in node.find_element("css selector", "title").get_attribute("textContent")
    assert len(_css(d, "#graph g.node.category")) == len(who.categories)
    assert len(_css(d, "#graph g.node.recipient")) == len(who.recipients)

    # declared flows faded, undeclared ones prominent
    declared = _css(d, "#graph path.edge.declared")
    undeclared = _css(d, "#graph path.edge.undeclared")
    assert declared and undeclared
    assert float(declared[0].value_of_css_property("opacity")) < 0.5
    assert float(undeclared[0].value_of_css_property("opacity")) == 1

    # the timeline has one bar per flow, red only where an alert marks the flow
    bars = _css(d, "#timeline svg rect.bar")
    shared: dict[tuple[str, str], int] = {}
    for f in who.flows:
        if f.recipient:
            shared[(f.category, f.purpose)] = shared.get((f.category, f.purpose), 0) + f.events
    drawn = [f for f in who.flows if f.recipient or f.events > shared.get((f.category, f.purpose), 0)]
    assert len(bars) == len(drawn)  # each disclosure, and each use beyond the disclosures
    red = {b.get_attribute("data-flow") for b in bars if "flagged-bar" in b.get_attribute("class")}
    alerts = d.execute_script("return state.person.alerts")
    marked = {f"{a['category']}|{a['purpose']}|{a['recipient']}" for a in alerts if a["purpose"]}
    flows = {b.get_attribute("data-flow") for b in bars}
    assert red and red == flows & marked  # red exactly where the flow itself is undeclared, not its whole category

    # the person's own count in each alert, beside everyone's
    rows = _css(d, "#person-alerts tr[data-alert]")
    assert len(rows) == len(alerts) >= 1
    mine = {a["alert_id"]: a for a in alerts}
    for row in rows:
        a = mine[row.get_attribute("data-alert")]
        assert int(row.find_element("css selector", "td.person-count").text) == a["person_events"] <= a["count"]
    summary = _css(d, "#person-alert-count")[0].text
    assert f"{sum(a['person_events'] for a in alerts)} of this person's events" in summary
    # instants say their zone, to the second (they used to lose the "UTC" to a cut)
    cells = [r.find_elements("css selector", "td") for r in _css(d, "#person-categories tr")]
    first = [c[-4].text for c in cells if c]  # the day, and under it the time
    assert first and all(re.fullmatch(r"\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d UTC", t) for t in first), first
    _timeline_reads(d)
    _fits_the_window(d)
    _shot(d, "console-person", size)
    _no_page_errors(d)


def test_hover_keyboard_and_filters(browser: Any, live: Live, world: World) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    d = browser
    _size(d, "wide")
    _sign_in(d, live, "dpo")
    _look_up(d, world.mixed_person)  # some of whose recipients no undeclared flow reaches
    graph = _css(d, "#graph svg")[0]

    # hovering a recipient lights its paths back to the person and dims the rest; chosen, when there is one, so
    # that a purpose it shares with other data would light more than its own flows if paths were followed blindly
    who = live.console.store.who_has(live.console.pseudonymizer(world.mixed_person))
    assert who is not None

    def wider(r: Any) -> set[str]:
        return {f.category for f in who.flows if f.purpose in r.purposes} - set(r.categories)

    target = next((r for r in who.recipients if wider(r)), who.recipients[0])
    assert wider(target), "the simulated person has a recipient whose purposes carry other data too"
    recipient = _css(d, f'#graph g.node.recipient[data-key="r:{target.id}"]')[0]
    ActionChains(d).move_to_element(recipient).perform()
    _wait(d, lambda d: "dimmed" in graph.get_attribute("class"))
    lit = {p.get_attribute("data-from") for p in _css(d, "#graph path.edge.hl")}
    assert "person" in lit and _css(d, "#graph g.node.person.hl")
    rid, received = target.id, target
    lit_categories = {n.get_attribute("data-key") for n in _css(d, "#graph g.node.category.hl")}
    assert lit_categories == {"c:" + c for c in received.categories}  # its flows' paths, not every path of a purpose
    _shot(d, "console-person-hover", "wide")
    ActionChains(d).move_to_element(_css(d, "#person-summary")[0]).perform()
    _wait(d, lambda d: "dimmed" not in graph.get_attribute("class"))

    # the same from the keyboard: focus, then Enter opens the recipient
    d.execute_script("arguments[0].focus()", recipient)
    _wait(d, lambda d: "dimmed" in graph.get_attribute("class"))
    ActionChains(d).send_keys(Keys.ENTER).perform()
    _wait(d, lambda d: d.current_url.endswith("#/recipients/" + rid))
    d.back()
    _wait(d, lambda d: _css(d, "#filter-undeclared"))

    # undeclared only: every edge past the person's own is an undeclared one
    _css(d, "#filter-undeclared")[0].click()
    _wait(d, lambda d: _css(d, "#filter-undeclared")[0].is_selected())
    edges = [p for p in _css(d, "#graph path.edge") if p.get_attribute("data-from") != "person"]
    assert edges and all("undeclared" in p.get_attribute("class") for p in edges)
    assert all("flagged-bar" in b.get_attribute("class") for b in _css(d, "#timeline rect.bar"))
    # the tables follow: only the recipients an undeclared flow of the person's reaches, fewer than all of them
    listed = {a.get_attribute("href").rsplit("/", 1)[-1] for a in _css(d, "#person-recipients td a")}
    alerted = {a["recipient"] for a in d.execute_script("return state.person.alerts") if a["recipient"]}
    assert listed == alerted and len(listed) < len(who.recipients)
    _shot(d, "console-person-undeclared", "wide")

    # by recipient type: only recipients of that type remain
    _css(d, "#filter-undeclared")[0].click()
    choice = _css(d, "#filter-type option")[1]
    wanted = choice.get_attribute("value")
    choice.click()
    _wait(d, lambda d: all(wanted in n.get_attribute("class") for n in _css(d, "#graph g.node.recipient")))
    # by period: a range with nothing in it
    d.execute_script(
        "const i = document.getElementById('filter-since'); i.value = '2099-01-01';i.dispatchEvent(new Event('change'))"
    )
    _wait(d, lambda d: "No flow in the filters' range" in _css(d, "#timeline")[0].text)
    _css(d, "#person-filters button")[0].click()  # clear
    _wait(d, lambda d: not _css(d, "#filter-undeclared")[0].is_selected() and _css(d, "#timeline rect.bar"))
    _no_page_errors(d)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_recipients_flags_and_a_recipient_page(browser: Any, live: Live, size: str) -> None:
    d = browser
    _size(d, size)
    _sign_in(d, live, "auditor")
    d.get(live.base + "/#/recipients")
    _wait(d, lambda d: _css(d, "#recipient-list tr[data-recipient]"))
    heads = [h.text for h in _css(d, "#recipient-list th")]
    assert {"Type", "Country, transfer", "In the policy", "Flags", "Period"} <= set(heads)
    _fits_the_window(d)
    table = _css(d, "#recipient-list")[0]
    assert table.size["width"] <= _css(d, "#recipients-result")[0].size["width"] + 1, "the list fits its panel"
    open_alerts = live.console.store.alerts(status="open")
    titles = {r.id: r.title for r in RULES}
    by_rule: dict[str, Counter[str]] = {}
    for a in open_alerts:
        if a.recipient:
            by_rule.setdefault(a.recipient, Counter())[a.rule] += 1
    assert any(
        set(rules) - {"undeclared-recipient-type", "undeclared-disclosure-purpose"} for rules in by_rule.values()
    )
    for row in _css(d, "#recipient-list tr[data-recipient]"):
        rid = row.get_attribute("data-recipient")
        # each rule of the recipient's open alerts in its words, with its count (was "N undeclared" for any rule)
        chips = {c.get_attribute("data-rule"): c.text for c in row.find_elements("css selector", "td.flags .rule")}
        assert chips == {rule: f"⚠ {n} {titles[rule]}" for rule, n in by_rule.get(rid, {}).items()}, rid
        kind = next(a for a in live.console.store.flows() if a.recipient and a.recipient.id == rid).recipient
        assert kind is not None and ("data broker" in row.find_element("css selector", "td.flags").text) == (
            kind.type == "data_broker"
        )
        assert "_" not in row.find_elements("css selector", "td")[2].text  # the type in words
        where = row.find_element("css selector", "td.where")
        assert where.get_attribute("title"), rid  # what the transfer rests on, in words, on hover
        assert where.text.splitlines()[-1] in {"no transfer", "adequacy decision", "safeguard", "no safeguard"}, rid
    _shot(d, "console-recipients", size)

    broker = next(r for r in _css(d, "#recipient-list tr[data-recipient]") if "data broker" in r.text)
    broker.find_element("css selector", "a").click()
    _wait(d, lambda d: _css(d, "#recipient-view h2"))
    status = _css(d, "#recipient-view")[0].text  # what the policy declares of data brokers, in words
    assert "In the policy: declared for" in status or "In the policy: not declared" in status
    for table in _css(d, "#recipients-result table.alerts"):  # its alerts do not repeat the recipient
        assert "Recipient" not in [h.text for h in table.find_elements("css selector", "th")]
    _fits_the_window(d)
    _shot(d, "console-recipient", size)


def _alert_rows(d: Any) -> list[list[Any]]:
    """(alert id, severity, events) of each alert shown, read in one go (the list re-renders as it refreshes)."""
    return list(
        d.execute_script(
            "return [...document.querySelectorAll('#alerts-result tr[data-alert]')]"
            ".map((r) => [r.dataset.alert, r.dataset.severity, Number(r.children[5].textContent)])"
        )
    )


def _choose(d: Any, select: str, value: str) -> None:
    d.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change'))",
        select,
        value,
    )


def test_alerts_sort_and_filter(browser: Any, live: Live) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    d = browser
    _size(d, "wide")
    _sign_in(d, live, "dpo")
    d.get(live.base + "/#/alerts")
    _wait(d, lambda d: _alert_rows(d))
    options = [o.get_attribute("value") for o in _css(d, "#alert-rule option")]
    assert options == [""] + [r.id for r in RULES]  # a list of the known rules, not free text
    order = ["critical", "high", "medium", "low"]
    shown = [severity for _, severity, _ in _alert_rows(d)]
    assert shown == sorted(shown, key=order.index)  # most severe first
    names = {r.name for r in (f.recipient for f in live.console.store.flows()) if r}
    assert any(a.text in names for a in _css(d, "#alerts-result td a"))  # recipients by name
    _shot(d, "console-alerts", "wide")

    # sort by events, from the keyboard
    d.execute_script("document.querySelector('th button[data-sort=\"events\"]').focus()")
    ActionChains(d).send_keys(Keys.ENTER).perform()
    _wait(d, lambda d: _css(d, 'th[aria-sort="descending"] button[data-sort="events"]'))
    counts = [n for _, _, n in _alert_rows(d)]
    assert counts == sorted(counts, reverse=True) and len(counts) > 1
    assert d.execute_script("return document.activeElement.dataset.sort") == "events"  # focus stays on the header

    # by severity, then by rule
    _choose(d, "alert-severity", "critical")
    _wait(d, lambda d: {severity for _, severity, _ in _alert_rows(d)} == {"critical"})
    rule = next(a.rule for a in live.console.store.alerts(status="open") if a.severity == "critical")
    _choose(d, "alert-rule", rule)
    expected = {a.alert_id for a in live.console.store.alerts(status="open", rule=rule) if a.severity == "critical"}
    _wait(d, lambda d: {alert for alert, _, _ in _alert_rows(d)} == expected)

    # by period: seen up to (and including) the day the first of them began
    _choose(d, "alert-severity", "")
    _choose(d, "alert-rule", "")
    opened = live.console.store.alerts(status="open")
    first = min(a.first_seen for a in opened).date()
    _choose(d, "alert-until", first.isoformat())
    expected = {a.alert_id for a in opened if a.first_seen.date() <= first}
    assert 0 < len(expected) < len(opened)
    _wait(d, lambda d: {alert for alert, _, _ in _alert_rows(d)} == expected)
    _choose(d, "alert-until", "")
    # by status: the acknowledged ones, each saying so
    ack = live.console.store.alerts(status="open")[-1].alert_id
    live.console.store.acknowledge_alert(ack)
    _choose(d, "alert-status", "acknowledged")
    acknowledged = {a.alert_id for a in live.console.store.alerts(status="acknowledged")}
    _wait(d, lambda d: {alert for alert, _, _ in _alert_rows(d)} == acknowledged and ack in acknowledged)
    statuses = d.execute_script(
        "return [...document.querySelectorAll('#alerts-result tr[data-alert] td[class^=status-]')]"
        ".map((t) => t.className)"
    )
    assert statuses and set(statuses) == {"status-acknowledged"}
    _no_page_errors(d)


def test_alerts_from_the_keyboard_at_a_laptop_size(browser: Any, live: Live) -> None:
    """Tab reaches the filters in order, then the column headers; the focused control is outlined; Enter sorts; the
    list fits a 1024 px window."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    d = browser
    _size(d, "laptop")
    _sign_in(d, live, "dpo")
    d.get(live.base + "/#/alerts")
    _wait(d, lambda d: _alert_rows(d))
    _fits_the_window(d)
    d.execute_script("document.getElementById('alert-severity').focus()")
    order = []
    for _ in range(20):
        active = d.execute_script("const a = document.activeElement; return a.id || a.dataset.sort || a.tagName")
        if not order or order[-1] != active:  # a date field takes several Tabs (day, month, year)
            order.append(active)
        if active == "severity":
            break
        ActionChains(d).send_keys(Keys.TAB).perform()
    assert order == ["alert-severity", "alert-rule", "alert-status", "alert-since", "alert-until", "BUTTON",
                     "alert-auto", "severity"]  # fmt: skip
    outline = d.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline  # the focus is visible
    ActionChains(d).send_keys(Keys.ENTER).perform()  # Enter on the focused header sorts by it (least severe first)
    _wait(d, lambda d: _css(d, 'th[aria-sort="ascending"] button[data-sort="severity"]'))
    order_now = ["low", "medium", "high", "critical"]
    shown = [severity for _, severity, _ in _alert_rows(d)]
    assert shown == sorted(shown, key=order_now.index)
    _shot(d, "console-alerts", "laptop")
    _no_page_errors(d)
