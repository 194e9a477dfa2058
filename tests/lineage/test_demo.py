"""`lineage demo` runs the main job end to end on the embedded store, from nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main


def test_demo_simulates_ingests_and_shows_lineage_and_undeclared_flows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo", "--workdir", str(tmp_path), "--people", "12", "--days", "10", "--seed", "3"], out, err) == 0
    text = out.getvalue()
    events = (tmp_path / "events.jsonl").read_text().splitlines()
    truth = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert f"{len(events)} events for 12 people" in text
    assert f"{len(events)} applied, 0 rejected" in text
    assert "Data held about " in text and "Recipients (" in text
    assert truth, "the simulator planted undeclared flows"
    # every planted event id is behind some alert in the store the demo built
    out2 = io.StringIO()
    store_url = f"sqlite:///{tmp_path / 'lineage.db'}"
    assert main(["alerts", "--store", store_url, "--format", "json"], out2, io.StringIO()) == 0
    alerted = {event_id for alert in json.loads(out2.getvalue()) for event_id in alert["event_ids"]}
    assert {t["event_id"] for t in truth} <= alerted
    assert f"the simulator planted {len(truth)} undeclared event(s)" in text
    # the command the demo suggests works as printed (the demo keeps its own pseudonym key)
    suggestion = text.rsplit("Try: ", 1)[1].strip()
    env, _, command = suggestion.partition(" lineage ")
    name, _, value = env.partition("=")
    assert name == "LINEAGE_PSEUDONYM_KEY_FILE"
    monkeypatch.setenv(name, value)
    args = command.replace("'", "").split()
    who = io.StringIO()
    assert main(args, who, io.StringIO()) == 0
    assert json.loads(who.getvalue())["recipients"]
