"""``vary keys`` and the bind rule of ``vary serve``, as a user runs them: the installed command
as a subprocess, against a real running server driven by the official ``openai`` client."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from live import VARY, LiveServer, free_port, live_server

#: What a command that must not start a server may take before it counts as started: it loads
#: no engine, so a second or two; a wrongly started server is killed at this point.
REFUSAL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def vary(*args: str | Path, timeout: float = 60) -> Run:
    """Run ``vary *args``; ``subprocess.run`` kills it if it outlives ``timeout``."""
    env = {k: v for k, v in os.environ.items() if k not in {"VARY_API_KEYS", "VARY_DATA_DIR"}}
    done = subprocess.run(
        [str(VARY), *map(str, args)],
        capture_output=True,
        timeout=timeout,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def create_key(data_dir: Path, name: str) -> str:
    run = vary("keys", "create", "--name", name, "--data-dir", data_dir)
    assert run.returncode == 0, run.stderr
    key, newline, rest = run.stdout.partition("\n")
    assert (newline, rest) == ("\n", ""), "the key alone, so that KEY=$(vary keys create) works"
    assert key.startswith("sk-")
    assert "not be shown again" in run.stderr
    assert key not in run.stderr
    return key


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data") as running:
        yield running


def list_models(server: LiveServer, key: str) -> list[str]:
    with OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
        return [model.id for model in client.models.list()]


def assert_refused(server: LiveServer, key: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        list_models(server, key)
    assert caught.value.code == "invalid_api_key", server.describe()


def test_keys_apply_to_a_running_server_at_once(server):
    assert list_models(server, "sk-any"), "no key yet: no auth on loopback"

    key = create_key(server.data_dir, "ci")
    assert "vary-style" in list_models(server, key)
    assert_refused(server, "sk-any")

    run = vary("keys", "revoke", "ci", "--data-dir", server.data_dir)
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    assert_refused(server, key)
    assert server.process.poll() is None, "the same server, never restarted"

    run = vary("keys", "list", "--data-dir", server.data_dir)
    assert run.returncode == 0, run.stderr
    header, row = run.stdout.splitlines()
    assert header.split() == ["NAME", "CREATED", "STATUS", "FINGERPRINT"]
    cells = row.split()  # name, created (3 words), "revoked", when (3 words), fingerprint
    assert (cells[0], cells[4]) == ("ci", "revoked"), row
    assert cells[-1] == hashlib.sha256(key.encode()).hexdigest()[:8]
    for output in (run.stdout, run.stderr, server.log()):
        assert key not in output
        assert key.removeprefix("sk-")[:12] not in output
    assert '"path": "/v1/models"' in server.log(), "the requests were logged, only not the key"


def test_revoking_an_unknown_key_is_one_line_error(tmp_path):
    run = vary("keys", "revoke", "nobody", "--data-dir", tmp_path)
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.startswith("vary: error: no active key named 'nobody'")
    assert run.stderr.count("\n") == 1, run.stderr


def test_serving_beyond_loopback_without_a_key_is_refused(tmp_path):
    started = time.monotonic()
    try:
        run = vary(
            *("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", tmp_path),
            timeout=REFUSAL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("vary serve --host 0.0.0.0 with no key started (and was killed)")
    assert time.monotonic() - started < REFUSAL_TIMEOUT
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("vary: error: refusing to serve on 0.0.0.0 without an API key")
    assert f"vary keys create --name NAME --data-dir {tmp_path}" in run.stderr
    assert "--insecure-no-auth" in run.stderr
    assert "loading the engine" not in run.stderr
    assert list(tmp_path.iterdir()) == [], "it wrote nothing"


def test_insecure_no_auth_serves_beyond_loopback(tmp_path):
    # The later --host wins: bound to every address just long enough for /health on 127.0.0.1.
    with live_server(tmp_path, "--host", "0.0.0.0", "--insecure-no-auth") as running:
        log = running.log()
    assert "warning: serving on 0.0.0.0 with no API key" in log
    assert "Uvicorn running on http://0.0.0.0:" in log
