"""POST /api/events against hostile input: the size limit before reading, the token before the body, each item of
the array on its own (the hostile corpus of tests/hostile.py), and error answers that never carry the request back.
The memory test runs `lineage serve` as a process and measures its resident set."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lineage.web.app import create_app
from schemas.jsontext import JsonTextError, array_items
from tests.hostile import MARKER, hostile_lines, valid_event
from tests.services import free_port
from tests.web.conftest import Site, World


@pytest.fixture
def roomy(site: Site) -> Iterator[TestClient]:
    """A client of a console that takes bodies of up to 4 MiB (the corpus has items of up to 0.9 MB)."""
    site.console.max_body = 4 << 20
    with TestClient(create_app(site.console)) as c:
        yield c


def test_a_body_over_the_limit_is_413_before_the_token_is_checked(client: TestClient, site: Site) -> None:
    big = b"[" + b" " * (1 << 20) + b"]"
    res = client.post("/api/events", content=big, headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and res.json()["detail"].startswith("the request body is larger")
    assert res.headers["content-security-policy"]  # answered like any other, with the headers
    res = client.post("/api/events", content=big, headers=site.auth("service"))
    assert res.status_code == 413
    assert client.post("/api/events", content=b"[]", headers=site.auth("service")).status_code == 200


def test_a_chunked_body_is_counted_as_it_is_read(client: TestClient, site: Site) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(40):
            yield b" " * 65536
        yield b"]"

    assert client.post("/api/events", content=chunks(), headers=site.auth("service")).status_code == 413
    # without a token nothing is read: 401, whatever the body
    assert client.post("/api/events", content=chunks()).status_code == 401


def test_the_token_is_checked_before_the_body_is_read(client: TestClient, site: Site) -> None:
    assert client.post("/api/events", content=b"{not json").status_code == 401
    assert client.post("/api/events", content=b"{not json", headers=site.auth("auditor")).status_code == 403
    res = client.post("/api/events", content=b"{not json", headers=site.auth("service"))
    assert res.status_code == 400 and "not json" not in res.text


@pytest.mark.parametrize(
    ("number", "line"), list(enumerate(line for _, line in hostile_lines())), ids=[k for k, _ in hostile_lines()]
)
def test_each_hostile_item_costs_only_itself(roomy: TestClient, site: Site, number: int, line: bytes) -> None:
    first, last = valid_event(number, prefix="http-a"), valid_event(number, prefix="http-b")
    body = b"[" + json.dumps(first).encode() + b", " + line + b", " + json.dumps(last).encode() + b"]"
    res = roomy.post("/api/events", content=body, headers=site.auth("service"))
    assert MARKER not in res.text and first["subject"]["id"] not in res.text  # nothing of the body comes back
    try:
        items = array_items(body)
    except JsonTextError:
        items = []
    if len(items) != 3:  # the line breaks the array itself (an unclosed string or brace): the body is refused
        assert res.status_code == 400, res.text
        return
    assert res.status_code == 200, res.text
    answer = res.json()
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert answer["applied"] + answer["duplicates"] == 2
    assert site.console.store.processed([first["event_id"], last["event_id"]]) == {first["event_id"], last["event_id"]}


def test_most_hostile_lines_are_refused_item_by_item() -> None:
    isolated = 0
    for _, line in hostile_lines():
        with contextlib.suppress(JsonTextError):
            isolated += len(array_items(b"[1, " + line + b", 2]")) == 3
    assert isolated >= 89  # of 91: the truncated event and an unclosed nesting leave the array itself unclosed


def test_error_answers_never_repeat_the_request(client: TestClient, site: Site) -> None:
    dpo = site.auth("dpo")
    res = client.get("/api/alerts", params={"status": f"{MARKER}@example.com"}, headers=dpo)
    assert res.status_code == 422 and MARKER not in res.text
    assert res.json()["detail"][0]["loc"] == ["query", "status"]  # where, still
    res = client.get("/api/alerts", params={f"{MARKER}@example.com": "1"}, headers=dpo)
    assert res.status_code == 422 and MARKER not in res.text and "status" in res.text  # the known names instead
    res = client.get("/api/recipients/x", params={"evidence_limit": f"{MARKER}"}, headers=dpo)
    assert res.status_code == 422 and MARKER not in res.text
    res = client.get("/api/reports/ccpa/download", params={"format": "csv", "table": MARKER}, headers=dpo)
    assert res.status_code == 400 and MARKER not in res.text
    res = client.get("/api/reports/access", params={"subject": "x", "region": f"{MARKER},EEA"}, headers=dpo)
    assert res.status_code == 400 and MARKER not in res.text
    many = json.dumps([{"subject": {"id": f"{MARKER}@example.com"}}] * 1001)
    res = client.post("/api/events", content=many, headers=site.auth("service"))
    assert res.status_code == 422 and MARKER not in res.text


def _rss_kib(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in status.splitlines()) if k in ("VmRSS", "VmHWM")
    }


def _post_raw(port: int, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send ``head``, then the body's chunks until the server answers (or closes); return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        with contextlib.suppress(OSError):  # the server answered and closed: the rest is never read
            for chunk in chunks:
                s.sendall(chunk)
                if select.select([s], [], [], 0)[0]:  # an answer came: stop sending
                    break
        answer = b""
        with contextlib.suppress(OSError):
            while part := s.recv(65536):
                answer += part
                if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                    break
    return answer


def _pieces(total: int, size: int = 1 << 16, chunked: bool = False) -> Iterator[bytes]:
    piece = b" " * size
    for _ in range(total // size):
        yield b"%x\r\n" % size + piece + b"\r\n" if chunked else piece


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_a_50_mb_body_is_answered_413_and_the_server_does_not_grow(world: World, tmp_path: Path) -> None:
    db = tmp_path / "lineage.db"
    shutil.copy(world.db, db)
    env = dict(os.environ, LINEAGE_PSEUDONYM_KEY="5f" * 32, LINEAGE_TOKENS_FILE=str(tmp_path / "t.json"))
    env["LINEAGE_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    lineage = [sys.executable, "-c", "import sys; from lineage.cli import main; sys.exit(main())"]
    add = [*lineage, "tokens", "add", "--role", "service", "--name", "svc"]
    token = subprocess.run(add, env=env, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own command
        [*lineage, "serve", "--port", str(port), "--store", f"sqlite:///{db}", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.post(base + "/api/events", content=b"[]", headers={"Authorization": f"Bearer {token}"})  # warm up
        # the peak from now on, not since start-up (the kernel resets VmHWM on "5"); where it cannot, the peak may be
        # start-up's and the figure below only overstates the growth
        with contextlib.suppress(OSError):
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        before = _rss_kib(server.pid)
        size = 50 * 1000 * 1000
        declared = b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        answer = _post_raw(port, declared + f"Content-Length: {size}\r\n\r\n".encode(), _pieces(size))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # with a token and no length (chunked): read, counted, and refused once past the limit
        chunked = declared + f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        answer = _post_raw(port, chunked, _pieces(size, chunked=True))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        after = _rss_kib(server.pid)
        grown_mib = (after["VmHWM"] - before["VmRSS"]) / 1024
        print(
            f"server RSS {before['VmRSS'] / 1024:.1f} MiB before, peak {after['VmHWM'] / 1024:.1f} MiB after two "
            f"50 MB bodies: +{grown_mib:.1f} MiB"
        )
        assert grown_mib < 20
        assert httpx.get(base + "/api/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        server.terminate()
        server.communicate(timeout=10)
