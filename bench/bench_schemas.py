"""Decoding a page of 500 Avro messages against the same page of plain JSON.

Both pages go the browser's way: the payload is built, decoded by schema (Avro: through
the registry client, one schema for the page, so one lookup then the cache; JSON: no
schema applies) and written out as the API's JSON. The registry is the test suite's
stand-in on a real socket. Medians of ``BENCH_SCHEMAS_RUNS`` runs (default 15).

    .venv/bin/python -m bench.bench_schemas
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = 500
TARGET = 1.5

RECORD = {
    "type": "record",
    "name": "Order",
    "namespace": "bench",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "items", "type": {"type": "array", "items": "string"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from bench._common import machine, median_seconds, table
    from streams.clusters import ClusterConfig
    from streams.payloads import Payload
    from streams.schemas import registry as schema_registry
    from streams.schemas.decode import decode_payload
    from tests.schemas.standin import StandinRegistry

    runs = int(os.environ.get("BENCH_SCHEMAS_RUNS", "15"))
    server = StandinRegistry()
    try:
        cluster = ClusterConfig(slug="b", kind="kafka", name="b", servers=("x:1",), schema_registry_url=server.url)
        serialize = AvroSerializer(SchemaRegistryClient({"url": server.url}), json.dumps(RECORD))
        records = [
            {"id": i, "customer": f"customer-{i}", "amount": i * 1.5, "items": ["a", "b", "c"], "at": 1700000000000 + i}
            for i in range(PAGE)
        ]
        avro = [serialize(r, SerializationContext("orders", MessageField.VALUE)) for r in records]
        plain = [json.dumps(r).encode() for r in records]

        def page(values: list[bytes]) -> None:
            out = [decode_payload(cluster, "orders", "value", Payload.of(v)).as_api() for v in values]
            json.dumps({"messages": out}, ensure_ascii=False)

        schema_registry._registries.clear()
        page(avro)  # the one lookup and the parse, as on the first page a user opens
        plain_s = median_seconds(lambda: page(plain), runs)
        avro_s = median_seconds(lambda: page(avro), runs)
    finally:
        server.close()
    ratio = avro_s / plain_s if plain_s else float("inf")
    print("## Schema decoding\n")
    print(f"A page of {PAGE} messages decoded and written as the API's JSON; {machine()}; median of {runs} runs.\n")
    rows = [
        (f"{PAGE} plain JSON values", plain_s, "—", "—"),
        (f"{PAGE} Avro values (registry, cached)", avro_s, f"≤ {TARGET}x plain", "yes" if ratio <= TARGET else "no"),
    ]
    print("\n".join(table(rows)))
    print(f"\nAvro / plain: {ratio:.2f}x.\n")


if __name__ == "__main__":
    main()
