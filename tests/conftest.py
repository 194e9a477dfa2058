"""Shared fixtures: a fixed pseudonym key, the bundled policy, a handler over a store."""

from __future__ import annotations

import pytest

from graph.pseudonym import Pseudonymizer
from policies import default_policy
from schemas.policy import Policy

TEST_KEY = bytes.fromhex("5f" * 32)
TEST_AUDIT_KEY = bytes.fromhex("a7" * 32)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return default_policy()


@pytest.fixture(scope="session")
def pseudonym() -> Pseudonymizer:
    return Pseudonymizer(TEST_KEY)


@pytest.fixture(autouse=True)
def _isolated_key(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or creates the user's real pseudonym key file or lineage.db."""
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY_FILE", str(tmp_path_factory.mktemp("key") / "pseudonym.key"))
    monkeypatch.delenv("LINEAGE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("LINEAGE_STORE", raising=False)
