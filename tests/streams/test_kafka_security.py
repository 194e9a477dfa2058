"""Kafka TLS and SASL settings reach both clients: kafka-python options (emitter, alerts) and Faust credentials."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from config import Settings
from streams.alerts.sinks import build_sinks
from streams.kafka_clients import kafka_client_options
from tests.integration.test_transport_security import make_certs

PASSPHRASE = "key-passphrase"  # a test key's passphrase  # noqa: S105


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("kafka-certs")
    certs = make_certs(folder)
    encrypted = folder / "client-encrypted.key"
    subprocess.run(  # noqa: S603 - openssl, fixed arguments
        ["openssl", "pkey", "-in", str(certs.client_key), "-aes256", "-out", str(encrypted),  # noqa: S607
         "-passout", f"pass:{PASSPHRASE}"],
        check=True, capture_output=True, timeout=60,
    )
    return {
        "LINEAGE_KAFKA_SSL_CAFILE": str(certs.ca),
        "LINEAGE_KAFKA_SSL_CERTFILE": str(certs.client_cert),
        "LINEAGE_KAFKA_SSL_KEYFILE": str(encrypted),
        "LINEAGE_KAFKA_SSL_KEY_PASSWORD": PASSPHRASE,
    }


def test_mutual_tls_with_an_encrypted_key(tls: dict[str, str]) -> None:
    from streams.kafka_clients import broker_credentials

    settings = Settings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "SSL", **tls})
    options = kafka_client_options(settings)
    assert options["security_protocol"] == "SSL" and options["ssl_password"] == PASSPHRASE
    assert (options["ssl_cafile"], options["ssl_certfile"], options["ssl_keyfile"]) == (
        tls["LINEAGE_KAFKA_SSL_CAFILE"], tls["LINEAGE_KAFKA_SSL_CERTFILE"], tls["LINEAGE_KAFKA_SSL_KEYFILE"])
    credentials = broker_credentials(settings)  # loads the chain with the passphrase, or raises
    assert credentials.protocol.value == "SSL"
    context: ssl.SSLContext = credentials.context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert PASSPHRASE not in repr(settings)
    with pytest.raises(ssl.SSLError):  # the wrong passphrase is caught when the worker starts, not later
        broker_credentials(Settings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "SSL", **tls,
                                              "LINEAGE_KAFKA_SSL_KEY_PASSWORD": "wrong"}))


def test_sasl_scram_over_tls(tls: dict[str, str]) -> None:
    from streams.kafka_clients import broker_credentials

    env = {"LINEAGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LINEAGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "LINEAGE_KAFKA_SASL_USERNAME": "lineage-worker", "LINEAGE_KAFKA_SASL_PASSWORD": "sasl-secret",
           "LINEAGE_KAFKA_SSL_CAFILE": tls["LINEAGE_KAFKA_SSL_CAFILE"]}
    settings = Settings.from_env(env)
    credentials = broker_credentials(settings)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("lineage-worker", "sasl-secret")
    assert credentials.ssl_context is not None and credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED
    options = kafka_client_options(settings)
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-512", "lineage-worker")
    assert "sasl-secret" not in repr(settings)


def test_an_unknown_security_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="LINEAGE_KAFKA_SECURITY_PROTOCOL"):
        Settings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "TLS"})


def test_the_alert_sink_gets_the_same_security_options(tls: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "SSL", "LINEAGE_ALERT_KAFKA": "1", **tls})
    (_, kafka) = build_sinks(settings)
    assert kafka.client_options["ssl_password"] == PASSPHRASE  # type: ignore[attr-defined]
    assert kafka.client_options["security_protocol"] == "SSL"  # type: ignore[attr-defined]
