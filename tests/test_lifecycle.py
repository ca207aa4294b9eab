"""A real server under a flood, SIGTERM and kill -9 (loopback only, bounded in count and time)."""

from __future__ import annotations

import io
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from live import live_server

PHOTO = (Path(__file__).parent / "data" / "photos" / "coffee.jpg").read_bytes()


def post(url: str, timeout: float = 120, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/images/variations",
        files={"image": ("upload", PHOTO, "application/octet-stream")},
        data=fields,
        timeout=timeout,
    )


def test_a_flood_gets_work_or_a_time_to_come_back(tmp_path):
    with live_server(tmp_path, "--max-queue", "1") as server:
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: post(server.url, size="512x512", n="2"), range(24)))
        statuses = [response.status_code for response in responses]
        assert set(statuses) <= {200, 429}, server.describe()
        assert statuses.count(200) >= 2
        assert statuses.count(429) >= 1
        for response in responses:
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.json()["error"]["code"] == "rate_limit_exceeded"
        assert httpx.get(f"{server.url}/health").status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'status="429"' in metrics


def _start_slow_request(url: str) -> tuple[list[httpx.Response], threading.Thread]:
    """Send n=10 at 1024 (seconds of work) from a thread; return once the engine has it."""
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            post(url, n="10", size="1024x1024", response_format="b64_json")
        )
    )
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "vary_queue_depth 1.0" in httpx.get(f"{url}/metrics").text:
            return answers, worker
        time.sleep(0.05)
    raise AssertionError("the slow request never started")


def test_sigterm_drains_in_flight_work_and_turns_new_work_away(tmp_path):
    with live_server(tmp_path) as server:
        slow, worker = _start_slow_request(server.url)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the signal is handled between two ticks of the server's loop
        refused = post(server.url, size="256x256")
        worker.join(timeout=120)
        code = server.process.wait(timeout=30)
    assert refused.status_code == 503, server.describe()
    assert int(refused.headers["retry-after"]) >= 1
    assert slow[0].status_code == 200, server.describe()
    assert len(slow[0].json()["data"]) == 10
    assert code == 0


def test_kill_9_loses_nothing_promised(tmp_path):
    with live_server(tmp_path) as server:
        issued = post(server.url, n="3", size="256x256").json()["data"]
        flood = ThreadPoolExecutor(max_workers=4)
        pending = [flood.submit(post, server.url, 30, size="512x512") for _ in range(8)]
        time.sleep(1.0)
        killed = server.process.pid
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        for future in pending:
            future.exception(timeout=60)  # each ends: answered, or cut off by the kill
        flood.shutdown()
    # What a crash mid-write leaves behind: a partial file of the dead process.
    leftover = tmp_path / "images" / f"9999999999_leftover.png.{killed}.part"
    leftover.write_bytes(b"half an image")
    with live_server(tmp_path) as restarted:
        for item in issued:
            path_and_query = item["url"].split("/", 3)[3]
            response = httpx.get(f"{restarted.url}/{path_and_query}")
            assert response.status_code == 200, restarted.describe()
            picture = Image.open(io.BytesIO(response.content))
            picture.load()  # whole: decodes to the last row
            assert picture.size == (256, 256)
        assert not leftover.exists()
        assert post(restarted.url, size="256x256").status_code == 200


def _images_made(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("vary_images_total "):
            return float(line.split()[1])
    raise AssertionError("no vary_images_total in /metrics")


def test_a_client_that_leaves_while_queued_has_its_work_dropped(tmp_path):
    # One core, so one request at a time: the second one waits its turn.
    with live_server(tmp_path, "--threads", "1") as server:
        slow, worker = _start_slow_request(server.url)
        # Queued behind the slow request, this client gives up after a second.
        try:
            post(server.url, timeout=1.0, n="3", size="256x256")
        except httpx.TimeoutException:
            pass
        else:
            raise AssertionError("the queued request was answered before the slow one ended")
        worker.join(timeout=120)
        assert slow[0].status_code == 200, server.describe()
        # Long enough for the queued request to have run, had it not been dropped.
        time.sleep(2.0)
        assert _images_made(server.url) == 10, "only the slow request's pictures were made"
        assert '"status": 499' in server.log(), server.describe()


def test_image_urls_reach_no_other_file(tmp_path):
    with live_server(tmp_path) as server:
        (item,) = post(server.url, size="256x256").json()["data"]
        query = item["url"].split("?", 1)[1]
        for name in ("..%2Furl-secret.key", "%2e%2e%2furl-secret.key", "....%2F%2Fkeys.sqlite3"):
            response = httpx.get(f"{server.url}/images/{name}?{query}")
            assert response.status_code in (403, 404), (name, response.status_code)
            assert response.headers["content-type"] == "application/json"
        secret = (tmp_path / "url-secret.key").read_bytes()
        traversal = httpx.get(f"{server.url}/images/../url-secret.key?{query}")
        assert secret not in traversal.content


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_memory_stays_bounded_under_a_flood_of_maximum_size_uploads(tmp_path):
    # Noise does not compress: an 18.75 MiB PNG, just under the 20 MiB upload limit.
    noise = np.random.default_rng(0).integers(0, 256, (2560, 2560, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    upload = buffer.getvalue()
    assert 18 * 2**20 < len(upload) < 20 * 2**20

    def send(_: int) -> int:
        response = httpx.post(
            f"{server.url}/v1/images/variations",
            files={"image": ("noise.png", upload, "image/png")},
            data={"size": "256x256", "response_format": "b64_json"},
            timeout=120,
        )
        return response.status_code

    with live_server(tmp_path, "--max-queue", "1") as server:
        pid = server.process.pid
        ready = _memory_kib(pid, "VmRSS")
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(send, range(24)))
        peak = _memory_kib(pid, "VmHWM")
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 2
    # Admitted requests hold their upload and its decoded picture (about 40 MiB each); the 22
    # others were refused before their 450 MiB of bodies were read.
    assert (peak - ready) < 350 * 1024, f"peak grew by {(peak - ready) // 1024} MiB"
