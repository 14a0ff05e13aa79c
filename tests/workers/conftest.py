"""Fixtures for managed consumers: real runconsumers processes on this run's servers and database."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

import tests.workers.handlers  # noqa: F401 - registers the test handlers in this process too
from tests.conftest import ROOT
from tests.polling import wait_until

RUNNER_ENV = {
    "STREAMDESK_HANDLER_MODULES": "tests.workers.handlers",
    "STREAMDESK_WORKER_SESSION_TIMEOUT_MS": "6000",
    "STREAMDESK_WORKER_HEARTBEAT_SECONDS": "0.5",
    "STREAMDESK_WORKER_POLL_SECONDS": "1",
    "STREAMDESK_WORKER_GRACE_SECONDS": "10",
}


@dataclass
class RunnerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no commit."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


@pytest.fixture
def runconsumers(process_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., RunnerProcess]]:
    """Start ``manage.py runconsumers`` processes; every one is stopped at the end."""
    started: list[RunnerProcess] = []

    def start(**env: str) -> RunnerProcess:
        log = tmp_path / f"runconsumers-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runconsumers"],
                cwd=ROOT,
                env={**process_env, **RUNNER_ENV, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        runner = RunnerProcess(proc, log)
        started.append(runner)

        def running() -> bool:
            assert proc.poll() is None, runner.output()[-3000:]
            return ": running" in runner.output()

        wait_until(running, timeout=30, message="runconsumers started")
        return runner

    yield start
    for runner in started:
        try:
            runner.stop()
        except subprocess.TimeoutExpired:
            pass
        print(f"--- {runner.log.name} ---\n{runner.output()[-4000:]}")


@pytest.fixture
def notify(redis_url: str) -> Iterator[None]:
    """Actions in this process wake the runners through the test Redis."""
    with override_settings(REDIS_URL=redis_url, HANDLER_MODULES=["tests.workers.handlers"]):
        yield


def lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """The file test.record appends to."""
    return tmp_path / "calls.txt"


@pytest.fixture(autouse=True)
def fresh_reads(settings: Any) -> None:
    """Lag is read from the broker on every request, so a test sees what it has just done."""
    settings.BROKER_CACHE_SECONDS = 0
