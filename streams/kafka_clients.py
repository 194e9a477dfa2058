"""The options of every Kafka client (kafka-python, aiokafka, Faust), from settings: brokers, client id, TLS, SASL."""

from __future__ import annotations

import ssl
from typing import Any

from config import Settings


def bootstrap_servers(settings: Settings) -> list[str]:
    """The bootstrap servers in settings (comma-separated), each stripped."""
    return [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options for kafka-python clients (producer, admin), from settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "client_id": settings.kafka_client_id,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username is not None:
        options["sasl_plain_username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        options["sasl_plain_password"] = settings.kafka_sasl_password
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, "kafka_" + name)
        if value:
            options[name] = str(value)
    if settings.kafka_ssl_key_password:
        options["ssl_password"] = settings.kafka_ssl_key_password  # the client key's passphrase
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (CA, client certificate), None for the plaintext protocols."""
    if settings.kafka_security_protocol.upper() not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            settings.kafka_ssl_key_password,
        )
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options for aiokafka clients, from the same settings as the other clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "client_id": settings.kafka_client_id,
        "security_protocol": settings.kafka_security_protocol.upper(),
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if options["security_protocol"].startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def broker_urls(settings: Settings) -> list[str]:
    """``kafka://host:port`` for each bootstrap server in settings (Faust's broker URLs)."""
    return [s if "://" in s else f"kafka://{s}" for s in bootstrap_servers(settings)]


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials for the configured security protocol (None for PLAINTEXT)."""
    import faust

    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
    )
