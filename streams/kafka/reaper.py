"""Destroys librdkafka clients on a thread of our own.

Destroying a client waits for its threads (up to seconds with a broker that does not answer),
and librdkafka aborts the whole process when the destruction runs on one of the client's own
threads, which is where an admin call's answer runs Python code and so where the garbage
collector may free a forgotten client. The last reference to a client a connection lets go
of is handed here instead, from any thread, even from a finalizer.
"""

from __future__ import annotations

import queue
import threading

_pending: queue.SimpleQueue[object] = queue.SimpleQueue()
_started = threading.Event()
_start_lock = threading.Lock()


def _run() -> None:
    while True:
        client: object | None = _pending.get()
        # Dropping the queue's reference is what destroys the client, here.
        client = None
        del client


def _start() -> bool:
    if _started.is_set():
        return True
    # A finalizer may call this on a thread that already holds the lock: never wait for it.
    if not _start_lock.acquire(blocking=False):
        return _started.is_set()
    try:
        if not _started.is_set():
            threading.Thread(target=_run, name="kafka-reaper", daemon=True).start()
            _started.set()
        return True
    except RuntimeError:  # the interpreter is shutting down: no new threads
        return False
    finally:
        _start_lock.release()


def destroy(clients: list[object]) -> None:
    """Destroy ``clients`` on the reaper thread; the list is emptied, and the caller must hold
    no other reference to them, or the last one dropped decides the thread."""
    if not clients:
        return
    # Queued even when no thread could start (at interpreter exit): they then die with the process.
    _start()
    while clients:
        _pending.put(clients.pop())
