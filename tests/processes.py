"""Celery processes for the tests: a worker (and beat when asked) on the given settings, stopped at the end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
CELERY = [sys.executable, "-m", "celery", "-A", "console"]


@dataclass
class Celery:
    worker: subprocess.Popen[bytes]
    worker_log: Path
    beat: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.worker_log.read_text(errors="replace")


def migrate(env: Mapping[str, str]) -> None:
    """The database the processes on ``env`` use, migrated."""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=dict(env), check=True, timeout=120)


def _start(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def celery(
    env: Mapping[str, str],
    logs: Path,
    *,
    name: str,
    beat: bool = False,
    queues: Sequence[str] = (),
    pool: str = "solo",
    concurrency: int | None = None,
) -> Iterator[Celery]:
    """A worker named ``name@host`` (on ``queues``, or the default ones), ready to take tasks, and with
    ``beat`` a beat scheduling them; their output goes to ``logs``."""
    argv = [*CELERY, "worker", "--pool", pool, "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    argv += ["-n", f"{name}@%h"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if queues:
        argv += ["-Q", ",".join(queues)]
    with ExitStack() as stack:
        worker_log = logs / f"{name}-worker.log"
        started = Celery(_start(argv, env, worker_log), worker_log)
        stack.callback(_stop, started.worker)

        def ready() -> bool:
            assert started.worker.poll() is None, started.output()[-3000:]
            return "ready." in started.output()

        wait_until(ready, timeout=60, interval=0.2, message="the Celery worker starting")
        if beat:
            beat_argv = [*CELERY, "beat", "--loglevel", "INFO", "-s", str(logs / f"{name}-beat-schedule")]
            started.beat = _start(beat_argv, env, logs / f"{name}-beat.log")
            stack.callback(_stop, started.beat)
        yield started
