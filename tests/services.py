"""Real servers for integration tests: skip locally when absent, fail under CI (CI=true)."""

from __future__ import annotations

import os

import pytest


def require(name: str, reason: str) -> None:
    """Skip (locally) or fail (under CI) because a real server is not available."""
    message = f"{name} is not available: {reason}. Start it with docker/local/{name.lower()}.sh start"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing server is a failure, not a skip)")
    pytest.skip(message)
