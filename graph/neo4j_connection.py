"""Reaching a Neo4j server: the store URL read with the settings, TLS, and the driver's errors translated into the
project's own (naming the server, never the password)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as neo4j_errors

from config import Settings
from graph.store import StoreAuthError, StoreConfigError, StoreError, StoreUnavailable

DEFAULT_NAMESPACE = "default"


class Connection(NamedTuple):
    """What ``Neo4jGraphStore`` is opened with: the driver's URI, the credentials, and its options."""

    uri: str
    auth: tuple[str, str] | None
    database: str
    namespace: str
    connection_timeout: float
    max_retry_time: float
    trusted_ca: str | None
    client_cert: str | None
    client_key: str | None


def from_url(url: str, settings: Settings) -> Connection:
    """The connection a ``neo4j[+s|+ssc]://`` or ``bolt[+s|+ssc]://[user:password@]host[:port][/database]
    [?namespace=ns]`` URL names.

    What the URL gives wins over ``settings`` (``neo4j_user``, ``neo4j_password``, ``neo4j_database``,
    ``neo4j_namespace``); ``neo4j_connection_timeout`` and ``neo4j_max_retry_time`` are in seconds. TLS comes
    with the scheme (``+s``: the certificate is verified against the system's CAs; ``+ssc``: any certificate,
    encryption without authentication of the server), or, with a plain ``bolt://`` or ``neo4j://`` URL, from
    ``neo4j_trusted_ca`` (a PEM file of the CA(s) to trust, e.g. a private CA). ``neo4j_client_cert`` and
    ``neo4j_client_key`` (PEM files) present a client certificate (mutual TLS).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise StoreConfigError(f"bad Neo4j store URL {url!r}: {exc}") from exc
    host = parts.hostname or ""
    if not host:
        raise StoreConfigError(f"bad Neo4j store URL {url!r}: no host (expected neo4j://host:7687)")
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    user = unquote(parts.username) if parts.username else settings.neo4j_user
    password = unquote(parts.password) if parts.password is not None else settings.neo4j_password
    database = unquote(parts.path.strip("/")) or settings.neo4j_database or "neo4j"
    query = parse_qsl(parts.query, keep_blank_values=True)  # the rest is the driver's routing context
    namespace = next((v for k, v in query if k == "namespace"), None) or settings.neo4j_namespace
    routing = urlencode([(k, v) for k, v in query if k != "namespace"])
    retry = settings.neo4j_max_retry_time

    def path(value: Path | None) -> str | None:
        return str(value) if value else None

    return Connection(
        urlunsplit((parts.scheme.lower(), netloc, "", routing, "")),
        (user, password) if user else None,
        database=database,
        namespace=namespace or DEFAULT_NAMESPACE,
        connection_timeout=settings.neo4j_connection_timeout,
        max_retry_time=30.0 if retry is None else retry,
        trusted_ca=path(settings.neo4j_trusted_ca),
        client_cert=path(settings.neo4j_client_cert),
        client_key=path(settings.neo4j_client_key),
    )


def tls_config(uri: str, trusted_ca: str | None, client_cert: str | None, client_key: str | None) -> dict[str, Any]:
    """Driver settings for a private CA and a client certificate (the ``+s``/``+ssc`` schemes need neither)."""
    config: dict[str, Any] = {}
    scheme = uri.split("://", 1)[0].lower()
    if trusted_ca:
        if "+" in scheme:
            raise StoreConfigError(
                f"a trusted CA file (LINEAGE_NEO4J_TRUSTED_CA) goes with a plain bolt:// or neo4j:// URL, not "
                f"{scheme}:// (+s trusts the system's CAs, +ssc any certificate)"
            )
        if not Path(trusted_ca).is_file():
            raise StoreConfigError(f"the Neo4j trusted CA file {trusted_ca!r} does not exist")
        config.update(encrypted=True, trusted_certificates=neo4j.TrustCustomCAs(trusted_ca))
    if client_cert:
        from neo4j.auth_management import ClientCertificate

        if "+" not in scheme and not trusted_ca:
            raise StoreConfigError("a client certificate needs TLS: use bolt+s:// or neo4j+s://, or a trusted CA file")
        config["client_certificate"] = ClientCertificate(client_cert, client_key)
    return config


def is_auth_error(exc: neo4j_errors.Neo4jError) -> bool:
    return isinstance(exc, neo4j_errors.AuthError | neo4j_errors.Forbidden) or (exc.code or "").startswith(
        "Neo.ClientError.Security."
    )


@contextmanager
def translated(where: str, what: str) -> Iterator[None]:
    """Driver errors become the project's own, naming the server ``where`` (never the password)."""
    try:
        yield
    except neo4j_errors.Neo4jError as exc:
        if is_auth_error(exc):
            raise StoreAuthError(f"{where} refused the credentials: {exc.message}") from exc
        if isinstance(exc, neo4j_errors.TransientError):
            raise StoreUnavailable(f"cannot {what} {where}: {exc.message}") from exc
        if (exc.code or "").startswith(("Neo.ClientError.Database.", "Neo.ClientError.Schema.")):
            raise StoreConfigError(f"cannot {what} {where}: {exc.message}") from exc
        raise StoreError(f"cannot {what} {where}: {exc.code}: {exc.message}") from exc
    except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, neo4j_errors.ConnectionPoolError) as exc:
        raise StoreUnavailable(f"cannot {what} {where}: {exc}") from exc
    except neo4j_errors.ConfigurationError as exc:
        raise StoreConfigError(f"cannot {what} {where}: {exc}") from exc
    except neo4j_errors.DriverError as exc:
        raise StoreError(f"cannot {what} {where}: {exc}") from exc
