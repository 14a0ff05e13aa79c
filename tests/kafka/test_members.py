"""Group members on the real broker: who is in a group and which partitions each one owns."""

from __future__ import annotations

from contextlib import ExitStack

from confluent_kafka import Consumer

from tests.kafka import helpers as kh
from tests.polling import wait_until


def _member(bootstrap: str, group: str, topic: str, client_id: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": client_id,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer


def _poll_until(consumers: list[Consumer], done, timeout: float = 30) -> None:
    def settled() -> bool:
        if done():
            return True
        for c in consumers:
            c.poll(0.1)
        return False

    # The consumers' polls are the pause between checks.
    wait_until(settled, timeout=timeout, interval=0, message="the group settling")


def test_two_members_each_own_their_partitions(viewer_client, kafka_bootstrap, kafka_broker, unique):
    topic, group = f"{unique}.t", f"{unique}-group"
    kh.create_topic(kafka_bootstrap, topic, partitions=4)
    kh.produce(kafka_bootstrap, topic, [b"x"] * 3, partition=0)
    kh.commit(kafka_bootstrap, group, {(topic, 0): 1})
    with ExitStack() as stack:
        consumers = [_member(kafka_bootstrap, group, topic, f"{unique}-c{i}") for i in (1, 2)]
        for c in consumers:
            stack.callback(c.close)
        if kafka_broker != "apache":
            _poll_until(consumers, lambda: any(c.assignment() for c in consumers))
            body = viewer_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()
            # tansu answers DescribeGroups without members: the page says so instead of "0".
            assert body["members"] == [] and not body["members_reported"] and body["members_note"]
            assert all(p["member_id"] is None for p in body["partitions"])
            page = viewer_client.get(f"/clusters/kafka/groups/{group}").content.decode()
            assert body["members_note"] in page
            return
        _poll_until(
            consumers,
            lambda: all(c.assignment() for c in consumers) and sum(len(c.assignment()) for c in consumers) == 4,
        )

        def described():
            for c in consumers:
                c.poll(0.1)
            return viewer_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()

        body = wait_until(
            described,
            until=lambda body: len(body["members"]) == 2 and body["state"] == "STABLE",
            timeout=20,
            interval=0.5,
            message="two members in a stable group",
        )
        assert body["members_reported"] and body["members_note"] is None
        members = {m["client_id"]: m for m in body["members"]}
        assert set(members) == {f"{unique}-c1", f"{unique}-c2"}
        owned: dict[int, str] = {}
        for m in members.values():
            assert m["member_id"] and m["host"]
            assert m["assignment"] == m["assignments"]
            assert m["assignments"], "each of the two members owns some of the four partitions"
            for a in m["assignments"]:
                assert a["topic"] == topic and a["partition"] not in owned
                owned[a["partition"]] = m["member_id"]
        assert sorted(owned) == [0, 1, 2, 3]
        # The broker's answer matches what each consumer was given.
        for i, c in enumerate(consumers, start=1):
            given = {tp.partition for tp in c.assignment()}
            assert given == {a["partition"] for a in members[f"{unique}-c{i}"]["assignments"]}
        rows = {p["partition"]: p for p in body["partitions"] if p["topic"] == topic}
        assert {p: r["member_id"] for p, r in rows.items()} == owned
        assert (rows[0]["committed"], rows[0]["lag"]) == (1, 2)

        page = viewer_client.get(f"/clusters/kafka/groups/{group}").content.decode()
        by_id = {m["member_id"]: m for m in members.values()}
        for m in by_id.values():
            assert m["member_id"] in page and m["client_id"] in page and m["host"] in page
        cell = page.split(f'data-topic="{topic}" data-partition="0"')[1].split("</tr>")[0]
        assert by_id[owned[0]]["client_id"] in cell and by_id[owned[0]]["host"] in cell
