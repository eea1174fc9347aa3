"""Start-up check that every topic the service reads or writes exists.

Producing to a missing topic would only fail after ``message.timeout.ms``,
with the first alerts of the stream already in flight. A missing input
topic would leave the service unready until librdkafka's next metadata
refresh after the topic appears (5 minutes by default). So the service
checks its topics before it subscribes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from stream.config import ServiceSettings
from stream.errors import KafkaServiceError
from stream.kafka.clients import admin_config, producer_batch_limit

logger = logging.getLogger(__name__)

# How long start-up waits for the broker's topic metadata, asked for in steps of this length.
METADATA_WAIT_SECONDS = 30.0
METADATA_ATTEMPT_SECONDS = 1.0


def check_topics_exist(consumer: Consumer, settings: ServiceSettings, stop_requested: Callable[[], bool]) -> bool:
    """Raise when an input, alert or dead-letter topic of ``settings`` does not exist.

    Returns True once every topic was found, or False, without checking,
    when ``stop_requested`` became true while the broker did not respond.

    Raises:
        KafkaServiceError: a topic does not exist, or the broker did not
            respond within ``METADATA_WAIT_SECONDS``. The message names the
            flag that chooses the topic, or the address to check.
    """
    required_topics = dict.fromkeys(settings.input_topics, "--input-topic")
    required_topics.setdefault(settings.output_topic, "--output-topic")
    for topic in settings.input_topics:
        required_topics.setdefault(settings.dead_letter_topic_for(topic), "--dlq-topic")

    protocol = settings.kafka_properties().get("security.protocol", "plaintext")
    existing = read_topic_metadata(consumer, settings.bootstrap_servers, stop_requested, security_protocol=protocol)
    if existing is None:
        return False
    for topic, flag in required_topics.items():
        metadata = existing.get(topic)
        if metadata is None or metadata.error is not None:
            raise KafkaServiceError(f"topic {topic!r} does not exist: create it, or choose another with {flag}")
    return True


def warn_if_output_limit_below_batch(settings: ServiceSettings, timeout: float = 10.0) -> int | None:
    """Log a warning when the output topic accepts smaller record batches than the producer builds.

    The broker checks ``max.message.bytes`` against a whole record batch,
    and librdkafka does not split a rejected batch. So with a smaller limit
    than the producer's batch, batches of several alerts that fit one by one
    can be rejected, and their source messages are dead-lettered as
    ``alert_rejected``. Returns the topic's limit in bytes. Returns None when
    the broker did not give it, for example without the DescribeConfigs
    permission. The service then starts all the same.
    """
    topic = settings.output_topic
    admin = AdminClient(admin_config(settings.bootstrap_servers, settings.kafka_properties()))
    try:
        future = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=timeout)
        entries = next(iter(future.values())).result(timeout=timeout)
        limit = int(entries["max.message.bytes"].value)
    except (KafkaException, KeyError, TypeError, ValueError, TimeoutError) as exc:
        logger.info("could not read max.message.bytes of output topic %r, so it is not compared with batch.size: %s", topic, exc)
        return None

    batch_limit = producer_batch_limit(settings.kafka_properties())
    if batch_limit is not None and limit < batch_limit:
        logger.warning(
            "output topic %r accepts record batches of up to %d bytes (max.message.bytes), but the producer "
            "builds batches of up to %d bytes (batch.size), and the broker rejects a larger batch as a whole: "
            "the alerts of a rejected batch are then produced again one by one, which slows the stream. Raise "
            "the topic's max.message.bytes to at least %d, or lower the batch with --kafka-config batch.size=%d",
            topic, limit, batch_limit, batch_limit, limit,
        )
    return limit


def read_topic_metadata(
    consumer: Consumer, bootstrap_servers: str, stop_requested: Callable[[], bool], *, security_protocol: str = "plaintext"
) -> dict[str, Any] | None:
    """Return the broker's topic metadata by name, or None when a stop was requested before it responded.

    The broker is asked in steps of one second, so that SIGTERM stops a
    service that cannot reach it within about a second instead of after
    the whole wait.

    Raises:
        KafkaServiceError: the broker did not respond within ``METADATA_WAIT_SECONDS``.
            The message names the address and ``security_protocol``, because a
            TLS or SASL setting that does not match the broker's listener
            fails the same way as an unreachable broker.
    """
    deadline = time.monotonic() + METADATA_WAIT_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            return consumer.list_topics(timeout=METADATA_ATTEMPT_SECONDS).topics  # type: ignore[no-any-return]
        except KafkaException as exc:
            if stop_requested():
                return None
            if time.monotonic() >= deadline:
                raise KafkaServiceError(
                    f"cannot read topic metadata from {bootstrap_servers}: {exc}. Check that the broker "
                    "is running and reachable at that address, or fix --bootstrap-servers. Check also that "
                    f"security.protocol ({security_protocol}) and the SASL settings in --kafka-config match "
                    "the broker's listener; the librdkafka errors logged above name the cause"
                ) from exc
            if attempts == 1:
                logger.warning(
                    "no response from the broker at %s yet, retrying for up to %.0f s: %s",
                    bootstrap_servers, METADATA_WAIT_SECONDS, exc,
                )
