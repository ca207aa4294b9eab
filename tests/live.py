"""The real server as a subprocess, for end-to-end tests.

``live_server(data_dir, *args)`` runs ``vary serve`` (the installed console script, next to the
interpreter running the tests) on a free 127.0.0.1 port, waits until ``GET /health`` answers
200, yields a :class:`LiveServer` and stops the process on exit: SIGTERM, then SIGKILL if it has
not stopped in time. Everything the server prints goes to a log file, quoted in failure
messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

__all__ = ["VARY", "LiveServer", "free_port", "live_server"]

#: The ``vary`` console script installed in the interpreter's environment.
VARY = Path(sys.executable).with_name("vary")

#: Seconds a server may take to answer ``/health``, and to stop after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_POLL_SECONDS = 0.05
# A free port can be taken by another process before the server binds it; try a new one.
_PORT_ATTEMPTS = 3
# Environment variables that would change the server behind the test's back.
_SCRUBBED = ("VARY_API_KEYS", "VARY_DATA_DIR")


@dataclass
class LiveServer:
    """A running ``vary serve``: where it listens, where its data lives and what it printed."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path = field(repr=False)

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def describe(self) -> str:
        """The server's output, for an assertion message."""
        return f"server log ({self.url}):\n{self.log()}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_healthy(server: LiveServer, deadline: float) -> str | None:
    """``None`` once ``/health`` answers 200, else why the server will not come up."""
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                return f"vary serve exited with code {code} before it was ready"
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{server.url}/health").status_code == 200:
                    return None
            time.sleep(_POLL_SECONDS)
    return f"vary serve did not answer GET /health with 200 within {START_TIMEOUT:g} s"


@contextlib.contextmanager
def live_server(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    """Run ``vary serve --data-dir data_dir *args`` until the block ends.

    ``env`` adds environment variables; ``VARY_API_KEYS`` and ``VARY_DATA_DIR`` from the
    environment of the tests are never passed on, so only what the test says configures the
    server.
    """
    if not VARY.is_file():
        pytest.fail(f"{VARY} not found: run `make install`", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="vary-live-") as scratch:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = free_port()
            log_path = Path(scratch) / f"server-{attempt}.log"
            command = [
                str(VARY),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *args,
            ]
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_environment(env),
                )
            server = LiveServer(f"http://127.0.0.1:{port}", data_dir, process, log_path)
            try:
                problem = _wait_until_healthy(server, time.monotonic() + START_TIMEOUT)
            except BaseException:
                _stop(process)
                raise
            if problem is None:
                break
            _stop(process)
            if "address already in use" not in server.log().lower() or attempt == _PORT_ATTEMPTS:
                pytest.fail(f"{problem}\n$ {' '.join(command)}\n{server.log()}", pytrace=False)
        try:
            yield server
        finally:
            _stop(server.process)
