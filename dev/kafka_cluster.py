"""A three-broker Apache Kafka cluster for the tests that need replication: one
controller-only KRaft node and ``brokers`` broker-only nodes, PLAINTEXT, on free ports.

Each broker can be stopped (gracefully or with SIGKILL) and started again on its own
log directory, so a test can watch partitions lose and regain an in-sync replica.
A dedicated controller keeps the quorum out of the way: stopping a broker never
costs a controller election.

    python -m dev.kafka_cluster [--var-dir DIR] [--brokers 3]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dev import devstack
from dev.apache_kafka import JAVA_OPTS, KAFKA_VERSION, LOG4J2, READY_TIMEOUT, classpath, cluster_id, missing_reason


@dataclass
class ClusterNode:
    node_id: int
    server: devstack.Server

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def running(self) -> bool:
        return self.server.running


@dataclass
class KafkaCluster:
    controller: ClusterNode
    brokers: dict[int, ClusterNode] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.brokers.values())

    def start(self, timeout: float = READY_TIMEOUT) -> KafkaCluster:
        self.controller.server.start()
        for node in self.brokers.values():
            node.server.spawn()
        self.wait_for_brokers(set(self.brokers), timeout)
        return self

    def stop(self) -> None:
        for node in [*self.brokers.values(), self.controller]:
            node.server.stop(15.0)

    def kill_broker(self, node_id: int) -> None:
        """SIGKILL: no controlled shutdown, the controller notices by the missed heartbeats."""
        proc = self.brokers[node_id].server.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop_broker(self, node_id: int) -> None:
        self.brokers[node_id].server.stop(30.0)

    def start_broker(self, node_id: int, timeout: float = READY_TIMEOUT) -> None:
        self.brokers[node_id].server.spawn()
        self.wait_for_brokers({node_id}, timeout)

    def wait_for_brokers(self, wanted: set[int], timeout: float) -> None:
        """Until the cluster's metadata lists every broker in ``wanted``."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        client = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while True:
            for node_id in wanted:
                proc = self.brokers[node_id].server.proc
                if proc is not None and proc.poll() is not None:
                    log = self.brokers[node_id].server.log_path
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"broker {node_id} exited with code {proc.returncode}\n--- {log} ---\n{tail}")
            try:
                if wanted <= set(client.list_topics(timeout=1).brokers):
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"brokers {sorted(wanted)} not all listed within {timeout:g} s")
            time.sleep(0.2)


def kafka_cluster(var_dir: Path, *, brokers: int = 3, version: str = KAFKA_VERSION) -> KafkaCluster:
    """Format a controller and ``brokers`` brokers under a fresh directory of ``var_dir``."""
    jars = classpath(version)
    var_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="kafka-cluster-", dir=var_dir))
    identity = cluster_id()
    controller_port = devstack.free_port()
    ports: set[int] = {controller_port}
    broker_ports: list[int] = []
    while len(broker_ports) < brokers:
        port = devstack.free_port()
        if port not in ports:
            ports.add(port)
            broker_ports.append(port)
    replication = str(min(3, brokers))
    common = {
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": "1",
        # Noticed within seconds, not the default 9 s, when a broker is killed.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "500",
    }
    log4j = root / "log4j2.properties"
    log4j.write_text(LOG4J2)
    java = ["java", *JAVA_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", jars]

    def node(node_id: int, name: str, properties: dict[str, str], standalone: bool) -> devstack.Server:
        directory = root / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        properties = {**common, **properties, "node.id": str(node_id), "log.dirs": str(directory / "logs")}
        config = directory / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        quorum = "--standalone" if standalone else "--no-initial-controllers"
        formatted = subprocess.run(
            [*java, "kafka.tools.StorageTool", "format", quorum, f"--cluster-id={identity}", f"--config={config}"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise RuntimeError(f"formatting {name} failed: {(formatted.stdout + formatted.stderr)[-2000:]}")
        port = controller_port if standalone else int(properties["listeners"].rsplit(":", 1)[1])
        return devstack.Server(
            f"kafka-{name}", port, [*java, "kafka.Kafka", str(config)], var_dir / "logs" / f"kafka-{name}-{port}.log",
            ready_timeout=READY_TIMEOUT,
        )  # fmt: skip

    controller = ClusterNode(
        100,
        node(
            100,
            "controller",
            {"process.roles": "controller", "listeners": f"CONTROLLER://127.0.0.1:{controller_port}"},
            standalone=True,
        ),
    )
    cluster = KafkaCluster(controller)
    for index, port in enumerate(broker_ports, start=1):
        listener = f"PLAINTEXT://127.0.0.1:{port}"
        properties = {
            "process.roles": "broker",
            "listeners": listener,
            "advertised.listeners": listener,
            "inter.broker.listener.name": "PLAINTEXT",
        }
        cluster.brokers[index] = ClusterNode(index, node(index, f"broker-{index}", properties, standalone=False))
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.kafka_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, default=Path(tempfile.gettempdir()) / "streamdesk-kafka-cluster")
    parser.add_argument("--brokers", type=int, default=3)
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 3
    started = time.monotonic()
    cluster = kafka_cluster(args.var_dir, brokers=args.brokers).start()
    print(f"Apache Kafka {KAFKA_VERSION}, {args.brokers} brokers, ready in {time.monotonic() - started:.1f} s")
    print(f"  bootstrap  {cluster.bootstrap}", flush=True)
    try:
        while cluster.controller.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
