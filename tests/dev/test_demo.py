"""The commands behind ``make run``: the local admin, the demo seed and the demo traffic."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from confluent_kafka import Consumer, TopicPartition
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from dev.management.commands._demo import DemoNames
from dev.management.commands.demo_traffic import Traffic
from streams.nats import services


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_ensure_admin_creates_once_and_keeps_the_password_private(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert run("ensure_admin").startswith("created")
    path = tmp_path / "admin-password"
    assert path.stat().st_mode & 0o777 == 0o600
    password = path.read_text().strip()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)

    assert run("ensure_admin").startswith("exists")
    assert path.read_text().strip() == password

    admin.set_password("chosen-by-the-admin-1")
    admin.save()
    assert run("ensure_admin").startswith("stale")
    path.unlink()
    assert run("ensure_admin").startswith("missing")
    assert get_user_model().objects.filter(username="admin").count() == 1


@pytest.mark.parametrize(
    ("setting", "value"),
    [("KAFKA_BOOTSTRAP_SERVERS", "kafka.example.com:9092"), ("NATS_URL", "nats://nats.example.com:4222")],
)
def test_demo_commands_refuse_brokers_on_other_machines(setting, value):
    skip = {"KAFKA_BOOTSTRAP_SERVERS": "skip_nats", "NATS_URL": "skip_kafka"}[setting]
    with override_settings(**{setting: value}), pytest.raises(CommandError, match="--allow-remote"):
        run("seed_demo", **{skip: True})
    with override_settings(**{setting: value}), pytest.raises(CommandError, match="--allow-remote"):
        run("demo_traffic", duration=0.1)


def group_lag(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        lags = []
        for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            lags.append(high - tp.offset)
        return lags
    finally:
        consumer.close()


def billing_lag(bootstrap: str, names: DemoNames) -> list[int]:
    return group_lag(bootstrap, names.billing, names.orders, 3)


def test_seed_demo_creates_the_demo_once(kafka_bootstrap, nats_urls, unique, db):
    names = DemoNames(f"{unique}-")
    first = run("seed_demo", prefix=names.prefix, allow_remote=True)
    assert f"created {names.audit_log}" in first
    assert f"{names.orders} (24 messages)" in first
    assert f"created stream {names.stream}" in first
    assert f"created bucket {names.config_bucket} (4 keys)" in first
    assert f"created object store {names.files} (3 files)" in first
    pending = re.search(r"consumer \S+: (\d+) pending, (\d+) awaiting ack", first)
    assert pending and int(pending.group(1)) > 0 and int(pending.group(2)) == 2
    assert "saved messages: created an order, a sensor reading, an echo request" in first
    assert f"managed consumers: created {names.bridge}, {names.payment_check}" in first
    lags = billing_lag(kafka_bootstrap, names)
    assert all(lag > 0 for lag in lags) and sum(lags) < 10

    again = run("seed_demo", prefix=names.prefix, allow_remote=True)
    assert "created" not in again
    assert "demo topics already exist" in again and f"stream {names.stream} already exists" in again
    from streams.workers.models import ManagedConsumer

    check = ManagedConsumer.objects.get(name=names.payment_check)
    assert check.handler == "validate" and check.dead_letter == {"cluster": "kafka", "topic": names.payments_dlq}
    assert billing_lag(kafka_bootstrap, names) == lags


async def test_demo_traffic_flows_answers_requests_and_consumers_catch_up_part_way(kafka_bootstrap, nats_urls, unique):
    names = DemoNames(f"{unique}-")
    await asyncio.to_thread(
        run, "seed_demo", prefix=names.prefix, allow_remote=True, skip_saved=True, skip_workers=True
    )
    seeded_lag = await asyncio.to_thread(billing_lag, kafka_bootstrap, names)
    traffic = Traffic(names, kafka_bootstrap, [nats_urls[0]], seed=3)
    await traffic.start()
    try:
        assert traffic.nc is not None and traffic.js is not None
        reply = await traffic.nc.request(names.echo, b"ping", timeout=3)
        assert json.loads(reply.data)["echo"] == "ping"
        # Other demos may share the server: this one's instance is the one serving its subject.
        infos = await services.gather(traffic.nc, "$SRV.INFO.demo-echo")
        assert [[e["subject"] for e in i["endpoints"]] for i in infos].count([names.echo]) == 1

        for _ in range(10):
            await traffic.step()
        config = await traffic.js.key_value(names.config_bucket)
        assert (await config.get("orders.last")).value == b"10"
        assert traffic.producer is not None
        await asyncio.to_thread(traffic.producer.flush, 5)
        assert traffic.sent == {"kafka": 10, "nats": 10} and traffic.errors == 0
        before = await traffic.js.consumer_info(names.stream, names.shipper)

        await traffic.settle()
        after = await traffic.js.consumer_info(names.stream, names.shipper)
        assert 0 < after.num_pending < before.num_pending
        lags = await asyncio.to_thread(billing_lag, kafka_bootstrap, names)
        # Never all the way: the lag page always has something to show.
        assert all(lag > 0 for lag in lags)
        assert sum(lags) <= sum(seeded_lag) + 10
        # Group ledger keeps up with the payments (one came with the fifth order).
        assert await asyncio.to_thread(group_lag, kafka_bootstrap, names.ledger, names.payments, 1) == [0]
        assert traffic.errors == 0
    finally:
        await traffic.close()
