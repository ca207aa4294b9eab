"""API keys guard every /v1 route, and only those."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from conftest import post_variation
from vary.api import create_app
from vary.api.auth import mask_key

KEYS = ("sk-first-key-0001", "sk-second-key-0002")


@pytest.fixture
def app(settings, fake_engine):
    return create_app(replace(settings, api_keys=KEYS), engine=fake_engine)


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_is_accepted(app, gradient, key):
    with TestClient(app) as client:
        assert (
            post_variation(client, gradient, {"Authorization": f"Bearer {key}"}).status_code == 200
        )
        models = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "You didn't provide an API key"),
        ({"Authorization": "Bearer sk-wrong-key-9999"}, "Incorrect API key provided: sk-wr***99"),
        ({"Authorization": "Basic c2stZmlyc3Qta2V5LTAwMDE="}, "Incorrect API key provided"),
        ({"Authorization": "Bearer sk-first-key-0001x"}, "Incorrect API key provided"),
    ],
)
def test_missing_or_wrong_key_is_401(app, gradient, fake_engine, headers, fragment):
    with TestClient(app) as client:
        response = post_variation(client, gradient, headers)
        assert client.get("/v1/models", headers=headers).status_code == 401
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]
    assert "sk-wrong-key-9999" not in error["message"]
    assert fake_engine.calls == []


def test_health_needs_no_key(app):
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200


def test_no_keys_means_no_auth(client, gradient):
    assert post_variation(client, gradient, {}).status_code == 200


@pytest.mark.parametrize(
    ("key", "masked"), [("sk-abcdefghijcd", "sk-ab***cd"), ("short", "***"), ("", "***")]
)
def test_mask_key(key, masked):
    assert mask_key(key) == masked
