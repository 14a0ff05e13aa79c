"""One long-lived adapter per cluster per process, renewed when its config changes."""

from __future__ import annotations

from django.test import override_settings

from streams import adapters
from streams.nats.adapter import NatsAdapter


def test_same_config_gets_the_same_adapter(db):
    first = adapters.get_adapter("kafka")
    adapters.invalidate()
    assert adapters.get_adapter("kafka") is first
    assert adapters.get_adapter("nats") is adapters.get_adapter("nats")


def test_changed_config_gets_a_new_adapter_and_the_old_one_is_closed(db, dead_port):
    before = adapters.get_adapter("nats")
    with override_settings(NATS_URL=f"nats://127.0.0.1:{dead_port}"):
        adapters.invalidate()
        after = adapters.get_adapter("nats")
        assert after is not before
        assert after.config.servers == (f"nats://127.0.0.1:{dead_port}",)
    assert isinstance(before, NatsAdapter)
    assert not before._loop._thread.is_alive()
    adapters.invalidate()
    assert adapters.get_adapter("nats") is not after  # back to the original servers


def test_unknown_or_wrong_kind_cluster_is_not_found(db):
    import pytest

    from streams.errors import NotFound

    with pytest.raises(NotFound, match="No cluster named 'ghost'"):
        adapters.get_adapter("ghost")
    with pytest.raises(NotFound, match="No kafka cluster named 'nats'"):
        adapters.get_adapter("nats", kind="kafka")


def test_read_only_switch_refuses_writes_even_for_operators(operator_client, operator):
    import pytest
    from asgiref.sync import async_to_sync

    from console.access import Forbidden, require

    async_to_sync(require)(operator, write=True)  # allowed normally
    with override_settings(READ_ONLY=True):
        with pytest.raises(Forbidden, match="read-only"):
            async_to_sync(require)(operator, write=True)
        async_to_sync(require)(operator, write=False)  # reads still work
        page = operator_client.get("/clusters")
    assert b"read-only" in page.content
