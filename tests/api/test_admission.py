"""Backpressure, per-key rates and draining, in process."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from conftest import png_bytes, post_variation
from fakes import FakeEngine
from vary.api import create_app
from vary.api.admission import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_counts_a_minute_and_says_when_to_come_back():
    clock = Clock()
    window = SlidingWindow(3, clock)
    assert [window.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert window.take("k") == pytest.approx(60.0)
    assert window.take("other") == 0.0  # keys are counted apart
    clock.now += 30
    assert window.take("k") == pytest.approx(30.0)
    clock.now += 30.001
    assert window.take("k") == 0.0


def test_sliding_window_weighs_counts_and_refuses_what_can_never_fit():
    clock = Clock()
    window = SlidingWindow(10, clock)
    assert window.take("k", 4) == 0.0
    clock.now += 10
    assert window.take("k", 6) == 0.0
    assert window.take("k", 4) == pytest.approx(50.0)  # the first 4 leave at +60
    assert window.take("k", 11) == 60.0


class BlockingEngine(FakeEngine):
    """Holds every call until released, to fill the server's slots."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def variations(self, image, *, n, seed, controls=None):
        self.entered.release()
        self.release.wait(timeout=30)
        return super().variations(image, n=n, seed=seed)


def _post(client: TestClient, gradient, **headers: str):
    return post_variation(client, gradient, headers, size="64x64", response_format="b64_json")


def test_past_the_queue_requests_get_429_with_retry_after(settings, gradient):
    engine = BlockingEngine()
    app = create_app(replace(settings, max_queue=1), engine=engine)
    with TestClient(app) as client:
        results: list[int] = []
        workers = [
            threading.Thread(target=lambda: results.append(_post(client, gradient).status_code))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        assert engine.entered.acquire(timeout=10)  # one runs, one waits
        for _ in range(100):
            if app.state.admission.in_flight == 2:
                break
            threading.Event().wait(0.05)
        refused = _post(client, gradient)
        engine.release.set()
        for worker in workers:
            worker.join(timeout=30)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert sorted(results) == [200, 200]


def test_per_key_request_and_image_rates(settings, fake_engine, gradient):
    keys = ("sk-rate-test-key-01", "sk-rate-test-key-02")
    app = create_app(
        replace(settings, api_keys=keys, requests_per_minute=2, images_per_minute=100),
        engine=fake_engine,
    )
    with TestClient(app) as client:
        first = {"Authorization": f"Bearer {keys[0]}"}
        statuses = [_post(client, gradient, **first).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        other = _post(client, gradient, **{"Authorization": f"Bearer {keys[1]}"})
        assert other.status_code == 200, "the limit is per key"


def test_images_per_minute_counts_n(settings, fake_engine, gradient):
    app = create_app(replace(settings, images_per_minute=5), engine=fake_engine)
    with TestClient(app) as client:

        def post(n: str):
            return client.post(
                "/v1/images/variations",
                files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
                data={"size": "64x64", "n": n},
            )

        assert post("4").status_code == 200
        refused = post("2")
        assert refused.status_code == 429
        assert "images per min" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert post("1").status_code == 200


def test_draining_answers_503_with_retry_after(client, gradient):
    client.app.state.admission.draining = True
    for response in (_post(client, gradient), client.get("/health"), client.get("/v1/models")):
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "server_shutting_down"
