"""The live page's JavaScript unit tests (tests/js/, the protocol module without a browser), run by
Node's own test runner so that `make test` fails when they do."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
# Node reads static/js as ES modules by their syntax (no package.json says so) from 20.19 on.
OLDEST_NODE = (20, 19)


def _node_version() -> tuple[int, int] | None:
    if NODE is None:
        return None
    answer = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30)
    found = re.match(r"v(\d+)\.(\d+)", answer.stdout.strip())
    return (int(found[1]), int(found[2])) if found else None


def test_the_javascript_unit_tests_pass() -> None:
    version = _node_version()
    if NODE is None or version is None:
        pytest.skip("node is not installed (Node 20.19 or newer runs tests/js; apt-get install nodejs)")
    if version < OLDEST_NODE:
        pytest.skip(f"node {version[0]}.{version[1]} is too old for tests/js: it needs 20.19 or newer")
    files = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files, "no tests/js/*.test.mjs"
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
