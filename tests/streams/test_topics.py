"""Retention durations for `lineage topics create` (the broker side is in tests/integration/test_kafka_cli.py)."""

from __future__ import annotations

import pytest

from streams.topics import DEADLETTER_RETENTION, FOREVER, _retentions, describe_retention, parse_retention


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("7d", 604_800_000),
        ("36h", 129_600_000),
        ("90m", 5_400_000),
        ("30s", 30_000),
        ("500ms", 500),
        (" 2D ", 172_800_000),
        ("forever", FOREVER),
        ("default", None),
    ],
)
def test_retention_durations(text: str, ms: int | None) -> None:
    assert parse_retention(text) == ms


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "-1d", "7 days", "1.5h", "7w", "never"])
def test_a_retention_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_retention(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (604_800_000, "7 days"),
        (86_400_000, "1 day"),
        (129_600_000, "36 hours"),
        (5_400_000, "90 minutes"),
        (30_000, "30 seconds"),
        (1_500, "1500 ms"),
        (FOREVER, "forever"),
        (None, "unknown"),
    ],
)
def test_retentions_are_described_in_the_largest_whole_unit(ms: int | None, text: str) -> None:
    assert describe_retention(ms) == text


def test_the_dead_letter_default_is_bounded() -> None:
    ms = parse_retention(DEADLETTER_RETENTION)
    assert ms is not None and 0 < ms <= 30 * 86_400_000


def test_a_broker_that_will_not_describe_the_topics_leaves_their_retention_unknown() -> None:
    """The topics were created; only their description was refused (no DescribeConfigs permission, say)."""
    pytest.importorskip("kafka")
    from kafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped]

    class Refusing:
        def describe_configs(self, *args: object, **kwargs: object) -> None:
            raise TopicAuthorizationFailedError("not authorised")

    assert _retentions(Refusing(), ["lineage.events.deadletter.v1"]) == {}
