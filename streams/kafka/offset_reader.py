"""Committed offsets (OffsetFetch) read by a child process that owns its own AdminClient.

librdkafka's ListConsumerGroupOffsets dereferences the consumer-group handle an AdminClient does
not have when a broker answers NOT_COORDINATOR (a group coordinator that moves or is still
loading, as Apache Kafka answers for a group that is being created): the process dies of a
segmentation fault. Every page that shows lag and every lag sweep asks for committed offsets,
so they are asked of a child process instead; when it dies, the requests it held fail as a
transport failure (asked again by the caller, of a new child) and the web process lives on.

Protocol, one JSON object a line: the client settings first, then ``{"id", "group", "timeout"}``
requests on stdin, any number of them (the child keeps ``IN_FLIGHT`` at the broker); ``{"id",
"offsets": [[topic, partition, offset], ...]}`` or ``{"id", "error": [code, reason]}`` answers on
stdout, in any order.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO, Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.kafka import child

# OffsetFetch requests at the broker at once, whatever the number asked for.
IN_FLIGHT = 32


@dataclass
class GroupOffsets:
    """The shape of the client's answer that the adapter reads."""

    topic_partitions: list[TopicPartition] = field(default_factory=list)


def _ended(how: str) -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TRANSPORT, f"the committed-offsets reader process {how}"))


class OffsetReader:
    """``list_consumer_group_offsets`` as the AdminClient has it, answered by a child process."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._conf = child.settings(conf)
        self._lock = threading.Lock()
        # Writes have their own lock: a write may wait for the child, which may wait for the
        # reader thread, which takes ``_lock``.
        self._write_lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._pending: dict[int, tuple[Future[GroupOffsets], subprocess.Popen[str]]] = {}
        self._next = 0
        self._closed = False

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.kafka.offset_reader"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child.environment(),
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(self._conf) + "\n")
        proc.stdin.flush()
        threading.Thread(target=self._read, args=(proc,), name="kafka-offsets", daemon=True).start()
        return proc

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for text in proc.stdout:
            try:
                answer = json.loads(text)
                with self._lock:
                    future, _ = self._pending.pop(int(answer["id"]), (None, None))
                if future is None:
                    continue
                if "error" in answer:
                    code, reason = answer["error"]
                    future.set_exception(KafkaException(KafkaError(int(code), str(reason))))
                else:
                    tps = [TopicPartition(t, int(p), int(o)) for t, p, o in answer["offsets"]]
                    future.set_result(GroupOffsets(tps))
            except (ValueError, KeyError, TypeError):
                continue
        status = proc.wait()
        self._fail(proc, _ended(f"ended ({f'signal {-status}' if status < 0 else f'exit status {status}'})"))

    def _fail(self, proc: subprocess.Popen[str], error: KafkaException) -> None:
        with self._lock:
            if self._proc is proc:
                self._proc = None
            mine = [i for i, (_, owner) in self._pending.items() if owner is proc]
            futures = [self._pending.pop(i)[0] for i in mine]
        for future in futures:
            future.set_exception(error)

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = 10) -> dict[str, Future[Any]]:
        out: dict[str, Future[Any]] = {}
        with self._lock:
            if self._closed:
                raise _ended("was closed")
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            lines = []
            for request in requests:
                self._next += 1
                future: Future[GroupOffsets] = Future()
                self._pending[self._next] = (future, proc)
                out[request.group_id] = future
                lines.append(json.dumps({"id": self._next, "group": request.group_id, "timeout": request_timeout}))
        try:
            assert proc.stdin is not None
            with self._write_lock:
                proc.stdin.write("\n".join(lines) + "\n")
                proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._fail(proc, _ended("could not be reached"))
        return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()  # the child ends when its input does
            except OSError:
                pass


def _serve(requests: IO[str], answers: IO[str], admin: Any = None) -> None:
    """Answer ``requests`` until they end, IN_FLIGHT of them at the broker at a time and the rest waiting their
    turn here, in order (a batch of thousands must not land on the group coordinator at once)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    settings = json.loads(requests.readline())
    if admin is None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(settings)
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(IN_FLIGHT)

    def answer(ident: int, future: Future[Any]) -> None:
        try:
            result = future.result()
            body: dict[str, Any] = {
                "id": ident,
                "offsets": [
                    [tp.topic, tp.partition, tp.offset] for tp in result.topic_partitions or () if tp.error is None
                ],
            }
        except KafkaException as exc:
            err = exc.args[0]
            body = {"id": ident, "error": [err.code(), err.str()]}
        except Exception as exc:  # noqa: BLE001 - any other failure is still an answer
            body = {"id": ident, "error": [KafkaError._FAIL, str(exc)]}
        finally:
            slots.release()
        with lock:
            answers.write(json.dumps(body) + "\n")
            answers.flush()

    for text in requests:
        request = json.loads(text)
        ident, group = int(request["id"]), str(request["group"])
        slots.acquire()
        futures = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=float(request["timeout"])
        )
        futures[group].add_done_callback(functools.partial(answer, ident))


if __name__ == "__main__":
    _serve(sys.stdin, sys.stdout)
    # Input closed: the parent let go. The client's threads are not waited for.
    os._exit(0)
