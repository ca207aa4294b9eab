"""``vary serve`` as a subprocess on 127.0.0.1, and what is measured through it.

The server is started from the console script next to this interpreter (as tests/live.py does),
on a free loopback port, with a throw-away data directory; it is stopped (SIGTERM, then SIGKILL)
when the ``with`` block ends, whatever happened inside. Requests are multipart exactly as the
official ``openai`` client sends them: the form fields first, then ``image`` with its file name
and a content type guessed from it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from .timing import Timed
from .workload import Workload

__all__ = [
    "HttpVariations",
    "Server",
    "cpu_seconds",
    "memory_kib",
    "post_variations",
    "post_variations_once",
    "running_server",
    "throughput",
]

VARY = Path(sys.executable).with_name("vary")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
#: One request may take this long at most (n=10 at 1024 on a loaded machine is ~30 s).
REQUEST_TIMEOUT = 300.0
_POLL_SECONDS = 0.01
_PORT_ATTEMPTS = 3
_SCRUBBED = ("VARY_API_KEYS", "VARY_DATA_DIR")
_HEADERS = {"Authorization": "Bearer any", "Accept": "application/json"}


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    #: Seconds from spawning the process to the first 200 on ``GET /health``.
    ready_seconds: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], started: float) -> float:
    """Seconds from ``started`` to the first 200 on /health; raises if it never comes."""
    deadline = started + START_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"vary serve exited with code {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{url}/health").status_code == 200:
                    return time.perf_counter() - started
            time.sleep(_POLL_SECONDS)
    raise RuntimeError(f"vary serve was not ready within {START_TIMEOUT:g} s")


def _command(port: int, data_dir: Path, extra: tuple[str, ...]) -> list[str]:
    program = [str(VARY)] if VARY.is_file() else [sys.executable, "-m", "vary"]
    host = ["--host", "127.0.0.1", "--port", str(port)]
    return [*program, "serve", *host, "--data-dir", str(data_dir), *extra]


def _start(scratch: Path, extra: tuple[str, ...], *, last_attempt: bool) -> Server | None:
    """Spawn ``vary serve`` and wait until it is ready; None if its port was taken meanwhile
    (and another attempt is left)."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
    port = _free_port()
    log_path = scratch / f"server-{port}.log"
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            _command(port, scratch / "data", extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        return Server(url, process, _wait_ready(url, process, started))
    except RuntimeError as exc:
        _stop(process)
        output = log_path.read_text(errors="replace")
        if "address already in use" in output.lower() and not last_attempt:
            return None
        raise RuntimeError(f"{exc}\nserver log:\n{output}") from None
    except BaseException:
        _stop(process)
        raise


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[Server]:
    """Run ``vary serve --host 127.0.0.1 --port FREE --data-dir TMP *args`` until the block
    ends (``args``: more ``vary serve`` options, e.g. ``"--threads", "1"``)."""
    with tempfile.TemporaryDirectory(prefix="vary-bench-") as scratch:
        server, attempt = None, 0
        while server is None:  # bounded: the last attempt returns a server or raises
            attempt += 1
            server = _start(Path(scratch), args, last_attempt=attempt >= _PORT_ATTEMPTS)
        try:
            yield server
        finally:
            _stop(server.process)


def post_variations(client: httpx.Client, url: str, work: Workload, n: int) -> int:
    """One ``POST /v1/images/variations`` with ``b64_json``; returns the response's bytes."""
    response = client.post(
        f"{url}/v1/images/variations",
        data={"n": str(n), "response_format": "b64_json", "size": f"{work.size}x{work.size}"},
        files={"image": (work.filename, work.data, "image/jpeg")},
        headers=_HEADERS,
    )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    items = response.json()["data"]
    if len(items) != n or not all(item.get("b64_json") for item in items):
        raise RuntimeError(f"asked for {n} b64_json images, got {len(items)}")
    return len(response.content)


def post_variations_once(url: str, work: Workload, n: int) -> int:
    """:func:`post_variations` on a connection of its own."""
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        return post_variations(client, url, work, n)


class HttpVariations:
    """(d) vary end to end: one HTTP request for all ``n``, over a kept-alive connection.

    Its CPU clock adds the server's CPU seconds to this process's (the client's).
    """

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self._pid = server.process.pid
        self._client = httpx.Client(timeout=REQUEST_TIMEOUT)
        self.response_bytes: dict[str, int] = {}

    def _cpu(self) -> float:
        return time.process_time() + cpu_seconds(self._pid)

    def prepare(self, work: Workload) -> Timed:
        def run(n: int) -> None:
            key = f"{work.size}/{n}"
            self.response_bytes[key] = post_variations(self._client, self.url, work, n)

        return Timed(run, self._cpu)

    def close(self) -> None:
        self._client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of ``pid``, in KiB, from /proc."""
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def throughput(
    url: str, work: Workload, *, n: int, clients: int, requests: int, deadline: float
) -> float:
    """Pictures per second with ``clients`` concurrent clients making ``requests`` in all.

    Each client sends its share one after the other and stops early at ``deadline``
    (``time.monotonic()``); the rate counts only the requests that finished.
    """
    done = 0
    lock = threading.Lock()

    def client_loop(share: int) -> None:
        nonlocal done
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            for _ in range(share):
                if time.monotonic() > deadline:
                    return
                post_variations(client, url, work, n)
                with lock:
                    done += 1

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client_loop, share) for share in shares]:
            future.result()
    return done * n / (time.perf_counter() - started)
