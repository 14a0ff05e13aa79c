"""Apache Kafka for development and tests: a KRaft single node (combined broker and
controller) from the project's own Maven fetch of ``org.apache.kafka:kafka_2.13``.

The jars are resolved once into Maven's local repository (``~/.m2``); the classpath is
kept in ``~/.cache/streamdesk/kafka-<version>/`` so later starts (and parallel test
processes, behind a file lock) run no Maven at all. Each start formats a fresh log
directory and listens on free ports:

- PLAINTEXT, unauthenticated (its principal, ``User:ANONYMOUS``, is the broker's own
  inter-broker identity and therefore a super user);
- SASL_SSL with SCRAM-SHA-512 users created at format time, behind a certificate
  signed by a CA generated for this start (its certificate is a PEM file for
  librdkafka's ``ssl.ca.location``);
- the KRaft controller listener.

Authorization is the StandardAuthorizer; ``allow_everyone=False`` starts a broker
where a SASL user may do only what ACLs grant it.

    python -m dev.apache_kafka [--var-dir DIR]    # start one and print how to reach it
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dev import devstack

KAFKA_VERSION = "4.4.0"
MIN_JAVA = 17  # the broker's classes are Java 17 bytecode
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-secret"  # noqa: S105 - a local test broker's super user
SCRAM_MECHANISM = "SCRAM-SHA-512"
JAVA_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]
FETCH_TIMEOUT = 300.0
FAILURE_MEMORY = 600.0
READY_TIMEOUT = 60.0

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>streamdesk.dev</groupId>
  <artifactId>apache-kafka-classpath</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <!-- The broker logs through SLF4J 1.7; without a binding its log would be silent. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.25.5</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


def cache_dir(version: str = KAFKA_VERSION) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "streamdesk" / f"kafka-{version}"


class FetchFailed(RuntimeError):
    pass


def classpath(version: str = KAFKA_VERSION) -> str:
    """The broker's classpath, fetching the jars with Maven the first time."""
    directory = cache_dir(version)
    directory.mkdir(parents=True, exist_ok=True)
    saved = directory / "classpath.txt"
    # Parallel test processes: the first one runs Maven, the others wait and read its answer.
    with (directory / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = saved.read_text().strip() if saved.exists() else ""
        if text and all(Path(jar).exists() for jar in text.split(os.pathsep)):
            return text
        # A failure is remembered a while: the other processes of the same run skip at once
        # instead of each waiting out an unreachable repository again.
        failed = directory / "fetch-failed.txt"
        if failed.exists() and time.time() - failed.stat().st_mtime < FAILURE_MEMORY:
            raise FetchFailed(f"{failed.read_text()} (an earlier attempt; delete {failed} to try again now)")
        try:
            return _fetch(directory, version, saved)
        except FetchFailed as exc:
            failed.write_text(str(exc))
            raise


def _fetch(directory: Path, version: str, saved: Path) -> str:
    (directory / "pom.xml").write_text(POM.format(version=version))
    pending = directory / "classpath.pending"
    try:
        result = subprocess.run(
            ["mvn", "-q", "-B", "dependency:build-classpath", "-Dmdep.includeScope=runtime",
             f"-Dmdep.outputFile={pending}"],
            cwd=directory, capture_output=True, text=True, timeout=FETCH_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchFailed(f"Maven could not fetch Apache Kafka {version}: {exc}") from None
    if result.returncode != 0 or not pending.exists():
        output = (result.stdout + result.stderr).strip()[-1500:]
        raise FetchFailed(f"Maven could not fetch Apache Kafka {version} (exit {result.returncode}): {output}")
    pending.replace(saved)
    (directory / "fetch-failed.txt").unlink(missing_ok=True)
    return saved.read_text().strip()


_missing: dict[str, str | None] = {}


def missing_reason(version: str = KAFKA_VERSION) -> str | None:
    """None when Apache Kafka can run here, else why not (fetching the jars if needed)."""
    if version not in _missing:
        _missing[version] = _find_missing(version)
    return _missing[version]


def _find_missing(version: str) -> str | None:
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"Apache Kafka needs `{tool}` (OpenJDK 17 and Maven), which is not on PATH"
    java = java_version()
    if java is not None and java < MIN_JAVA:
        return f"Apache Kafka {version} needs Java {MIN_JAVA} or newer; `java` here is {java}"
    try:
        classpath(version)
    except FetchFailed as exc:
        return str(exc)
    return None


def java_version() -> int | None:
    """The major version of ``java`` on PATH (None if it does not say)."""
    try:
        answer = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # 'openjdk version "17.0.15" ...', 'java version "1.8.0_402"'
    match = re.search(r'version "(?:1\.)?(\d+)', answer.stderr + answer.stdout)
    return int(match.group(1)) if match else None


def cluster_id() -> str:
    # It may begin with "-": pass it as --cluster-id=..., never as an argument of its own.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate it signs (for 127.0.0.1 and localhost); returns
    (broker key and chain as PEM, CA certificate as PEM). Made in-process: the JDK's
    keytool would take a JVM start per step, several seconds in all."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, broker_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Streamdesk test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # Unencrypted: Java's PEM reader lacks the PBES2 scheme cryptography encrypts with.
    key_pem = broker_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    keystore, ca_pem = directory / "broker.pem", directory / "ca.pem"
    keystore.write_bytes(key_pem + broker.public_bytes(pem) + ca.public_bytes(pem))
    ca_pem.write_bytes(ca.public_bytes(pem))
    return keystore, ca_pem


@dataclass
class ApacheKafka:
    """A started (or startable) single-node Apache Kafka."""

    server: devstack.Server
    data_dir: Path
    ca_pem: Path
    users: dict[str, str] = field(default_factory=dict)
    allow_everyone: bool = True

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener: unauthenticated, a super user."""
        return f"127.0.0.1:{self.server.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.server.extra_ports['sasl_ssl']}"

    def sasl_config(self, user: str = ADMIN_USER) -> dict[str, str]:
        """librdkafka settings for the SASL_SSL listener as ``user``."""
        return {
            "bootstrap.servers": self.sasl_bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": SCRAM_MECHANISM,
            "sasl.username": user,
            "sasl.password": self.users[user],
            "ssl.ca.location": str(self.ca_pem),
        }

    @property
    def running(self) -> bool:
        return self.server.running

    def start(self, timeout: float = READY_TIMEOUT) -> ApacheKafka:
        self.server.spawn()
        try:
            wait_until_ready(self.bootstrap, timeout, self.server.proc)
        except RuntimeError as exc:
            self.server.stop()
            tail = self.server.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"apache-kafka: {exc}\n--- {self.server.log_path} ---\n{tail}") from None
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.stop(timeout)


def wait_until_ready(bootstrap: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """A metadata answer naming a broker: the listener is up and the node has joined its quorum."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout
    port = int(bootstrap.rsplit(":", 1)[1])
    devstack.wait_for_port(port, timeout, proc)
    client = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the broker exited with code {proc.returncode} before answering")
        try:
            if client.list_topics(timeout=1).brokers:
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no metadata answer from {bootstrap} within {timeout:g} s")
        time.sleep(0.1)


def apache_kafka(
    var_dir: Path,
    *,
    port: int | None = None,
    users: dict[str, str] | None = None,
    allow_everyone: bool = True,
    version: str = KAFKA_VERSION,
    data_dir: Path | None = None,
    advertised_port: int | None = None,
) -> ApacheKafka:
    """Format a node in ``data_dir`` (emptied first) or a fresh directory under ``var_dir``;
    ``start()`` runs it. ``advertised_port``: the PLAINTEXT port clients are told to use (a proxy's)."""
    jars = classpath(version)
    port = port or devstack.free_port()
    sasl_port = devstack.free_port()
    controller_port = devstack.free_port()
    while len({port, sasl_port, controller_port}) < 3:
        sasl_port, controller_port = devstack.free_port(), devstack.free_port()
    if data_dir is None:
        var_dir.mkdir(parents=True, exist_ok=True)
        data_dir = Path(tempfile.mkdtemp(prefix=f"kafka-{port}-", dir=var_dir))
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
    keystore, ca_pem = make_certificates(data_dir / "tls")
    accounts = {ADMIN_USER: ADMIN_PASSWORD, **(users or {})}
    listener = "listener.name.sasl_ssl"
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{advertised_port or port},SASL_SSL://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        f"{listener}.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
        "required;",
        f"{listener}.ssl.keystore.type": "PEM",
        f"{listener}.ssl.keystore.location": str(keystore),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "true" if allow_everyone else "false",
        # PLAINTEXT (and the controller listener) speak as ANONYMOUS: the broker itself.
        "super.users": f"User:ANONYMOUS;User:{ADMIN_USER}",
        "log.dirs": str(data_dir / "logs"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    config = data_dir / "server.properties"
    config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    log4j = data_dir / "log4j2.properties"
    log4j.write_text(LOG4J2)
    java = ["java", *JAVA_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", jars]
    scram = [f"--add-scram={SCRAM_MECHANISM}=[name={name},password={secret}]" for name, secret in accounts.items()]
    formatted = subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "--standalone", f"--cluster-id={cluster_id()}",
         f"--config={config}", *scram],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if formatted.returncode != 0:
        output = (formatted.stdout + formatted.stderr)[-2000:]
        raise RuntimeError(f"formatting the Kafka log directory failed: {output}")
    server = devstack.Server(
        "apache-kafka",
        port,
        [*java, "kafka.Kafka", str(config)],
        var_dir / "logs" / f"apache-kafka-{port}.log",
        ready_timeout=READY_TIMEOUT,
        extra_ports={"sasl_ssl": sasl_port, "controller": controller_port},
    )
    return ApacheKafka(server, data_dir, ca_pem, accounts, allow_everyone)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.apache_kafka", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, default=Path(tempfile.gettempdir()) / "streamdesk-apache-kafka")
    parser.add_argument("--no-allow-everyone", action="store_true", help="only ACLs grant SASL users anything")
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 3
    args.var_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    kafka = apache_kafka(args.var_dir, allow_everyone=not args.no_allow_everyone).start()
    print(f"Apache Kafka {KAFKA_VERSION} ready in {time.monotonic() - started:.1f} s", flush=True)
    print(f"  PLAINTEXT  {kafka.bootstrap}")
    print(f"  SASL_SSL   {kafka.sasl_bootstrap}  ({SCRAM_MECHANISM} {ADMIN_USER}/{ADMIN_PASSWORD}, CA {kafka.ca_pem})")
    print(f"  log        {kafka.server.log_path}", flush=True)
    try:
        while kafka.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        kafka.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
