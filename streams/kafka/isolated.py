"""DeleteRecords in a short-lived child process.

librdkafka has aborted the whole process some time after a broker dropped the connection
in the middle of a DeleteRecords request, with no Python code of ours running. A purge is
a rare operator action, so it pays a child process (about 0.2 s) to make such a crash cost
the purge, answered as a 503, rather than the web process and every socket on it.

The child needs nothing but confluent-kafka: it reads the client settings and the targets
as JSON on stdin and writes each partition's new low watermark or error as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from streams.kafka import child


class ChildFailed(Exception):
    """The child process crashed or answered nothing readable."""


def delete_records(
    conf: dict[str, Any], targets: list[tuple[str, int, int]], timeout: float
) -> tuple[dict[int, int], dict[int, KafkaException]]:
    """Each partition's new low watermark, and the partitions the broker refused (as the client's exceptions)."""
    request = json.dumps({"conf": child.settings(conf), "targets": targets, "timeout": timeout})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streams.kafka.isolated"],
            input=request,
            capture_output=True,
            text=True,
            env=child.environment(),
            timeout=timeout + 10,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChildFailed(f"no answer within {timeout + 10:g} s") from exc
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise ChildFailed(f"the client process ended with {how}")
    try:
        answer = json.loads(done.stdout)
        lows = {int(p): int(low) for p, low in answer["lows"].items()}
        failures = {
            int(p): KafkaException(KafkaError(int(e["code"]), str(e["reason"]))) for p, e in answer["errors"].items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ChildFailed(f"unreadable answer: {done.stdout[:200]!r}") from exc
    return lows, failures


def _run(request: dict[str, Any]) -> dict[str, Any]:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    timeout = float(request["timeout"])
    admin = AdminClient(request["conf"])
    futures = admin.delete_records(
        [TopicPartition(topic, partition, offset) for topic, partition, offset in request["targets"]],
        request_timeout=timeout,
        operation_timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    lows: dict[int, int] = {}
    errors: dict[int, dict[str, Any]] = {}
    for tp, future in futures.items():
        try:
            lows[tp.partition] = int(future.result(timeout=max(0.0, deadline - time.monotonic())).low_watermark)
        except KafkaException as exc:
            err = exc.args[0]
            errors[tp.partition] = {"code": err.code(), "reason": err.str()}
        except TimeoutError:
            errors[tp.partition] = {"code": KafkaError._TIMED_OUT, "reason": "no answer before the deadline"}
    return {"lows": lows, "errors": errors}


if __name__ == "__main__":
    answer = _run(json.load(sys.stdin))
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    # The client's threads are not waited for: the answer is out, and the process ends here.
    os._exit(0)
