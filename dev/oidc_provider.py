"""A real OpenID provider for the single sign-on tests: the npm package ``oidc-provider`` run by
``dev/oidc/provider.mjs`` with Node.js.

``npm ci`` installs the locked packages into ``dev/oidc/node_modules`` (git-ignored) the first
time, behind a file lock so parallel test processes install once; later runs reuse them while the
lock file is unchanged. ``missing_reason()`` says why the provider cannot run here (no Node.js
20+, no npm, the install failed), so the tests can skip saying so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dev import devstack

HERE = Path(__file__).resolve().parent / "oidc"
MODULES = HERE / "node_modules"
STAMP = MODULES / ".installed-lock-sha256"
MIN_NODE = 20
INSTALL_TIMEOUT = 300
FAILURE_MEMORY = 600  # seconds an install failure is remembered, so parallel test processes skip at once


class ProviderUnavailable(RuntimeError):
    pass


def _lock_hash() -> str:
    return hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()


def node_major() -> int | None:
    try:
        answer = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return int(answer.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def install() -> None:
    """``npm ci`` once per lock file; raises ProviderUnavailable saying why it could not."""
    failed = HERE / ".install-failed.txt"
    with (HERE / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _lock_hash()
        if STAMP.exists() and STAMP.read_text().strip() == wanted:
            return
        if failed.exists() and time.time() - failed.stat().st_mtime < FAILURE_MEMORY:
            raise ProviderUnavailable(f"{failed.read_text()} (an earlier attempt; delete {failed} to try again now)")
        try:
            result = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev"],
                cwd=HERE, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"npm ci could not install oidc-provider: {exc}"
        else:
            if result.returncode == 0:
                STAMP.write_text(wanted)
                failed.unlink(missing_ok=True)
                return
            output = (result.stdout + result.stderr).strip()[-1500:]
            reason = f"npm ci could not install oidc-provider (exit {result.returncode}): {output}"
        failed.write_text(reason)
        raise ProviderUnavailable(reason)


_missing: list[str | None] = []


def missing_reason() -> str | None:
    """None when the provider can run here (installing it if needed), else why not."""
    if not _missing:
        _missing.append(_find_missing())
    return _missing[0]


def _find_missing() -> str | None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"the OpenID provider for the SSO tests needs `{tool}` (Node.js {MIN_NODE}+), which is not on PATH"
    major = node_major()
    if major is None or major < MIN_NODE:
        return f"oidc-provider needs Node.js {MIN_NODE} or newer; `node` here is {major}"
    try:
        install()
    except ProviderUnavailable as exc:
        return str(exc)
    return None


@dataclass
class OidcProvider:
    """oidc-provider on a free port, with ``clients`` (its client metadata) and ``accounts``
    (account id -> claims; the login page's "login" field names the account, any password)."""

    workdir: Path
    clients: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcProvider:
        self.port = self.port or devstack.free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "OIDC_TEST_PORT": str(self.port),
            "OIDC_TEST_SETUP": json.dumps({"clients": self.clients, "accounts": self.accounts}),
        }
        log = (self.workdir / "oidc-provider.log").open("ab")
        self.proc = subprocess.Popen(
            ["node", str(HERE / "provider.mjs")],
            cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=devstack._die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"oidc-provider did not answer within 30 s\n{self.log_tail()}"
            time.sleep(0.1)

    def control(self, **changes: Any) -> dict[str, Any]:
        """Change the accounts (``accounts=``) or doctor the next ID tokens (``tamper=``, None for honest)."""
        answer = httpx.post(f"{self.issuer}/test-control", json=changes, timeout=5)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def set_groups(self, account: str, groups: list[str]) -> None:
        self.accounts[account] = {**self.accounts[account], "groups": groups}
        self.control(accounts=self.accounts)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        path = self.workdir / "oidc-provider.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
