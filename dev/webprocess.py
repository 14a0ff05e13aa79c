"""Streamdesk's real web process for the tail tests, the browser test and the tail benchmark:
Daphne on a free port with its own SQLite database, a viewer with a password and a token.

It runs as a separate process on purpose: the tests then see what a browser or a
script sees (Daphne's own WebSocket handling, close codes on the wire), and can kill
it with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from dev import devstack

ROOT = Path(__file__).resolve().parents[1]
USERNAME = "watcher"
PASSWORD = "watcher-pass-123"  # noqa: S105 - a throwaway user of a throwaway database

SETUP = """
import json
from django.contrib.auth.models import Group, Permission, User
from streams.models import ApiToken
group, _ = Group.objects.get_or_create(name="Viewers")
group.permissions.set(Permission.objects.filter(content_type__app_label="streams", codename="read_brokers"))
user = User.objects.filter(username="{username}").first()
user = user or User.objects.create_user("{username}", password="{password}")
user.groups.add(group)
print(json.dumps({{"token": ApiToken.issue(user, "tests")[1]}}))
"""


@dataclass
class WebProcess:
    workdir: Path
    brokers: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "STREAMDESK_VAR_DIR": str(self.workdir),
            "DATABASE_URL": f"sqlite:///{self.workdir / 'web.sqlite3'}",
            "KAFKA_BOOTSTRAP_SERVERS": "",
            "NATS_URL": "",
            "NATS_MONITOR_URL": "",
            "STREAMDESK_CLUSTERS": "",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
            **self.brokers,
            **self.extra_env,
        }
        return env

    def prepare(self) -> WebProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=self.env, check=True, timeout=180)
        script = SETUP.format(username=USERNAME, password=PASSWORD)
        out = subprocess.run(
            [*manage, "shell", "-c", script], cwd=ROOT, env=self.env, check=True, timeout=120, capture_output=True
        )
        self.token = json.loads(out.stdout.decode().strip().splitlines()[-1])["token"]
        return self

    def start(self) -> WebProcess:
        self.port = self.port or devstack.free_port()
        log = (self.workdir / "daphne.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "console.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"Daphne did not answer within 60 s\n{self.log_tail()}"
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: nothing in the process gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        path = self.workdir / "daphne.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
