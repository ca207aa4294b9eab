"""Request ids, the access log and /metrics."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from fastapi.testclient import TestClient

from conftest import png_bytes
from vary.api import create_app


def test_every_response_has_a_request_id(client):
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/health").headers["x-request-id"] != generated
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = client.get("/health", headers={"X-Request-ID": "a b\x1b[31m"})
    assert hostile.headers["x-request-id"] != "a b\x1b[31m"


def test_access_log_has_key_name_never_key(settings, fake_engine, gradient, caplog):
    key = "sk-observed-key-000111"
    app = create_app(replace(settings, api_keys=(key,)), engine=fake_engine)
    with caplog.at_level(logging.INFO, logger="vary.access"), TestClient(app) as client:
        client.post(
            "/v1/images/variations",
            files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
            data={"size": "64x64"},
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-1"},
        )
        client.get("/v1/models", headers={"Authorization": "Bearer sk-wrong-000000000"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "vary.access"]
    made = next(line for line in lines if line["request_id"] == "req-1")
    assert made["route"] == made["path"] == "/v1/images/variations"
    assert made["status"] == 200
    assert made["key"] == "static-1"
    assert made["latency_ms"] >= 0
    assert any(line["status"] == 401 for line in lines)
    assert key not in caplog.text
    assert "sk-wrong-000000000" not in caplog.text


def test_metrics_count_requests_images_and_engine_time(client, gradient):
    client.post(
        "/v1/images/variations",
        files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
        data={"size": "64x64", "n": "3"},
    )
    client.get("/images/nothing.png?expires=1&signature=x")
    text = client.get("/metrics").text
    assert 'vary_requests_total{route="/v1/images/variations",status="200"} 1.0' in text
    assert 'route="/images/{name}",status="403"' in text
    assert "vary_images_total 3.0" in text
    assert "vary_engine_seconds_count 1.0" in text
    assert "vary_queue_depth 0.0" in text
    assert 'vary_request_seconds_bucket{le="0.01",route="/v1/images/variations"}' in text
