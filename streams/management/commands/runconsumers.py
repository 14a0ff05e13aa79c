"""``python manage.py runconsumers``: run the managed consumers, until SIGTERM or SIGINT.

Any number of these processes may run, on any machines: the brokers share the work
(Kafka consumer groups, JetStream pull consumers). See ``streams.workers.runner``.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from streams.workers import registry
from streams.workers.runner import Runner

logger = logging.getLogger("streams.workers")


class Command(BaseCommand):
    help = "Run every managed consumer whose desired state is running (or paused), until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace", type=float, default=None, help="seconds to finish in-flight work on shutdown (default: setting)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        registry.discover()
        for module, error in registry.import_errors().items():
            self.stderr.write(f"handlers module {module} failed to import: {error}")
        runner = Runner()
        self.runner = runner

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if runner.stop_requested.is_set():
                # A second signal: no more waiting (what is not committed is handled again later).
                self.stderr.write("second signal: exiting now")
                self.stderr.flush()
                os._exit(1)
            self.stdout.write(f"{signal.Signals(signum).name}: finishing in-flight work, committing, leaving groups")
            runner.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.stdout.write(f"runconsumers {runner.instance_id}: running")
        runner.run()
        clean = runner.shutdown(options["grace"] if options["grace"] is not None else settings.WORKER_GRACE_SECONDS)
        self.stdout.write(f"runconsumers {runner.instance_id}: stopped{'' if clean else ' (some work left behind)'}")
        if not clean:
            # A handler still busy past the grace must not keep the process alive: what it was
            # doing is not committed, so another instance (or the next start) does it again.
            self.stdout.flush()
            self.stderr.flush()
            os._exit(1)
