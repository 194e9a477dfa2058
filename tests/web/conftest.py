"""Web test fixtures: one simulated, ingested store per session; a copy, tokens and audit trail per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")

from fastapi.testclient import TestClient  # noqa: E402

from graph.pseudonym import Pseudonymizer  # noqa: E402
from graph.sqlite_store import SQLiteGraphStore  # noqa: E402
from lineage.simulator import simulate  # noqa: E402
from lineage.web.app import create_app  # noqa: E402
from lineage.web.audit import AuditLog  # noqa: E402
from lineage.web.console import Console  # noqa: E402
from lineage.web.tokens import TokenFile  # noqa: E402
from policies import default_policy  # noqa: E402
from schemas.parsing import validate_event  # noqa: E402
from streams.handler import Handler  # noqa: E402
from tests.conftest import TEST_AUDIT_KEY, TEST_KEY  # noqa: E402


@dataclass(frozen=True)
class World:
    """A simulated store and the people of interest in it."""

    db: Path
    person: str  # someone whose data reached a recipient the policy does not declare
    mixed_person: str  # someone like that whose data also reached recipients by declared disclosures only
    plain_person: str  # someone with declared disclosures only
    people: list[str]


def world_console(
    world: World,
    tmp: Path,
    token_suffix: str = "page",  # noqa: S107 - a token name, no secret
    **options: Any,
) -> tuple[Console, dict[str, str]]:
    """A console over a copy of the world's store in ``tmp``, with a dpo, an auditor and a service token (secrets by
    role, each token named ROLE-``token_suffix``) and an audit trail of its own; ``options`` go to Console."""
    shutil.copy(world.db, tmp / "lineage.db")
    tokens = TokenFile(tmp / "tokens.json")
    secrets = {role: tokens.add(f"{role}-{token_suffix}", role) for role in ("dpo", "auditor", "service")}
    console = Console(
        SQLiteGraphStore(tmp / "lineage.db"),
        default_policy(),
        Pseudonymizer(TEST_KEY),
        tokens,
        AuditLog(tmp / "audit.jsonl", TEST_AUDIT_KEY, tmp / "audit.head"),
        **options,
    )
    return console, secrets


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    db = tmp_path_factory.mktemp("web") / "lineage.db"
    sims = list(simulate(20, 10, 3, undeclared_rate=0.04))
    store = SQLiteGraphStore(db)
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    handler.handle([validate_event(s.event, handler.taxonomy) for s in sims])
    bad = [s for s in sims if s.event["kind"] == "shared" and s.undeclared]
    bad_ids = {s.event["subject"]["id"] for s in sims if s.undeclared}
    plain = [s for s in sims if s.event["kind"] == "shared" and s.event["subject"]["id"] not in bad_ids]
    assert bad and plain, "the simulation should have both undeclared and declared disclosures"
    people = sorted({s.event["subject"]["id"] for s in sims})
    undeclared: dict[str, set[str]] = {}  # person -> the recipients their undeclared disclosures reached
    for s in bad:
        undeclared.setdefault(s.event["subject"]["id"], set()).add(s.event["recipient"]["id"])

    def mixed(person: str) -> bool:
        """Some recipients of the person's reached by declared disclosures only, and one whose purposes carry other
        categories of theirs too (what the console's filter and hover tests need)."""
        who = store.who_has(Pseudonymizer(TEST_KEY)(person))
        assert who is not None
        wider = [
            r for r in who.recipients if {f.category for f in who.flows if f.purpose in r.purposes} - set(r.categories)
        ]
        return len(undeclared[person]) < len(who.recipients) and bool(wider)

    mixed_person = next(p for p in dict.fromkeys(str(s.event["subject"]["id"]) for s in bad) if mixed(p))
    store.close()
    return World(db, str(bad[0].event["subject"]["id"]), mixed_person, str(plain[0].event["subject"]["id"]), people)


@dataclass
class Site:
    """A console over a private copy of the world's store, with one token per role."""

    console: Console
    tokens: dict[str, str]
    audit_path: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def site(world: World, tmp_path: Path) -> Iterator[Site]:
    db = tmp_path / "lineage.db"
    shutil.copy(world.db, db)
    tokens = TokenFile(tmp_path / "tokens.json")
    secrets = {role: tokens.add(f"{role}-1", role) for role in ("dpo", "auditor", "service")}
    audit = AuditLog(tmp_path / "audit.jsonl", TEST_AUDIT_KEY, tmp_path / "keys" / "audit.head")
    console = Console(SQLiteGraphStore(db), default_policy(), Pseudonymizer(TEST_KEY), tokens, audit)
    yield Site(console, secrets, audit.path)
    console.close()


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(create_app(site.console)) as c:
        yield c
