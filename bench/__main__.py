"""``make bench``: run every ``bench/bench_*.py`` module's ``main()``, each in its own
process and in name order (or only those named), and print their markdown.

    .venv/bin/python -m bench             # all of them
    .venv/bin/python -m bench startup     # bench_startup only ("bench_startup" works too)
    .venv/bin/python -m bench --list
    .venv/bin/python -m bench --kafka apache kafka lag   # on Apache Kafka rather than tansu

Each module prints a markdown section on stdout (progress, if any, on stderr), so
``python -m bench > results.md`` collects the sections for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench._common import BENCH_KAFKA_ENV, KAFKA_LABELS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def discover() -> list[str]:
    return sorted(path.stem for path in HERE.glob("bench_*.py"))


def select(available: list[str], wanted: Sequence[str]) -> list[str]:
    if not wanted:
        return available
    chosen = []
    for name in wanted:
        module = name if name.startswith("bench_") else f"bench_{name}"
        module = module.removesuffix(".py")
        if module not in available:
            raise SystemExit(f"No benchmark named {name!r}; there are: {', '.join(available) or 'none'}")
        chosen.append(module)
    return sorted(set(chosen))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run Streamdesk's benchmarks.")
    parser.add_argument("names", nargs="*", help="benchmarks to run, e.g. startup or bench_kafka (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--kafka", choices=sorted(KAFKA_LABELS), help="the Kafka broker to start (default: tansu)")
    args = parser.parse_args(argv)
    if args.kafka:
        os.environ[BENCH_KAFKA_ENV] = args.kafka
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    failed = []
    for module in select(available, args.names):
        print(f"[bench] {module} …", file=sys.stderr, flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-c", f"import bench.{module} as m; m.main()"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - started
        print(
            f"[bench] {module}: {'ok' if code == 0 else f'failed (exit code {code})'} in {took:.0f} s", file=sys.stderr
        )
        print(flush=True)
        if code != 0:
            failed.append(module)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
