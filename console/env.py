"""Strict readers for 12-factor settings.

A malformed value is never silently replaced by a default: it is recorded in
``CONFIG_ERRORS`` and reported by the ``streamdesk.E001`` system check, which
names the variable, so a bad deployment fails at start-up instead of at 3 a.m.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ERRORS: list[tuple[str, str]] = []


def _record(name: str, reason: str) -> None:
    CONFIG_ERRORS.append((name, reason))


def envstr(name: str, default: str = "") -> str:
    """A string setting; ``NAME_FILE`` names a file holding it (Docker/K8s secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            _record(f"{name}_FILE", f"cannot read {file_name}: {exc.strerror}")
            return default
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    _record(name, f"expected a boolean (true/false/1/0), got {raw!r}")
    return default


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        _record(name, f"expected an integer, got {raw!r}")
        return default
    if minimum is not None and value < minimum:
        _record(name, f"must be at least {minimum}, got {value}")
        return default
    return value


def envfloat(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        _record(name, f"expected a number, got {raw!r}")
        return default
    if minimum is not None and value < minimum:
        _record(name, f"must be at least {minimum}, got {value}")
        return default
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = envstr(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def secret_key(var_dir: Path) -> str:
    """``SECRET_KEY`` from the environment, else one generated once into ``var/``.

    Local runs keep sessions across restarts without a constant in the repo.
    """
    key = envstr("SECRET_KEY")
    if key:
        return key
    path = var_dir / "secret_key"
    try:
        if path.exists():
            return path.read_text().strip()
        from django.core.management.utils import get_random_secret_key

        var_dir.mkdir(parents=True, exist_ok=True)
        key = get_random_secret_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key
    except FileExistsError:
        return path.read_text().strip()
    except OSError as exc:
        _record("SECRET_KEY", f"not set and {path} cannot be written: {exc.strerror}")
        return "unusable-" + os.urandom(16).hex()
