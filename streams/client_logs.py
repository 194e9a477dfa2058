"""Keeps the Kafka client libraries and Faust from logging message payloads, which carry raw subject ids, at DEBUG.

kafka-python (``kafka.producer.kafka``: "Sending (key=... value=...)", ``kafka.protocol.parser``: the raw bytes
of every request and response) and aiokafka (``aiokafka.producer.producer``: "Sending (key=... value=...)") log
whole messages at DEBUG, and so does Faust ("send: topic=... v=..." in ``faust.topics`` and its aiokafka driver).
Events on the events topic and dead letters carry the raw subject id, so with ``LINEAGE_LOG_LEVEL=DEBUG`` (or an
application that turns DEBUG on for everything) those ids would end up in the logs. Every component here that
creates a Kafka client calls :func:`quiet_kafka_client_logs`: it caps the two client libraries' loggers at INFO
and replaces the value in Faust's "send" records by its size; every other DEBUG record stays. To debug the Kafka
clients themselves, lower the ``kafka`` or ``aiokafka`` logger's level again after the client is created, on a
system where the logs may hold personal data.
"""

from __future__ import annotations

import logging

PAYLOAD_LOGGERS = ("kafka", "aiokafka")
"""The client libraries whose DEBUG records carry message payloads (children inherit the parent's level)."""
FAUST_SEND_LOGGERS = ("faust.topics", "faust.transport.drivers.aiokafka")
"""Faust loggers whose "send: topic=%r k=%r v=%r ..." DEBUG record carries the message value (third argument)."""
_FAUST_SEND = "send: topic=%r k=%r v=%r"


class RedactFaustSend(logging.Filter):
    """Replaces the value in Faust's "send" DEBUG record by its size; other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(record.msg, str) and record.msg.startswith(_FAUST_SEND) and isinstance(args, tuple):
            value = args[2] if len(args) > 2 else None
            size = len(value) if isinstance(value, bytes | str) else 0
            record.args = (*args[:2], f"<{size} bytes>", *args[3:])
        return True


def quiet_kafka_client_logs() -> None:
    """Cap the Kafka client libraries' loggers at INFO (a stricter level already set is kept) and redact Faust's
    "send" records; idempotent."""
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (inherit, possibly DEBUG) or DEBUG
            logger.setLevel(logging.INFO)
    for name in FAUST_SEND_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFaustSend) for f in logger.filters):
            logger.addFilter(RedactFaustSend())
