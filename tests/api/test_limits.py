"""The body limit: an upload over it is refused as a 413 while it streams in, without first
holding the whole body in memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from PIL import Image
from starlette.types import Message, Receive, Scope, Send

from conftest import png_bytes
from live import live_server
from vary.api import create_app
from vary.api.limits import FIELDS_HEADROOM_BYTES, BodyLimitMiddleware, body_limit
from vary.config import Settings

VARIATIONS = "/v1/images/variations"
BOUNDARY = "vary-limit-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
LIMIT = 1000  # bytes, for the middleware alone
MiB = 1024 * 1024


def envelope_413(body: dict[str, Any], limit: int) -> None:
    """OpenAI's envelope, with the code and param of the byte limit on one upload, and the
    middleware's own message (a 413 from reading the upload would name the upload limit)."""
    assert body == {
        "error": {
            "message": f"The request is too large: its body must be at most {limit / MiB:g} MB.",
            "type": "invalid_request_error",
            "param": "image",
            "code": "image_too_large",
        }
    }


def test_the_limit_holds_three_uploads_at_the_byte_limit_and_the_fields():
    # An edit carries an image, a mask and a style_image, each up to max_upload_bytes.
    assert body_limit(20 * MiB) == 61 * MiB
    assert body_limit(1000) == 3000 + FIELDS_HEADROOM_BYTES


# --- the middleware alone, at the ASGI level --------------------------------------------------


@dataclass
class Body:
    """A request body of ``size`` bytes that arrives in ``chunk``-byte messages, and counts what
    was taken from it."""

    size: int
    chunk: int = 100
    taken: int = 0
    receive_calls: int = 0

    async def receive(self) -> Message:
        self.receive_calls += 1
        piece = min(self.chunk, self.size - self.taken)
        self.taken += piece
        return {"type": "http.request", "body": b"x" * piece, "more_body": self.taken < self.size}


@dataclass
class Exchange:
    """What an ASGI app sent back."""

    messages: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        starts = [m["status"] for m in self.messages if m["type"] == "http.response.start"]
        assert len(starts) <= 1
        return starts[0] if starts else None

    @property
    def complete(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body", False)

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))


@dataclass
class Reader:
    """An app that reads the whole body, then answers 200; or, like FastAPI reading a form,
    answers 400 if reading fails."""

    answer_errors: bool = False
    read: int = 0
    called: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        try:
            while True:
                message = await receive()
                self.read += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        except Exception:
            if not self.answer_errors:
                raise
            await _answer(send, 400)
            return
        await _answer(send, 200)


async def _answer(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(method: str = "POST", content_length: int | None = None) -> Scope:
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    return {"type": "http", "method": method, "path": VARIATIONS, "headers": headers}


def _run(app: Any, scope: Scope, body: Body) -> Exchange:
    exchange = Exchange()
    anyio.run(BodyLimitMiddleware(app, LIMIT), scope, body.receive, exchange.send)
    return exchange


def test_a_content_length_over_the_limit_is_refused_before_reading():
    app, body = Reader(), Body(10 * LIMIT)
    exchange = _run(app, _scope(content_length=body.size), body)
    assert exchange.status == 413
    envelope_413(exchange.json(), LIMIT)
    assert (app.called, body.receive_calls) == (False, 0)


@pytest.mark.parametrize(
    "content_length",
    [None, 10],  # chunked, or a Content-Length that lies
    ids=["chunked", "lying content-length"],
)
@pytest.mark.parametrize("answer_errors", [False, True], ids=["raising app", "answering app"])
def test_a_streamed_body_is_cut_off_at_the_limit(content_length, answer_errors):
    app, body = Reader(answer_errors=answer_errors), Body(10 * LIMIT)
    exchange = _run(app, _scope(content_length=content_length), body)
    assert exchange.status == 413
    assert exchange.complete
    envelope_413(exchange.json(), LIMIT)
    assert app.read <= LIMIT
    assert body.taken <= LIMIT + body.chunk  # the rest was never pulled


@pytest.mark.parametrize("size", [0, LIMIT - 1, LIMIT])
def test_a_body_within_the_limit_passes(size):
    app, body = Reader(), Body(size)
    exchange = _run(app, _scope(content_length=size), body)
    assert exchange.status == 200
    assert app.read == size


def test_other_methods_are_not_counted():
    app, body = Reader(), Body(10 * LIMIT)
    exchange = _run(app, _scope(method="PUT", content_length=body.size), body)
    assert exchange.status == 200
    assert app.read == body.size


def test_a_response_already_begun_is_left_unfinished():
    # Nothing can replace a response whose status is sent: it is cut short, and the server
    # closes the connection.
    async def answers_then_reads(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.body", "body": b"end"})

    exchange = _run(answers_then_reads, _scope(), Body(10 * LIMIT))
    assert exchange.status == 200
    assert not exchange.complete


# --- the whole app, with a body streamed through httpx ----------------------------------------


def _multipart_head() -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="image"; filename="photo.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


@dataclass
class Upload:
    """A multipart upload of ``size`` bytes of file content, streamed in chunks; counts how
    much the server took."""

    size: int
    chunk: int = 64 * 1024
    sent: int = 0

    def chunks(self) -> Iterator[bytes]:
        yield _multipart_head()
        self.sent += len(_multipart_head())
        block = b"\0" * self.chunk
        for start in range(0, self.size, self.chunk):
            piece = block[: min(self.chunk, self.size - start)]
            self.sent += len(piece)
            yield piece
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    async def stream(self) -> AsyncIterator[bytes]:
        for piece in self.chunks():
            yield piece


def _valid_form() -> bytes:
    png = png_bytes(Image.new("RGB", (8, 8), "red"))
    size = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="size"\r\n\r\n64x64\r\n'
    return size.encode() + _multipart_head() + png + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    return replace(settings, max_upload_bytes=1000)


def _post(settings: Settings, engine: Any, content: Any, headers: dict[str, str]) -> httpx.Response:
    """POST through the app in process, running its lifespan, with a lazily streamed body."""
    app = create_app(settings, engine=engine)

    async def main() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.post(VARIATIONS, content=content, headers=headers)

    return anyio.run(main)


def test_the_app_refuses_a_content_length_over_the_limit_without_reading(
    small_settings, fake_engine
):
    upload = Upload(2 * body_limit(small_settings.max_upload_bytes))
    headers = MULTIPART | {"content-length": str(upload.size + 200)}
    response = _post(small_settings, fake_engine, upload.stream(), headers)
    assert response.status_code == 413
    envelope_413(response.json(), body_limit(small_settings.max_upload_bytes))
    assert upload.sent == 0
    assert fake_engine.calls == []


def test_the_app_refuses_a_chunked_upload_over_the_limit_midway(small_settings, fake_engine):
    upload = Upload(4 * body_limit(small_settings.max_upload_bytes))
    response = _post(small_settings, fake_engine, upload.stream(), MULTIPART)
    assert response.status_code == 413
    envelope_413(response.json(), body_limit(small_settings.max_upload_bytes))
    assert upload.sent <= body_limit(small_settings.max_upload_bytes) + upload.chunk
    assert fake_engine.calls == []


def test_the_app_serves_a_streamed_upload_within_the_limit(small_settings, fake_engine):
    form = _valid_form()

    async def in_small_chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(form), 50):
            yield form[start : start + 50]

    response = _post(small_settings, fake_engine, in_small_chunks(), MULTIPART)
    assert response.status_code == 200, response.text
    assert len(fake_engine.calls) == 1


# --- a live server ----------------------------------------------------------------------------


def _memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _reset_peak_memory(pid: int) -> None:
    """Make VmHWM (the peak resident set) start again from the current one."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as exc:
        pytest.skip(f"cannot reset the server's peak memory: {exc}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_a_live_server_refuses_a_big_chunked_upload_in_bounded_memory(tmp_path):
    limit = body_limit(Settings().max_upload_bytes)  # the defaults: 61 MiB
    upload = Upload(limit + 32 * MiB, chunk=MiB)
    with live_server(tmp_path / "data") as server, httpx.Client(timeout=60) as client:
        pid = server.process.pid
        client.get(f"{server.url}/health")  # the first request's one-off allocations
        _reset_peak_memory(pid)
        before = _memory_kib(pid, "VmRSS")
        response = client.post(
            f"{server.url}{VARIATIONS}", content=upload.chunks(), headers=MULTIPART
        )
        peak = _memory_kib(pid, "VmHWM")
        assert response.status_code == 413, server.describe()
        envelope_413(response.json(), limit)
        # The server never held more than a small part of the 93 MiB.
        assert (peak - before) * 1024 < upload.size // 8, server.describe()
        assert client.get(f"{server.url}/health").status_code == 200
