"""Create the local superuser on first run, with a random password kept in ``var/``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password"


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` readable by the owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    tmp.replace(path)


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' with a random password saved (mode 0600) in the var directory, "
        "unless it exists. Prints the state: created, exists, stale (the file no longer matches) or missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = options["username"]
        path = password_file()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(15)
                User.objects.create_superuser(username=username, email="", password=password)
                # Inside the transaction: if the file cannot be written, no user without a known password remains.
                write_secret(path, password)
                self.stdout.write(f"created {path}")
                return
        if not path.exists():
            self.stdout.write(f"missing {path}")
        elif not user.check_password(path.read_text().strip()):
            self.stdout.write(f"stale {path}")
        else:
            self.stdout.write(f"exists {path}")
