"""A 20 MB object up and down through a real Daphne: byte-exact, digests agreeing with the
store's own, and the web process's resident memory bounded: a download by far less than the
object, an upload by the body Daphne queues once (Twisted no longer parses it into memory first)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client as Nats

from dev.webprocess import ROOT, WebProcess
from tests.nats import helpers as h

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("objects-web")]

SIZE = 20 * 1024 * 1024
NAME = "big/file=1.v2.bin"
# The web process may grow by this much while sending 20 MB, no more.
RSS_BUDGET = 10 * 1024 * 1024
# Daphne puts a request's whole body on the application's queue at once (in 8 KB pieces), so an
# upload is held once while Django spools it to disk: the body's size, and no more than that.
UPLOAD_BUDGET = SIZE + 8 * 1024 * 1024

OPERATOR = """
import json
from django.contrib.auth.models import Group, Permission, User
from streams.models import ApiToken
group, _ = Group.objects.get_or_create(name="Operators")
group.permissions.set(Permission.objects.filter(content_type__app_label="streams",
                      codename__in=["read_brokers", "operate_brokers"]))
user = User.objects.create_user("uploader", password="uploader-pass-123")
user.groups.add(group)
print(json.dumps({"token": ApiToken.issue(user, "tests")[1]}))
"""


@pytest.fixture(scope="module")
def operator_web(tmp_path_factory: pytest.TempPathFactory, nats_urls: tuple[str, str]) -> Iterator[WebProcess]:
    """Daphne on the test NATS server, with an operator's token in ``token``."""
    brokers = {"NATS_URL": nats_urls[0], "NATS_MONITOR_URL": nats_urls[1]}
    process = WebProcess(tmp_path_factory.mktemp("objects-web"), brokers).prepare()
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", OPERATOR],
        cwd=ROOT,
        env=process.env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    process.token = json.loads(out.stdout.decode().strip().splitlines()[-1])["token"]
    process.start()
    yield process
    process.stop()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Peak:
    """The highest resident size of a process while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = _rss(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, _rss(self.pid))

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    @property
    def grew(self) -> int:
        return self.peak - self.before


def _nats_digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def _warm(web: WebProcess, bucket: str) -> None:
    """One small object up and down first, so that what is measured is the transfer, not imports."""
    headers = {"Authorization": f"Bearer {web.token}"}
    url = f"{web.url}/api/v1/clusters/nats/objects/{bucket}"
    httpx.post(url, headers=headers, files={"file": ("w", b"warm" * 50_000)}, data={"name": "warm"}, timeout=30)
    httpx.get(f"{url}/warm/download", headers=headers, timeout=30)


def test_20mb_upload_and_download_through_daphne(operator_web: WebProcess, url, unique, tmp_path):
    bucket = unique.replace("-", "_")

    async def create(nc: Nats) -> None:
        await nc.jetstream().create_object_store(bucket)

    h.run(url, create)
    data = os.urandom(SIZE)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    headers = {"Authorization": f"Bearer {operator_web.token}"}
    base = f"{operator_web.url}/api/v1/clusters/nats/objects/{bucket}"
    _warm(operator_web, bucket)

    with Peak(operator_web.pid) as upload_rss, source.open("rb") as file:
        started = time.monotonic()
        answer = httpx.post(
            base, headers=headers, files={"file": ("upload.bin", file)}, data={"name": NAME}, timeout=120
        )
        upload_s = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["name"], body["size"], body["digest"]) == (NAME, SIZE, _nats_digest(data))

    async def read_back(nc: Nats) -> tuple[bytes, str]:
        store = await nc.jetstream().object_store(bucket)
        got = await store.get(NAME)
        return bytes(got.data or b""), str(got.info.digest)

    back, stored_digest = h.run(url, read_back)
    assert stored_digest == body["digest"] and hashlib.sha256(back).digest() == hashlib.sha256(data).digest()

    digest = hashlib.sha256()
    size = 0
    with Peak(operator_web.pid) as download_rss:
        started = time.monotonic()
        with httpx.stream("GET", f"{base}/{NAME}/download", headers=headers, timeout=120) as response:
            assert response.status_code == 200
            assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''file%3D1.v2.bin"
            for chunk in response.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        download_s = time.monotonic() - started
    assert size == SIZE and digest.digest() == hashlib.sha256(data).digest()
    figures = {
        "upload_s": round(upload_s, 2),
        "upload_rss_growth_mb": round(upload_rss.grew / 2**20, 1),
        "download_s": round(download_s, 2),
        "download_rss_growth_mb": round(download_rss.grew / 2**20, 1),
    }
    print(json.dumps(figures))
    assert upload_rss.grew < UPLOAD_BUDGET, figures
    assert download_rss.grew < RSS_BUDGET, figures
