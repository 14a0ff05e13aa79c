"""``make run``'s entry point end to end: servers, demo, login, and a clean Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import threading
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from dev import devrun
from tests.polling import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("devrun")]

READY_TIMEOUT = 90.0


class DevRunProcess:
    def __init__(self, var_dir: Path, *args: str) -> None:
        self.proc = devrun.launch(var_dir, *args)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str, timeout: float = READY_TIMEOUT) -> str:
        def marked() -> bool:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                return False
            assert line is not None, f"devrun ended without {marker!r}:\n{''.join(self.output)}"
            self.output.append(line)
            return marker in line

        # The read blocks until a line comes: no pause between reads.
        wait_until(
            marked, timeout=timeout, interval=0, message=lambda: f"{marker!r} from devrun:\n{''.join(self.output)}"
        )
        return "".join(self.output)

    def rest(self) -> str:
        self.proc.wait(30)
        while (line := self.lines.get(timeout=5)) is not None:
            self.output.append(line)
        return "".join(self.output)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def children_of(pid: int) -> dict[int, tuple[str, str]]:
    """pid -> (start time, command line) for every direct child of ``pid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            found[int(entry.name)] = (fields[19], cmdline)
    return found


def still_running(pid: int, started: str) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


def port_of(output: str, label: str) -> int:
    match = re.search(rf"^\s*{label}\s+127\.0\.0\.1:(\d+)", output, re.MULTILINE)
    assert match, output
    return int(match.group(1))


def log_in(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=15)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 302, response.text[:500]
    return client


def test_make_run_serves_logs_in_seeds_and_stops_cleanly(tmp_path):
    run = DevRunProcess(tmp_path / "var")
    try:
        output = run.wait_for("Press Ctrl-C")
        ready = re.search(r"Streamdesk is ready:\s+(\S+)", output)
        login = re.search(r"Log in as:\s+(\S+) / (\S+)", output)
        assert ready is not None and login is not None, output
        url = ready.group(1).rstrip("/")
        username, password = login.groups()
        assert username == "admin"
        password_file = tmp_path / "var" / "admin-password"
        assert password_file.read_text().strip() == password
        assert password_file.stat().st_mode & 0o777 == 0o600

        client = log_in(url, username, password)
        response = client.get("/api/v1/clusters")
        assert response.status_code == 200, response.text
        clusters = {c["slug"]: c for c in response.json()["clusters"]}
        assert clusters["kafka"]["reachable"] is True, clusters
        assert clusters["nats"]["reachable"] is True, clusters
        assert client.get("/clusters").status_code == 200

        # The demo's managed consumers run: orders bridged to NATS, poison payments dead-lettered.
        wait_until(
            lambda: {w["name"]: w for w in client.get("/api/v1/workers").json()["items"]},
            until=lambda workers: (
                workers["payments-check"]["dead_lettered"] >= 2 and workers["orders-to-nats"]["processed"] > 0
            ),
            timeout=60,
            interval=0.5,
            message="the demo's consumers bridging orders and dead-lettering payments",
        )

        # The demo is there: a JetStream consumer with work pending, a Kafka group that lags.
        monitor = port_of(output, "NATS monitor")
        jsz = httpx.get(f"http://127.0.0.1:{monitor}/jsz?consumers=true", timeout=5).json()
        streams = {s["name"]: s for s in jsz["account_details"][0]["stream_detail"]}
        shipper = {c["name"]: c for c in streams["ORDERS"]["consumer_detail"]}["shipper"]
        assert streams["ORDERS"]["state"]["messages"] > 0 and shipper["num_pending"] > 0
        consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{port_of(output, 'Kafka')}", "group.id": "billing"})
        try:
            lag = 0
            for tp in consumer.committed([TopicPartition("orders", p) for p in range(3)], timeout=10):
                _, high = consumer.get_watermark_offsets(TopicPartition("orders", tp.partition), timeout=10)
                lag += high - tp.offset
            assert lag > 0
        finally:
            consumer.close()

        children = children_of(run.proc.pid)
        names = " ".join(cmd for _, cmd in children.values())
        for expected in ("nats-server", "tansu", "valkey-server", "daphne", "worker -Q celery", "worker -Q bulk",
                         "beat", "runconsumers", "demo_traffic"):  # fmt: skip
            assert expected in names, names

        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(30) == 0, run.rest()
        assert "no process left behind" in run.rest()
        left = [cmd for pid, (started, cmd) in children.items() if still_running(pid, started)]
        assert left == []
    finally:
        run.kill()


def test_a_child_that_dies_is_named_and_the_rest_are_stopped(tmp_path):
    run = DevRunProcess(tmp_path / "var", "--no-demo")
    try:
        run.wait_for("Press Ctrl-C")
        children = children_of(run.proc.pid)
        tansu = next(pid for pid, (_, cmd) in children.items() if "tansu" in cmd)
        os.kill(tansu, signal.SIGKILL)
        assert run.proc.wait(30) == 1
        output = run.rest()
        assert "tansu exited unexpectedly" in output
        left = [cmd for pid, (started, cmd) in children.items() if still_running(pid, started)]
        assert left == []
    finally:
        run.kill()


def test_make_run_kafka_apache_runs_apache_kafka_and_seeds_it(tmp_path):
    from dev import apache_kafka

    reason = apache_kafka.missing_reason()
    if reason:
        pytest.skip(reason)
    run = DevRunProcess(tmp_path / "var", "--kafka", "apache", "--no-traffic")
    try:
        output = run.wait_for("Press Ctrl-C")
        assert f"Apache Kafka {apache_kafka.KAFKA_VERSION}" in output and "SASL_SSL" in output, output
        bootstrap = f"127.0.0.1:{port_of(output, 'Kafka')}"
        kafka = next((pid, at) for pid, (at, cmd) in children_of(run.proc.pid).items() if "kafka.Kafka" in cmd)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing"})
        try:
            assert len(consumer.list_topics("orders", timeout=10).topics["orders"].partitions) == 3
            lag = 0
            for tp in consumer.committed([TopicPartition("orders", p) for p in range(3)], timeout=10):
                _, high = consumer.get_watermark_offsets(TopicPartition("orders", tp.partition), timeout=10)
                lag += high - tp.offset
            assert lag > 0
        finally:
            consumer.close()
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(30) == 0, run.rest()
        assert "did not stop" not in run.rest() and not still_running(*kafka)
    finally:
        run.kill()
