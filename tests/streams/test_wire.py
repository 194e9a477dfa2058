"""The wire protocol's committed artefacts (docs/wire.md): the JSON Schema file and the message-key test vectors,
which producers in other languages use (examples/typescript-producer checks itself against the same files)."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lineage.cli import main
from streams.event_sinks import partition_key

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "schemas" / "event.schema.json"
VECTORS = json.loads((REPO / "schemas" / "partition-key-vectors.json").read_text(encoding="utf-8"))


def test_the_committed_schema_is_what_lineage_schema_prints() -> None:
    out = io.StringIO()
    assert main(["schema"], out, io.StringIO()) == 0
    assert SCHEMA_FILE.read_text(encoding="utf-8") == out.getvalue(), (
        "schemas/event.schema.json differs from `lineage schema`: producers in other languages validate against the "
        "file. Regenerate it (lineage schema > schemas/event.schema.json) and say in docs/wire.md what changed."
    )


def test_the_schema_file_ships_with_the_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["schemas"]
    assert any(SCHEMA_FILE.match(p) for p in patterns)


def test_the_vectors_cover_both_derivations_and_non_ascii_ids() -> None:
    vectors = VECTORS["vectors"]
    assert {v["secret"] is None for v in vectors} == {True, False}
    assert any(not v["subject_id"].isascii() for v in vectors)
    assert any(v["secret"] and not v["secret"].isascii() for v in vectors)
    assert len({v["key"] for v in vectors}) == len(vectors)  # no two alike: case and normalisation matter


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['key']}")
def test_partition_key_matches_the_vector(vector: dict[str, Any]) -> None:
    secret = vector["secret"].encode("utf-8") if vector["secret"] is not None else None
    assert partition_key(vector["subject_id"], secret) == vector["key"].encode("ascii")


def test_the_label_is_the_one_the_emitter_uses() -> None:
    assert partition_key("alice@example.com") == partition_key("alice@example.com", VECTORS["label"].encode())


@pytest.mark.parametrize("vector", VECTORS["vectors"][:4], ids=lambda v: f"{v['key']}")
def test_the_emitters_partitioner_puts_the_key_where_the_vector_says(vector: dict[str, Any]) -> None:
    pytest.importorskip("kafka")
    from streams.event_sinks import key_partitioner

    class Cluster:  # the one question the partitioner asks of kafka-python's cluster metadata
        def __init__(self, count: int) -> None:
            self.count = count

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(self.count))

    partitioner = key_partitioner()
    key = vector["key"].encode("ascii")
    for count, expected in vector["partitions"].items():
        assert partitioner.partition("t", None, key, None, b"", Cluster(int(count))) == expected
