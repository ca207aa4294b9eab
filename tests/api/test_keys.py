"""Stored API keys: the KeyStore, and the middleware that asks it on every request."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from conftest import post_variation
from vary.api import create_app
from vary.api.auth import APIKeyMiddleware, is_loopback
from vary.api.keys import FILENAME, KeyStore
from vary.errors import InvalidRequestError

STATIC_KEY = "sk-static-key-000001"


@pytest.fixture
def store(settings) -> Iterator[KeyStore]:
    """The store of the data dir that ``settings`` (and so the ``client`` fixture) uses."""
    keys = KeyStore(settings.data_dir)
    yield keys
    keys.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- the store -------------------------------------------------------------------------------


def test_keys_are_new_random_and_look_like_openai_keys(store):
    keys = [store.create(f"k{i}") for i in range(3)]
    assert len(set(keys)) == 3
    for key in keys:
        assert key.startswith("sk-")
        assert len(key) >= 3 + 43  # 32 random bytes, base64url


def test_only_the_hash_is_stored(store, settings):
    key = store.create("ci")
    assert store.lookup(key) == "ci"  # and used, so the WAL and shared memory files exist too
    files = sorted(settings.data_dir.iterdir())
    assert settings.data_dir / FILENAME in files
    for path in files:
        content = path.read_bytes()
        assert key.encode() not in content, path
        assert key.removeprefix("sk-").encode() not in content, path
    with contextlib.closing(sqlite3.connect(settings.data_dir / FILENAME)) as db:
        assert db.execute("SELECT key_sha256 FROM api_keys").fetchall() == [(sha256(key),)]


def test_lookup_gives_the_name_of_an_active_key_only(store):
    first, second = store.create("first"), store.create("second")
    assert (store.lookup(first), store.lookup(second)) == ("first", "second")
    for wrong in ("", "sk-", first + "x", first[:-1], first.upper(), sha256(first)):
        assert store.lookup(wrong) is None, wrong
    assert store.revoke("first")
    assert (store.lookup(first), store.lookup(second)) == (None, "second")


def test_list_shows_names_dates_and_fingerprints_never_keys(store):
    before = datetime.now(UTC).replace(microsecond=0)
    kept, gone = store.create("kept"), store.create("gone")
    store.revoke("gone")
    listed = store.list()
    assert [(info.name, info.active) for info in listed] == [("kept", True), ("gone", False)]
    for info, key in zip(listed, (kept, gone), strict=True):
        assert info.fingerprint == sha256(key)[:8]
        assert before <= info.created_at <= datetime.now(UTC)
        assert key not in repr(info)
        assert key.removeprefix("sk-")[:8] not in repr(info)
    assert listed[0].revoked_at is None
    assert listed[1].revoked_at is not None
    assert (
        listed[1].created_at <= listed[1].revoked_at < listed[1].created_at + timedelta(minutes=1)
    )


def test_revoke_says_whether_there_was_an_active_key(store):
    store.create("ci")
    assert store.revoke("ci") is True
    assert store.revoke("ci") is False
    assert store.revoke("never") is False


def test_a_duplicate_active_name_is_refused_and_free_again_once_revoked(store):
    old = store.create("ci")
    with pytest.raises(InvalidRequestError, match="'ci' exists already") as caught:
        store.create("ci")
    assert caught.value.code == "duplicate_key_name"
    assert store.lookup(old) == "ci", "the refused create changed nothing"
    store.revoke("ci")
    new = store.create("ci")
    assert (store.lookup(old), store.lookup(new)) == (None, "ci")
    assert [info.active for info in store.list()] == [False, True]


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "two words", "slash/name", "../up", "naïve", "tab\t", "semi;colon"]
)
def test_bad_names_are_refused(store, settings, name):
    with pytest.raises(InvalidRequestError, match="invalid key name") as caught:
        store.create(name)
    assert caught.value.code == "invalid_key_name"
    assert not settings.data_dir.exists(), "nothing was written"


@pytest.mark.parametrize("name", ["a", "a" * 64, "ci.build_1-X"])
def test_good_names_are_accepted(store, name):
    assert store.lookup(store.create(name)) == name


def test_reading_never_creates_the_database(store, settings):
    assert (store.has_keys(), store.has_active_keys(), store.list()) == (False, False, [])
    assert store.lookup("sk-anything") is None
    assert store.revoke("ci") is False
    assert not settings.data_dir.exists()


def test_has_keys_counts_revoked_ones_and_has_active_keys_does_not(store):
    store.create("ci")
    assert (store.has_keys(), store.has_active_keys()) == (True, True)
    store.revoke("ci")
    assert (store.has_keys(), store.has_active_keys()) == (True, False)


def test_another_connection_sees_every_change_at_once(settings):
    """The server's store and the CLI's are two connections (two processes in real life)."""
    server, cli = KeyStore(settings.data_dir), KeyStore(settings.data_dir)
    try:
        assert not server.has_keys()  # the server looked before any key existed
        key = cli.create("ci")
        assert server.lookup(key) == "ci"
        cli.revoke("ci")
        assert server.lookup(key) is None
    finally:
        server.close()
        cli.close()


def test_two_writers_and_a_reader_at_once(settings):
    stores = [KeyStore(settings.data_dir) for _ in range(3)]
    reader = stores[2]

    def write(writer: KeyStore, prefix: str) -> dict[str, str]:
        made = {f"{prefix}{i}": writer.create(f"{prefix}{i}") for i in range(20)}
        for name in list(made)[::2]:
            assert writer.revoke(name)
        return made

    def read() -> int:
        return sum(reader.lookup("sk-not-a-key") is None for _ in range(200))

    try:
        with ThreadPoolExecutor(3) as pool:
            writes = [pool.submit(write, stores[0], "a"), pool.submit(write, stores[1], "b")]
            reads = pool.submit(read)
            made = writes[0].result() | writes[1].result()
            assert reads.result() == 200
        active = {info.name for info in reader.list() if info.active}
        assert len(made) == 40
        assert active == {name for name in made if int(name[1:]) % 2}
        for name, key in made.items():
            assert reader.lookup(key) == (name if name in active else None)
    finally:
        for each in stores:
            each.close()


def test_one_store_from_many_threads(store):
    key = store.create("ci")
    with ThreadPoolExecutor(4) as pool:
        names = list(pool.map(lambda _: store.lookup(key), range(200)))
    assert names == ["ci"] * 200


def test_a_deleted_or_replaced_database_is_noticed(store, settings):
    old = store.create("ci")
    assert store.lookup(old) == "ci"
    for path in settings.data_dir.iterdir():  # as an operator resetting the keys would
        path.unlink()
    assert (store.has_keys(), store.lookup(old)) == (False, None)
    other = KeyStore(settings.data_dir)
    new = other.create("ci")
    other.close()
    assert (store.lookup(old), store.lookup(new)) == (None, "ci")


# --- the middleware --------------------------------------------------------------------------


def assert_401(response, fragment: str = "Incorrect API key provided") -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("invalid_api_key", "invalid_request_error")
    assert fragment in error["message"]


def test_the_first_key_turns_auth_on_in_a_running_app(client, store, gradient, fake_engine):
    assert client.get("/v1/models").status_code == 200
    assert client.get("/v1/models", headers=bearer("sk-anything")).status_code == 200
    key = store.create("ci")
    assert_401(client.get("/v1/models"), "You didn't provide an API key")
    assert_401(client.get("/v1/models", headers=bearer("sk-anything")))
    assert_401(post_variation(client, gradient, bearer(key[:-1])))
    assert fake_engine.calls == [], "a refused request never reaches the engine"
    assert client.get("/v1/models", headers=bearer(key)).status_code == 200
    assert post_variation(client, gradient, bearer(key)).status_code == 200


def test_a_revoked_key_is_refused_at_once_and_the_app_stays_locked(client, store):
    key = store.create("ci")
    assert client.get("/v1/models", headers=bearer(key)).status_code == 200
    store.revoke("ci")
    response = client.get("/v1/models", headers=bearer(key))
    assert_401(response)
    assert key not in response.text
    assert key[5:-2] not in response.text, "the key is shown masked"
    # Revoking the last key must not open the server to everyone.
    assert_401(client.get("/v1/models"), "You didn't provide an API key")
    assert_401(client.get("/v1/models", headers=bearer("sk-anything")))
    new = store.create("ci-2")
    assert client.get("/v1/models", headers=bearer(new)).status_code == 200


def test_static_and_stored_keys_both_work(settings, fake_engine, store):
    stored = store.create("ci")
    app = create_app(replace(settings, api_keys=(STATIC_KEY,)), engine=fake_engine)
    with TestClient(app) as client:
        for key in (STATIC_KEY, stored):
            assert client.get("/v1/models", headers=bearer(key)).status_code == 200
        store.revoke("ci")
        assert_401(client.get("/v1/models", headers=bearer(stored)))
        assert client.get("/v1/models", headers=bearer(STATIC_KEY)).status_code == 200


def test_health_needs_no_key_even_with_stored_keys(client, store):
    store.create("ci")
    assert client.get("/health").status_code == 200


def test_the_key_name_goes_into_the_request_state(store):
    key = store.create("ci")
    seen: list[object] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope.get("state", {}).get("key_name"))
        await PlainTextResponse("ok")(scope, receive, send)

    client = TestClient(APIKeyMiddleware(endpoint, keys=[STATIC_KEY], store=store))
    for headers in (bearer(key), bearer(STATIC_KEY), {}):
        client.get("/v1/models", headers=headers)
    client.get("/health")
    assert seen == ["ci", "static-1", None]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback
