"""TLS to Neo4j for real: a TLS proxy (certificates made with openssl) in front of the local Bolt port.

The local server speaks plain Bolt; a small TLS-terminating proxy with a test CA's certificate stands in for a
TLS-enabled server, so each way of configuring TLS is exercised end to end: a private CA with ``bolt://`` and
``LINEAGE_NEO4J_TRUSTED_CA``, ``bolt+s://`` (system CAs: the test CA is refused), ``bolt+ssc://`` (any
certificate), plaintext against TLS (refused), and mutual TLS with a client certificate.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from graph.pseudonym import Pseudonymizer
from graph.store import StoreConfigError, StoreError
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import delete_namespace, new_namespace, options, server_settings
from tests.factories import event
from tests.services import require

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A test CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by the CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)  # noqa: S603, S607

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=privacy-lineage test CA")
    (folder / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("server", "localhost"), ("client", "lineage-worker")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={cn}")
        extra = ["-extfile", "server.ext"] if name == "server" else []
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", *extra)
    return Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem",
                 folder / "client.key")


class TlsProxy:
    """Terminates TLS on a free local port and relays the bytes to the plain Bolt port."""

    def __init__(self, certs: Certs, target: tuple[str, int], *, require_client_cert: bool = False) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certs.server_cert, certs.server_key)
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(certs.ca)
        self.target = target
        self.handshakes = self.refused = 0
        self.refusal = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            self.refusal.set()
            conn.close()
            return
        self.handshakes += 1
        tls.settimeout(None)
        upstream = socket.create_connection(self.target)
        for a, b in ((tls, upstream), (upstream, tls)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def bolt() -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(server_settings()["uri"])
    target = (parts.hostname or "127.0.0.1", parts.port or 7687)
    try:
        socket.create_connection(target, timeout=3).close()
    except OSError as exc:
        require("Neo4j", f"nothing listens on {target}: {exc}")
    return target


@pytest.fixture
def namespace() -> Iterator[str]:
    ns = new_namespace()
    yield ns
    delete_namespace(ns)


def open_store(url: str, namespace: str, **extra: Any) -> Any:
    """A store on ``url`` in ``namespace``; ``extra`` are more settings (trusted_ca=..., connection_timeout=...)."""
    from graph.neo4j_store import Neo4jGraphStore

    return Neo4jGraphStore.from_url(url, replace(options(namespace), **{f"neo4j_{k}": v for k, v in extra.items()}))


def round_trip(store: Any) -> None:
    h = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    h.handle([validate_event(event("collected", event_id="tls-1"), h.taxonomy)])
    assert store.who_has(Pseudonymizer(TEST_KEY)("alice@example.com")) is not None


def test_private_ca_with_bolt_url(certs: Certs, bolt: tuple[str, int], namespace: str) -> None:
    proxy = TlsProxy(certs, bolt)
    try:
        store = open_store(f"bolt://localhost:{proxy.port}", namespace, trusted_ca=certs.ca)
        try:
            round_trip(store)
        finally:
            store.close()
        assert proxy.handshakes >= 1 and proxy.refused == 0
    finally:
        proxy.close()


def test_plus_s_verifies_the_server_certificate_and_plus_ssc_does_not(
    certs: Certs, bolt: tuple[str, int], namespace: str
) -> None:
    proxy = TlsProxy(certs, bolt)
    try:
        with pytest.raises(StoreError, match="(?i)certificate|SSL"):  # the test CA is not a system CA
            open_store(f"bolt+s://localhost:{proxy.port}", namespace)
        store = open_store(f"bolt+ssc://localhost:{proxy.port}", namespace)  # encrypted, server not authenticated
        try:
            round_trip(store)
        finally:
            store.close()
    finally:
        proxy.close()


def test_plaintext_to_a_tls_server_fails(certs: Certs, bolt: tuple[str, int], namespace: str) -> None:
    proxy = TlsProxy(certs, bolt)
    try:
        with pytest.raises(StoreError):
            open_store(f"bolt://localhost:{proxy.port}", namespace, connection_timeout=2.0)
        # OpenSSL sends its alert before wrap_socket raises, so the client can fail before the proxy counts it.
        assert proxy.refusal.wait(5) and proxy.refused >= 1
    finally:
        proxy.close()


def test_mutual_tls_with_a_client_certificate(certs: Certs, bolt: tuple[str, int], namespace: str) -> None:
    proxy = TlsProxy(certs, bolt, require_client_cert=True)
    try:
        with pytest.raises(StoreError):
            open_store(f"bolt://localhost:{proxy.port}", namespace, trusted_ca=certs.ca, connection_timeout=2.0)
        store = open_store(f"bolt://localhost:{proxy.port}", namespace, trusted_ca=certs.ca,
                           client_cert=certs.client_cert, client_key=certs.client_key)
        try:
            round_trip(store)
        finally:
            store.close()
    finally:
        proxy.close()


def test_tls_settings_reach_the_store_from_the_environment(
    certs: Certs, bolt: tuple[str, int], namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lineage.cli import main

    proxy = TlsProxy(certs, bolt)
    try:
        monkeypatch.setenv("LINEAGE_STORE", f"bolt://localhost:{proxy.port}?namespace={namespace}")
        monkeypatch.setenv("LINEAGE_NEO4J_TRUSTED_CA", str(certs.ca))
        monkeypatch.setenv("LINEAGE_NEO4J_PASSWORD", server_settings()["password"])
        monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
        source = tmp_path / "events.jsonl"
        source.write_text(json.dumps(event("collected", event_id="tls-env")) + "\n")
        out, err = io.StringIO(), io.StringIO()
        assert main(["ingest", str(source)], out, err) == 0, err.getvalue()
        out = io.StringIO()
        assert main(["stats"], out, io.StringIO()) == 0
        assert json.loads(out.getvalue())["events"] == 1
        assert proxy.handshakes >= 2
    finally:
        proxy.close()


def test_a_trusted_ca_needs_a_plain_scheme(certs: Certs) -> None:
    from graph.neo4j_store import Neo4jGraphStore

    with pytest.raises(StoreConfigError, match="plain bolt:// or neo4j://"):
        Neo4jGraphStore.from_url("bolt+s://localhost:1", Settings(neo4j_trusted_ca=certs.ca))
    with pytest.raises(StoreConfigError, match="does not exist"):
        Neo4jGraphStore.from_url("bolt://localhost:1", Settings(neo4j_trusted_ca=Path("/nonexistent/ca.pem")))
    with pytest.raises(StoreConfigError, match="needs TLS"):
        Neo4jGraphStore.from_url("bolt://localhost:1", Settings(neo4j_client_cert=certs.client_cert))
