"""The bench's shared mode connects where the docker/local scripts' status looked."""

from __future__ import annotations

import pytest

from bench.services import Services


def test_shared_mode_takes_the_scripts_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "NEO4J_BOLT_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = Services(mode="shared")
    assert (default.kafka_bootstrap, default.kafka_controller_port, default.neo4j_uri) == (
        "127.0.0.1:9092",
        9093,
        "bolt://127.0.0.1:7687",
    )
    monkeypatch.setenv("KAFKA_PORT", "29092")
    monkeypatch.setenv("KAFKA_CONTROLLER_PORT", "29093")
    monkeypatch.setenv("NEO4J_BOLT_PORT", "27687")
    moved = Services(mode="shared")
    assert (moved.kafka_bootstrap, moved.kafka_controller_port, moved.neo4j_uri) == (
        "127.0.0.1:29092",
        29093,
        "bolt://127.0.0.1:27687",
    )
    # own mode keeps its own ports whatever the scripts' variables say
    assert Services(mode="own").kafka_port == 19092


def test_shared_mode_refuses_a_port_that_is_not_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_BOLT_PORT", "bolt")
    with pytest.raises(ValueError, match="NEO4J_BOLT_PORT='bolt' is not a port number"):
        Services(mode="shared")
