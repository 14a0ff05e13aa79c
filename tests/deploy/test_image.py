"""The production image's files boot, without a Docker engine.

The test reads the Dockerfile: it lays out exactly what the ``COPY`` lines copy into a
temporary /app, installs only requirements.txt into a fresh virtualenv (cached by the
file's hash), runs the Dockerfile's own collectstatic step with its ``ENV``, then
``check --deploy`` with the TLS settings on, ``migrate``, and the image's ``CMD``, which
must answer /healthz. A file the image needs but does not copy fails here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev import devstack
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamdesk"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("image")]

# What compose's example .env turns on behind a TLS proxy.
TLS_ENV = {
    "STREAMDESK_TLS_PROXY_HEADER": "true",
    "STREAMDESK_SECURE_COOKIES": "true",
    "STREAMDESK_SSL_REDIRECT": "true",
    "STREAMDESK_HSTS_SECONDS": "31536000",
    "STREAMDESK_HSTS_INCLUDE_SUBDOMAINS": "true",
    "STREAMDESK_HSTS_PRELOAD": "true",
}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    out = []
    for entry in joined:
        word, _, rest = entry.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def image_env(app: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value.replace("/app", str(app))
    return env


def lay_out(app: Path) -> None:
    """What the COPY lines put into the image's WORKDIR (all of this project's COPYs are relative)."""
    for word, rest in instructions():
        if word != "COPY":
            continue
        *sources, dest = shlex.split(rest)
        assert not any(s.startswith("--") for s in sources), f"unsupported COPY flag: {rest}"
        for source in sources:
            src, target = ROOT / source, app / dest
            if src.is_dir():  # Docker copies a directory's contents into the destination
                shutil.copytree(src, target, dirs_exist_ok=True)
            elif dest.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target / src.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)


def _cmd() -> list[str]:
    cmd = [rest for word, rest in instructions() if word == "CMD"][-1]
    argv = json.loads(cmd)
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def _run_step() -> list[str]:
    """The Dockerfile's collectstatic RUN, as shell steps, without what needs root in a container."""
    step = next(rest for word, rest in instructions() if word == "RUN" and "collectstatic" in rest)
    return [part.strip() for part in step.split("&&") if not part.strip().startswith("chown")]


@pytest.fixture(scope="session")
def image_venv() -> Path:
    """A virtualenv with requirements.txt only, kept between runs until that file changes."""
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()[:16]
    venv = CACHE / f"image-venv-{sys.version_info.major}.{sys.version_info.minor}-{digest}"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True, timeout=900)
        (venv / ".complete").touch()
    return venv


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    app = tmp_path / "app"
    app.mkdir()
    lay_out(app)
    yield app


def _env(app: Path, venv: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"HOME", "LANG", "TMPDIR"}}
    return {
        **keep,
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(venv),
        **image_env(app),
        **extra,
    }


def test_the_image_layout_builds_checks_migrates_and_serves(app, image_venv):
    assert not (app / "dev").exists() and not (app / "tests").exists()
    build_env = _env(app, image_venv)
    for step in _run_step():
        result = subprocess.run(
            ["bash", "-c", step], cwd=app, env=build_env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{step}\n{result.stdout}\n{result.stderr}"
    assert any((app / "var" / "staticfiles").rglob("streamdesk.css"))

    runtime = _env(
        app,
        image_venv,
        SECRET_KEY=hashlib.sha256(os.urandom(32)).hexdigest() + "-Streamdesk-Production",
        DATABASE_URL=f"sqlite:///{app / 'var' / 'db.sqlite3'}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        **TLS_ENV,
    )
    check = subprocess.run(
        ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=app,
        env=runtime,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout

    migrate = subprocess.run(
        ["python", "manage.py", "migrate", "--noinput", "-v0"], cwd=app, env=runtime, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr

    port = devstack.free_port()
    argv = [str(port) if a == "8000" else "127.0.0.1" if a == "0.0.0.0" else a for a in _cmd()]  # noqa: S104
    log = (app / "web.log").open("wb")
    proc = subprocess.Popen(argv, cwd=app, env=runtime, stdout=log, stderr=subprocess.STDOUT)
    try:

        def healthz() -> httpx.Response | None:
            assert proc.poll() is None, (app / "web.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.HTTPError:
                return None

        answer = wait_until(
            healthz,
            until=lambda answer: answer is not None,
            timeout=60,
            interval=0.3,
            message=lambda: f"the image's web answering; its log:\n{(app / 'web.log').read_text()}",
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ok", "database": True}
        # Behind the TLS proxy: a plain-HTTP page request is sent to https, with the policy headers.
        login = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", headers={"X-Forwarded-Proto": "https"})
        assert login.status_code == 200
        assert "default-src 'self'" in login.headers["content-security-policy"]
        assert login.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "Secure" in login.headers["set-cookie"]
        assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 301
    finally:
        proc.terminate()
        proc.wait(10)
