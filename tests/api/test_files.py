"""Signed, expiring image URLs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from conftest import png_bytes
from vary.api.files import FileStore
from vary.errors import ExpiredURLError, InvalidSignatureError


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path, ttl=3600)


def test_saved_file_opens_through_its_signature(store):
    stored = store.save(b"png bytes")
    path, media_type = store.open(stored.name, stored.expires, stored.signature)
    assert path.read_bytes() == b"png bytes"
    assert media_type == "image/png"
    assert stored.expires == pytest.approx(time.time() + 3600, abs=2)


@pytest.mark.parametrize("field", ["name", "expires", "signature"])
def test_any_altered_part_is_refused(store, field):
    stored = store.save(b"x")
    other = store.save(b"y")
    parts = {"name": stored.name, "expires": stored.expires, "signature": stored.signature}
    parts[field] = {
        "name": other.name,
        "expires": stored.expires + 3600,
        "signature": other.signature,
    }[field]
    with pytest.raises(InvalidSignatureError):
        store.open(parts["name"], parts["expires"], parts["signature"])


@pytest.mark.parametrize("name", ["../url-secret.key", "..%2Furl-secret.key", "x.png/../../a"])
def test_names_that_are_paths_are_refused(store, name):
    with pytest.raises(InvalidSignatureError):
        store.open(name, int(time.time()) + 60, "0" * 64)


def test_expired_url_is_refused_and_file_swept(tmp_path):
    store = FileStore(tmp_path, ttl=1)
    stored = store.save(b"x")
    time.sleep(1.1)
    with pytest.raises(ExpiredURLError):
        store.open(stored.name, stored.expires, stored.signature)
    assert store.remove_expired() == 1
    assert list(store.directory.iterdir()) == []


def test_secret_survives_a_restart(tmp_path):
    stored = FileStore(tmp_path, ttl=60).save(b"x")
    reopened = FileStore(tmp_path, ttl=60)
    assert reopened.open(stored.name, stored.expires, stored.signature)[0].read_bytes() == b"x"
    assert (tmp_path / "url-secret.key").stat().st_mode & 0o777 == 0o600


def test_another_data_dir_does_not_accept_the_url(tmp_path):
    stored = FileStore(tmp_path / "a", ttl=60).save(b"x")
    with pytest.raises(InvalidSignatureError):
        FileStore(tmp_path / "b", ttl=60).open(stored.name, stored.expires, stored.signature)


def test_partial_writes_of_dead_processes_are_swept(store):
    ours = store.directory / f"123_abc.png.{os.getpid()}.part"
    crashed = store.directory / "123_abd.png.999999999.part"
    unnamed = store.directory / "123_abe.png.part"
    for path in (ours, crashed, unnamed):
        path.write_bytes(b"half")
    assert store.remove_expired() == 2
    assert ours.exists(), "a write under way in a live process is left alone"
    assert not crashed.exists()
    assert not unnamed.exists()


def test_saved_files_leave_no_partial_behind(store):
    store.save(b"x")
    assert [p.name for p in store.directory.iterdir() if p.name.endswith(".part")] == []


def _first_url(client: TestClient, gradient) -> str:
    response = client.post(
        "/v1/images/variations",
        files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
        data={"size": "256x256"},
    )
    url: str = response.json()["data"][0]["url"]
    return url


def test_tampered_url_is_403_in_the_envelope(client, gradient):
    url = urlsplit(_first_url(client, gradient))
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    query["expires"] = str(int(query["expires"]) + 3600)
    response = client.get(f"{url.path}?{urlencode(query)}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"


def test_url_without_signature_is_400(client, gradient):
    url = urlsplit(_first_url(client, gradient))
    assert client.get(url.path).status_code == 400


def test_urls_need_no_api_key(settings, fake_engine, gradient):
    from dataclasses import replace

    from vary.api import create_app

    app = create_app(replace(settings, api_keys=("sk-test-123456",)), engine=fake_engine)
    with TestClient(app, headers={"Authorization": "Bearer sk-test-123456"}) as client:
        url = _first_url(client, gradient)
    with TestClient(app) as anonymous:
        assert anonymous.get(url).status_code == 200
