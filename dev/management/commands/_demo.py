"""What the demo data is called and where it goes; shared by ``seed_demo`` and ``demo_traffic``.

These commands talk to the brokers directly (they are producers and consumers,
not views). They refuse non-local brokers unless told otherwise, so a stray
``manage.py seed_demo`` never writes demo orders into a real cluster.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

CUSTOMERS = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances"]
PRODUCTS = [
    ("kb-01", "keyboard", 49.0),
    ("ms-02", "mouse", 19.5),
    ("mn-27", "monitor", 229.0),
    ("hd-10", "headset", 89.9),
]
# Weighted: most order events are new orders.
ORDER_EVENTS = ("created", "created", "paid", "shipped")
# The demo's schema files; dev/demo/*-decoders.toml bind them to the topics and subjects below.
SCHEMAS = Path(__file__).resolve().parents[2] / "demo" / "schemas"
ROOMS = ("LAB", "OFFICE", "SERVER_ROOM")
CARRIERS = ("dhl", "ups", "postnl", "dpd")


@dataclass(frozen=True)
class DemoNames:
    """Topic, group, stream and subject names, optionally prefixed (tests use a unique prefix)."""

    prefix: str = ""

    @property
    def orders(self) -> str:
        return f"{self.prefix}orders"

    @property
    def payments(self) -> str:
        return f"{self.prefix}payments"

    @property
    def audit_log(self) -> str:
        return f"{self.prefix}audit.log"

    @property
    def readings(self) -> str:
        """Plain Avro binary (dev/demo/schemas/reading.avsc)."""
        return f"{self.prefix}readings"

    @property
    def shipments(self) -> str:
        """Plain Protobuf (dev/demo/schemas/shipment.desc, ``demo.ship.Shipment``)."""
        return f"{self.prefix}shipments"

    @property
    def payments_dlq(self) -> str:
        return f"{self.prefix}payments.dlq"

    @property
    def bridge_subject(self) -> str:
        return f"{self.prefix}bridge.orders"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}orders-to-nats"

    @property
    def payment_check(self) -> str:
        return f"{self.prefix}payments-check"

    @property
    def billing(self) -> str:
        return f"{self.prefix}billing"

    @property
    def ledger(self) -> str:
        return f"{self.prefix}ledger"

    @property
    def stream(self) -> str:
        return f"{self.prefix}ORDERS".upper()

    @property
    def subject_root(self) -> str:
        return f"{self.prefix}orders"

    @property
    def shipper(self) -> str:
        return f"{self.prefix}shipper"

    @property
    def sensors(self) -> str:
        return f"{self.prefix}sensors"

    @property
    def config_bucket(self) -> str:
        return f"{self.prefix}config".replace(".", "_")

    @property
    def files(self) -> str:
        return f"{self.prefix}files".replace(".", "_")

    @property
    def echo(self) -> str:
        return f"{self.prefix}demo.echo"


def add_target_arguments(parser: CommandParser) -> None:
    """Which demo names, and whether brokers off this machine may be written to."""
    parser.add_argument("--prefix", default="", help="prefix every demo name (for tests)")
    parser.add_argument("--allow-remote", action="store_true", help="also write to brokers on other machines")


def producer_config(bootstrap: str) -> dict[str, Any]:
    # One record per batch keeps watermarks exact on brokers that answer ListOffsets
    # with the last batch's base offset (tansu).
    return {
        "bootstrap.servers": bootstrap,
        "client.id": "streamdesk-demo",
        "linger.ms": 0,
        "batch.num.messages": 1,
        "socket.timeout.ms": 5000,
        "message.timeout.ms": 10000,
    }


def consumer_config(bootstrap: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": "streamdesk-demo",
        "group.id": group,
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "socket.timeout.ms": 5000,
    }


def _is_local(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def kafka_bootstrap(allow_remote: bool) -> str:
    servers = settings.KAFKA_BOOTSTRAP_SERVERS
    if not servers:
        raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set.")
    hosts = [server.strip().rpartition(":")[0] for server in servers.split(",") if server.strip()]
    if not allow_remote and not all(_is_local(host) for host in hosts):
        raise CommandError(f"Kafka at {servers} is not on this machine; pass --allow-remote to write demo data there.")
    return str(servers)


def nats_servers(allow_remote: bool) -> list[str]:
    raw = settings.NATS_URL
    if not raw:
        raise CommandError("NATS_URL is not set.")
    servers = [server.strip() for server in raw.split(",") if server.strip()]
    hosts = [urlparse(server if "://" in server else f"nats://{server}").hostname for server in servers]
    if not allow_remote and not all(_is_local(host) for host in hosts):
        raise CommandError(f"NATS at {raw} is not on this machine; pass --allow-remote to write demo data there.")
    return servers


def order(rng: random.Random, number: int) -> tuple[str, bytes]:
    """A plausible order as (customer key, JSON bytes)."""
    customer = rng.choice(CUSTOMERS)
    sku, name, price = rng.choice(PRODUCTS)
    quantity = rng.randint(1, 3)
    body = {
        "order_id": f"o-{number:06d}",
        "customer": customer,
        "items": [{"sku": sku, "name": name, "quantity": quantity, "price": price}],
        "total": round(price * quantity, 2),
        "currency": "EUR",
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    return customer, json.dumps(body).encode()


def payment(number: int, status: str = "captured") -> bytes:
    return json.dumps({"payment_id": f"p-{number:04d}", "order_id": f"o-{number:06d}", "status": status}).encode()


def payment_record(rng: random.Random, number: int) -> bytes:
    """A fixed-layout binary record: not UTF-8, so the console shows it as hex/base64."""
    amount_cents = rng.randint(500, 50_000)
    return b"\x00PAY" + number.to_bytes(4, "big") + amount_cents.to_bytes(4, "big") + bytes([0xFF, 0xFE, 0x80, 0x00])


@functools.cache
def _reading_schema() -> Any:
    from fastavro import parse_schema

    return parse_schema(json.loads((SCHEMAS / "reading.avsc").read_text()))


@functools.cache
def _shipment_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = descriptor_pb2.FileDescriptorSet.FromString((SCHEMAS / "shipment.desc").read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:  # protoc lists imports first
        pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.ship.Shipment"))


def reading(rng: random.Random, number: int) -> tuple[str, bytes]:
    """A sensor reading as (sensor key, plain Avro binary), written by fastavro."""
    from fastavro import schemaless_writer

    room = rng.choice(ROOMS)
    sensor = f"{room.lower().replace('_', '-')}-{rng.randint(1, 3)}"
    record = {
        "sensor": sensor,
        "room": room,
        "celsius": round(rng.gauss(21, 2), 2),
        "humidity": round(rng.uniform(30, 60), 1) if rng.random() > 0.2 else None,
        "at": int(datetime.now(UTC).timestamp() * 1000),
        "seq": number,
    }
    out = io.BytesIO()
    schemaless_writer(out, _reading_schema(), record)
    return sensor, out.getvalue()


def shipment(rng: random.Random, number: int) -> tuple[str, bytes]:
    """A shipment as (shipment id key, plain Protobuf), written by the protobuf runtime."""
    message = _shipment_class()(
        shipment_id=f"s-{number:05d}",
        order_id=f"o-{rng.randint(1, max(number, 1)):06d}",
        carrier=rng.choice(CARRIERS),
        state=rng.choice([0, 1, 1, 2]),
        weight_grams=rng.randint(200, 20_000),
    )
    for sku, _, _ in rng.sample(PRODUCTS, rng.randint(1, 2)):
        message.parcels.add(sku=sku, quantity=rng.randint(1, 3))
    message.sent_at.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
    return message.shipment_id, bytes(message.SerializeToString())
