"""The official ``openai`` npm client, unchanged, against the real server.

tests/node/variations.mjs does the calls and checks; this test starts the server, runs it with
``node`` and checks what it reports. ``make install`` installs the client (``npm ci``); without
``node`` or the installed client the test fails, since a skipped test would hide a broken setup.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PHOTOS
from live import live_server

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "variations.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(
            "`node` is not on PATH: install Node.js, then run `make install`", pytrace=False
        )
    return found


def pinned_openai() -> str:
    """The version of the npm ``openai`` package that package.json pins, once it is installed."""
    pinned: str = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["openai"]
    installed = NODE_DIR / "node_modules" / "openai" / "package.json"
    if not installed.is_file():
        pytest.fail(
            f"the npm client is not installed in {NODE_DIR / 'node_modules'}: run `make install`",
            pytrace=False,
        )
    version = json.loads(installed.read_text())["version"]
    if version != pinned:
        pytest.fail(
            f"tests/node has openai {version} installed, package.json pins {pinned}: "
            "run `make install`",
            pytrace=False,
        )
    return pinned


def test_official_node_client_works_unchanged(tmp_path):
    executable, version = node(), pinned_openai()
    before = int(time.time())
    with live_server(tmp_path / "data") as server:
        env = {**os.environ, "VARY_BASE_URL": server.url, "VARY_PHOTO": str(PHOTOS / "cat.jpg")}
        done = subprocess.run(
            [executable, str(SCRIPT)],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{done.stderr}\n{server.describe()}"
        # Every URL the client fetched was issued, and stored, by this server.
        assert len(list(server.images_dir.iterdir())) == 2
    summary = json.loads(done.stdout)
    assert summary["openai"] == version
    for response_format in ("b64_json", "url"):
        result = summary[response_format]
        assert result["count"] == 2
        assert result["sizes"] == ["256x256", "256x256"]
        assert before <= result["created"] <= time.time()
    assert "vary-style" in summary["models"]
