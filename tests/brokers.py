"""Which Kafka broker the suite talks to, for the few assertions that depend on what it can do.

"tansu" (the default), "apache" (STREAMDESK_TEST_KAFKA=apache, dev/apache_kafka.py) or
"external" (KAFKA_BOOTSTRAP_SERVERS names a broker of your own: nothing is assumed about it).
"""

from __future__ import annotations

import os

KAFKA_BROKERS = ("tansu", "apache", "external")


def kafka_broker() -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "external"
    name = os.environ.get("STREAMDESK_TEST_KAFKA") or "tansu"
    if name not in KAFKA_BROKERS[:2]:
        raise ValueError(f"STREAMDESK_TEST_KAFKA={name!r}: expected tansu or apache")
    return name


KAFKA_BROKER = kafka_broker()
