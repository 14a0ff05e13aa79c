"""How long ``make run`` takes to be useful, and to stop.

Starts ``make run``'s entry point (``python -m dev.devrun``) as a newcomer
would, with the demo and its traffic, on free ports and a temporary state
directory, and measures from the start of the process to

* the first ``/accounts/login/`` page served (polled every 20 ms),
* the "ready" banner (admin ensured, demo seeded, worker, beat and traffic started),

then sends SIGINT (Ctrl-C) and measures until the process has exited with every
child stopped. "First run" uses a fresh state directory (migrations, admin, JetStream
demo); "next run" starts again on the state the first run left. Medians of
``BENCH_STARTUP_RUNS`` runs (default 3).

    .venv/bin/python -m bench.bench_startup
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120.0


@dataclass
class Sample:
    first_page: float
    ready: float
    stop: float


def one_run(var_dir: Path) -> Sample:
    from dev import devrun, devstack

    port = devstack.free_port()
    started = time.monotonic()
    proc = devrun.launch(var_dir, "--port", str(port))
    ready_at: list[float] = []
    output: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "Press Ctrl-C" in line and not ready_at:
                ready_at.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first_page = None
        url = f"http://127.0.0.1:{port}/accounts/login/"
        while first_page is None:
            if time.monotonic() - started > TIMEOUT or proc.poll() is not None:
                raise RuntimeError("devrun did not serve the login page:\n" + "".join(output))
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        first_page = time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
        while not ready_at:
            if time.monotonic() - started > TIMEOUT or proc.poll() is not None:
                raise RuntimeError("devrun did not get ready:\n" + "".join(output))
            time.sleep(0.02)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        stop = time.monotonic() - stopping
        reader.join(5)
        if code != 0:
            raise RuntimeError(f"devrun exited with {code} on Ctrl-C:\n" + "".join(output))
        return Sample(first_page=first_page, ready=ready_at[0] - started, stop=stop)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def median(samples: list[Sample], field: str) -> str:
    return f"{statistics.median(getattr(s, field) for s in samples):.1f} s"


def report(first: list[Sample], following: list[Sample], runs: int) -> str:
    cpu = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    rows = [
        ("first run (fresh state: migrate, new admin, demo seed)", first),
        ("next run (same state directory)", following),
    ]
    lines = [
        "## Startup",
        "",
        "From starting `make run`'s entry point (`python -m dev.devrun`, demo and traffic on) to the",
        "first `/accounts/login/` page served and to the ready banner, then from Ctrl-C to every process",
        f"gone. Median of {runs} runs; Python {platform.python_version()}, {cpu} CPU(s), 1-minute load average",
        f"{load:.1f} when the runs ended.",
        "",
        "| start | first login page | ready banner | Ctrl-C to all stopped |",
        "|---|---:|---:|---:|",
    ]
    for label, samples in rows:
        lines.append(
            f"| {label} | {median(samples, 'first_page')} | {median(samples, 'ready')} | {median(samples, 'stop')} |"
        )
    lines += ["", "Command: `.venv/bin/python -m bench.bench_startup` (every benchmark: `make bench`)"]
    return "\n".join(lines)


def main() -> None:
    runs = int(os.environ.get("BENCH_STARTUP_RUNS", "3"))
    workdir = Path(tempfile.mkdtemp(prefix="streamdesk-bench-startup-"))
    first: list[Sample] = []
    following: list[Sample] = []
    try:
        for index in range(runs):
            var_dir = workdir / f"var-{index}"
            first.append(one_run(var_dir))
            print(f"[startup] first run {index + 1}/{runs}: {first[-1]}", file=sys.stderr, flush=True)
        for index in range(runs):
            following.append(one_run(workdir / f"var-{runs - 1}"))
            print(f"[startup] next run {index + 1}/{runs}: {following[-1]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(first, following, runs))


if __name__ == "__main__":
    main()
