"""``make run``: Streamdesk on embedded servers, with a demo, in one terminal.

Starts NATS (JetStream, monitoring), tansu (Kafka protocol; ``--kafka apache``,
``make run KAFKA=apache``, runs Apache Kafka instead, see dev/apache_kafka.py) and
Valkey from the venv, migrates, makes sure a local ``admin`` exists, seeds the demo,
then runs Daphne, a Celery worker, Celery beat, ``runconsumers`` (the managed
consumers) and a trickle of demo traffic. Standard ports are used when free, else
the ports of the last run, else any free port; every port is printed. Ctrl-C (or
SIGTERM) stops every child and exits 0; if a child dies on its own, the rest are
stopped and the exit code is 1.

Every child runs in its own session, so the terminal's Ctrl-C reaches only this
process and the shutdown order stays ours (app first, servers last), and asks
the kernel to kill it should this process die without cleaning up.

    python -m dev.devrun [--var-dir DIR] [--port N] [--any-ports] [--kafka tansu|apache] [--no-demo] [--no-traffic]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from dev import apache_kafka, devstack

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_DIR = BASE_DIR / "dev" / "demo"
STANDARD_PORTS = {"web": 8000, "nats": 4222, "nats_monitor": 8222, "kafka": 9092, "valkey": 6379}
STARTUP_TIMEOUT = 90.0
APP_GRACE_SECONDS = 10.0
SERVER_GRACE_SECONDS = 5.0
# Settings the dev stack decides for itself; see ``launch``.
OWN_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "NATS_URL",
    "NATS_MONITOR_URL",
    "STREAMDESK_CLUSTERS",
    "STREAMDESK_VAR_DIR",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
)


class Stopped(Exception):
    """SIGTERM or SIGHUP: shut down like Ctrl-C."""


class ChildFailed(Exception):
    def __init__(self, child: Child, message: str) -> None:
        super().__init__(message)
        self.child = child


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    server: devstack.Server | None = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class DevRun:
    var_dir: Path
    any_ports: bool = False
    web_port: int | None = None
    demo: bool = True
    traffic: bool = True
    kafka: str = "tansu"
    children: list[Child] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stopping: bool = False
    hurry: bool = False

    # -- output -------------------------------------------------------------------------------

    @staticmethod
    def say(message: str = "") -> None:
        print(message, flush=True)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    # -- ports --------------------------------------------------------------------------------

    def choose_ports(self) -> dict[str, str]:
        """A port per service; returns a note for each one that is not the standard port."""
        remembered = self._remembered_ports()
        notes: dict[str, str] = {}
        taken: set[int] = set()
        for name, standard in STANDARD_PORTS.items():
            wanted = self.web_port if name == "web" and self.web_port else None
            candidates = [wanted] if wanted else ([] if self.any_ports else [standard]) + [remembered.get(name)]
            port = next((p for p in candidates if p and p not in taken and devstack.port_is_free(p)), None)
            if port is None:
                if wanted:
                    raise SystemExit(f"Port {wanted} is taken; choose another with --port.")
                port = devstack.free_port()
                while port in taken:
                    port = devstack.free_port()
            if port != standard and not self.any_ports and not wanted:
                notes[name] = f"{standard} is taken"
            taken.add(port)
            self.ports[name] = port
        state = self.var_dir / "devrun.json"
        state.write_text(json.dumps({"ports": self.ports}, indent=2) + "\n")
        return notes

    def _remembered_ports(self) -> dict[str, int]:
        try:
            data = json.loads((self.var_dir / "devrun.json").read_text())
            return {str(k): int(v) for k, v in data.get("ports", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    # -- children -----------------------------------------------------------------------------

    def spawn(self, name: str, argv: Sequence[str], log_path: Path | None = None) -> Child:
        log_path = log_path or self.var_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=devstack._die_with_parent,  # children start from the main thread only
            )
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def start_server(self, server: devstack.Server) -> Child:
        """The server in a session of its own; the readiness wait comes later."""
        child = Child(server.name, server.spawn(new_session=True), server.log_path, server)
        self.children.append(child)
        return child

    def manage(self, name: str, *args: str) -> Child:
        return self.spawn(name, [sys.executable, "manage.py", *args])

    def finish(self, child: Child, timeout: float = STARTUP_TIMEOUT) -> str:
        """Wait for a one-shot child; its output, or ChildFailed with the reason."""
        try:
            code = child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildFailed(child, f"{child.name} did not finish within {timeout:g} s") from None
        self.children.remove(child)
        output = child.log_path.read_text(errors="replace").strip()
        if code != 0:
            raise ChildFailed(child, f"{child.name} failed (exit code {code})")
        return output

    def check_alive(self) -> None:
        for child in list(self.children):
            code = child.proc.poll()
            if code is not None and child.name in self.long_running:
                raise ChildFailed(child, f"{child.name} exited unexpectedly (exit code {code})")

    long_running = frozenset(
        {"nats", "tansu", "apache-kafka", "valkey", "web", "celery", "celery-bulk", "beat", "runconsumers", "traffic"}
    )

    def wait_for_page(self, url: str, timeout: float = STARTUP_TIMEOUT) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local URL
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer within {timeout:g} s; see {self.rel(self.var_dir / 'logs')}")

    # -- the run ------------------------------------------------------------------------------

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        notes = self.choose_ports()
        ports = self.ports
        nats = devstack.nats_server(self.var_dir, ports["nats"], ports["nats_monitor"])
        if self.kafka == "apache":
            reason = apache_kafka.missing_reason()
            if reason:
                raise RuntimeError(f"Apache Kafka cannot run here: {reason}")
            apache = apache_kafka.apache_kafka(
                self.var_dir, port=ports["kafka"], data_dir=self.var_dir / "apache-kafka"
            )
            kafka = apache.server
            kafka_line = (
                f"Apache Kafka {apache_kafka.KAFKA_VERSION} (KRaft, fresh each run); SASL_SSL on "
                f"{apache.sasl_bootstrap} as {apache_kafka.ADMIN_USER}/{apache_kafka.ADMIN_PASSWORD}, "
                f"CA {self.rel(apache.ca_pem)}"
            )
        else:
            kafka = devstack.tansu_server(self.var_dir, ports["kafka"])
            kafka_line = "tansu, in memory"
        valkey = devstack.valkey_server(self.var_dir, ports["valkey"])
        self.env = self.child_env(devstack.env_for(nats, kafka, valkey))

        def port_line(label: str, key: str, detail: str) -> str:
            note = f"  ({notes[key]})" if key in notes else ""
            return f"  {label:<15} 127.0.0.1:{ports[key]:<6} {detail}{note}"

        self.say(f"Streamdesk dev stack, state in {self.rel(self.var_dir)}/")
        self.say(port_line("web", "web", "Daphne + Celery workers (default, bulk) + beat + runconsumers"))
        self.say(port_line("NATS", "nats", f"JetStream, file store in {self.rel(self.var_dir / 'nats')}/"))
        self.say(port_line("NATS monitor", "nats_monitor", "HTTP monitoring"))
        self.say(port_line("Kafka", "kafka", kafka_line))
        self.say(port_line("Valkey", "valkey", "channel layer, Celery broker, cache"))

        # The servers and the migration do not need each other: start them together.
        migrate = self.manage("migrate", "migrate", "--noinput")
        for server in (nats, kafka, valkey):
            self.start_server(server)
        for server in (nats, kafka, valkey):
            assert server.proc is not None
            try:
                if server is kafka and self.kafka == "apache":
                    # A JVM listens before it can answer; wait for a metadata answer.
                    apache_kafka.wait_until_ready(f"127.0.0.1:{server.port}", server.ready_timeout, server.proc)
                else:
                    devstack.wait_for_port(server.port, server.ready_timeout, server.proc)
            except RuntimeError as exc:
                child = next(c for c in self.children if c.server is server)
                raise ChildFailed(child, f"{server.name}: {exc}") from None
        self.finish(migrate)

        web_url = f"http://127.0.0.1:{ports['web']}"
        self.spawn(
            "web",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(ports["web"]), "console.asgi:application"],
        )
        admin = self.manage("ensure-admin", "ensure_admin")
        seed = self.manage("seed-demo", "seed_demo") if self.demo else None
        admin_state = self.finish(admin).splitlines()[-1]
        seeded = self.finish(seed).splitlines() if seed else []
        self.wait_for_page(f"{web_url}/accounts/login/")

        # Bulk publishing on a Celery worker of its own, as in production: paced jobs never hold up beat's tasks.
        for name, queue in (("celery", "celery"), ("celery-bulk", "bulk")):
            self.spawn(
                name,
                [
                    sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queue,
                    "--pool", "threads", "--concurrency", "2", "--loglevel", "INFO",
                    "--hostname", f"streamdesk-dev-{queue}-{ports['web']}@%h", "--without-gossip", "--without-mingle",
                ],
            )  # fmt: skip
        self.spawn(
            "beat",
            [
                sys.executable, "-m", "celery", "-A", "console", "beat", "--loglevel", "INFO",
                "--schedule", str(self.var_dir / "celerybeat-schedule"), "--pidfile", "",
            ],
        )  # fmt: skip
        self.manage("runconsumers", "runconsumers")
        if self.demo and self.traffic:
            self.manage("traffic", "demo_traffic")
        self.banner(web_url, admin_state, seeded)

    def child_env(self, servers: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(servers)
        env["STREAMDESK_VAR_DIR"] = str(self.var_dir)
        env["DJANGO_SETTINGS_MODULE"] = "console.settings"
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BASE_DIR), env.get("PYTHONPATH", "")) if p)
        env.setdefault("DEBUG", "true")
        env.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
        if self.demo:
            # The demo's Avro, Protobuf and JSON Schema payloads decode by these local schema files.
            env.setdefault("KAFKA_DECODERS", str(DEMO_DIR / "kafka-decoders.toml"))
            env.setdefault("NATS_DECODERS", str(DEMO_DIR / "nats-decoders.toml"))
        return env

    def banner(self, web_url: str, admin_state: str, seeded: list[str]) -> None:
        state, _, path_text = admin_state.partition(" ")
        path = Path(path_text)
        self.say()
        for line in seeded:
            self.say(f"  demo  {line}")
        if seeded and self.traffic:
            self.say("  demo  a trickle of orders flows to Kafka and NATS (about one a second)")
            self.say("  demo  managed consumers bridge orders to NATS and dead-letter poison payments (see Workers)")
        self.say()
        self.say(f"  Streamdesk is ready:  {web_url}/")
        if state in {"created", "exists"}:
            password = path.read_text().strip()
            first = "  (new)" if state == "created" else ""
            self.say(f"  Log in as:            admin / {password}{first}")
            self.say(f"  The password is kept in {self.rel(path)} (readable by you only).")
        elif state == "stale":
            self.say("  Log in as:            admin, with the password you gave it")
            self.say(
                f"  ({self.rel(path)} is out of date; reset it with: .venv/bin/python manage.py changepassword admin)"
            )
        else:
            self.say("  Log in as:            admin (its password file is gone;")
            self.say("                        set a new one with: .venv/bin/python manage.py changepassword admin)")
        self.say(f"  Logs:                 {self.rel(self.var_dir / 'logs')}/")
        self.say("  Press Ctrl-C to stop everything.")
        self.say()

    def watch(self) -> None:
        while True:
            self.check_alive()
            time.sleep(0.5)

    # -- shutdown -----------------------------------------------------------------------------

    def on_signal_while_stopping(self, signum: int, frame: FrameType | None) -> None:
        self.hurry = True

    def stop_all(self) -> None:
        """App children first (they talk to the servers on their way out), servers last."""
        self.stopping = True
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal_while_stopping)
        apps = [c for c in self.children if c.server is None]
        servers = [c for c in self.children if c.server is not None]
        self._stop_group(apps, APP_GRACE_SECONDS)
        self._stop_group(servers, SERVER_GRACE_SECONDS)
        self.children.clear()

    def _stop_group(self, children: list[Child], grace: float) -> None:
        for child in children:
            if child.proc.poll() is None:
                try:
                    child.proc.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self.hurry:
            if all(child.proc.poll() is not None for child in children):
                return
            time.sleep(0.05)
        for child in children:
            if child.proc.poll() is None:
                self.say(f"  {child.name} did not stop within {grace:g} s; killing it")
                child.proc.kill()
                child.proc.wait(5)


def launch(var_dir: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``python -m dev.devrun`` from outside (tests, benchmarks), on free ports and
    with none of the caller's (CI's, say) OWN_SETTINGS, so it decides them as it does for a
    newcomer. Its output, stderr included, is the text on the process's ``stdout``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    return subprocess.Popen(
        [sys.executable, "-m", "dev.devrun", "--var-dir", str(var_dir), "--any-ports", *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.devrun", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var-dir", type=Path, help="state directory (default: $STREAMDESK_VAR_DIR or ./var)")
    parser.add_argument("--port", type=int, help="web port (default: 8000 when free)")
    parser.add_argument("--any-ports", action="store_true", help="use free ports, not the standard ones")
    parser.add_argument(
        "--kafka", choices=("tansu", "apache"), default="tansu", help="the Kafka broker to run (default: tansu)"
    )
    parser.add_argument("--no-demo", action="store_true", help="no demo data and no demo traffic")
    parser.add_argument("--no-traffic", action="store_true", help="seed the demo but send no traffic")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = args.var_dir or Path(os.environ.get("STREAMDESK_VAR_DIR") or BASE_DIR / "var")
    run = DevRun(
        var_dir=var_dir.resolve(),
        any_ports=args.any_ports,
        web_port=args.port,
        demo=not args.no_demo,
        traffic=not args.no_traffic,
        kafka=args.kafka,
    )
    # Explicit: a shell that starts us in the background hands SIGINT down ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    code = 0
    try:
        run.start()
        run.watch()
    except (KeyboardInterrupt, Stopped):
        run.say("\nStopping…")
    except ChildFailed as exc:
        run.say(f"\n{exc}; stopping the rest.")
        tail = exc.child.tail()
        if tail:
            run.say(f"--- last lines of {run.rel(exc.child.log_path)} ---\n{tail}\n---")
        code = 1
    except RuntimeError as exc:
        run.say(f"\n{exc}; stopping.")
        code = 1
    finally:
        run.stop_all()
    run.say("Stopped; no process left behind.")
    return code


if __name__ == "__main__":
    sys.exit(main())
