"""The OpenAPI description checked against the running server with schemathesis (bounded: a few examples per operation).

Each operation of the description the server serves is called with generated parameters and bodies, valid and
invalid, through a real uvicorn on 127.0.0.1. Schemathesis checks that the server never fails (5xx), that status
codes, content types, headers and bodies match the description, that invalid input is refused, and that a
request without the token is refused. (Its pytest plugin's lazy fixtures do not work with pytest 9, so the
operations are driven through its Python API with Hypothesis directly.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, assume, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from graph.pseudonym import Pseudonymizer  # noqa: E402
from graph.sqlite_store import SQLiteGraphStore  # noqa: E402
from lineage.web.app import create_app  # noqa: E402
from lineage.web.audit import AuditLog  # noqa: E402
from lineage.web.console import Console  # noqa: E402
from lineage.web.tokens import TokenFile  # noqa: E402
from policies import default_policy  # noqa: E402
from tests.conftest import TEST_AUDIT_KEY, TEST_KEY  # noqa: E402
from tests.web.conftest import World  # noqa: E402
from tests.web.live import serving  # noqa: E402

EXAMPLES = 5


def _console(db: Path | str, tmp: Path) -> Console:
    return Console(
        SQLiteGraphStore(db), default_policy(), Pseudonymizer(TEST_KEY), TokenFile(tmp / "tokens.json"),
        AuditLog(tmp / "audit.jsonl", TEST_AUDIT_KEY, tmp / "audit.head"),
    )


def _operations() -> list[str]:
    """The operation labels ("GET /api/alerts"), known at collection time from an app over an empty store."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        console = _console(":memory:", Path(tmp))
        spec = create_app(console).openapi()
        console.close()
    return sorted(f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops)


class Server:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.schema = schemathesis.openapi.from_url(base + "/openapi.json")  # the description it serves


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("openapi")
    shutil.copy(world.db, tmp / "lineage.db")
    console = _console(tmp / "lineage.db", tmp)
    token = console.tokens.add("schemathesis", "dpo")
    with serving(create_app(console)) as base:
        yield Server(base, token)
    console.close()


@pytest.mark.parametrize("label", _operations())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_server_keeps_to_its_openapi_description(server: Server, label: str, mode: GenerationMode) -> None:
    operation = server.schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served description"
    headers = {"Authorization": f"Bearer {server.token}"}
    # Operations that document 400 for what a schema cannot say (since >= until, an unknown region or CSV table)
    # are not held to accept every schema-valid request.
    excluded = [positive_data_acceptance] if "400" in operation.definition.raw["responses"] else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same examples every run: a failure here is reproducible, never flaky
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Any) -> None:
        # a PDF takes WeasyPrint some 10 s; test_api.py renders one, here it would only make the run slow
        assume((case.query or {}).get("format") != "pdf")
        case.call_and_validate(base_url=server.base, headers=headers, excluded_checks=excluded)

    check()
