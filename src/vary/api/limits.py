"""The request body limit: an upload over it is refused as a 413 while it streams in.

Pure ASGI, in front of everything that reads a body. A ``Content-Length`` over the limit is
answered at once, without reading a byte. Any other body (chunked, or with a ``Content-Length``
that lies) is counted as it passes through ``receive``, and the request is cut off at the limit:
the application never sees the rest, so neither the multipart parser nor the files it spools
ever hold more than the limit. uvicorn then reads and discards whatever the client still sends,
so the client gets to read the 413 rather than a reset connection.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

__all__ = ["FIELDS_HEADROOM_BYTES", "MAX_UPLOADS", "BodyLimitMiddleware", "body_limit"]

#: The most uploads one request carries: an edit's image, mask and style_image.
MAX_UPLOADS = 3
#: Room for every text field at its longest (the prompt's 32000 characters take up to 128 KB
#: as UTF-8) and the multipart framing, with margin.
FIELDS_HEADROOM_BYTES = 1024 * 1024

_MB = 1024 * 1024


def body_limit(max_upload_bytes: int) -> int:
    """The largest body a valid request can have: every upload at the byte limit, and its fields.

    ``3 * max_upload_bytes + 1 MiB``, 61 MiB by default: an edit may carry an image, a mask and a
    style_image (a variation two uploads), each up to ``max_upload_bytes``.
    """
    return MAX_UPLOADS * max_upload_bytes + FIELDS_HEADROOM_BYTES


class _Cutoff(Exception):
    """Raised into the application by ``receive`` once the body has passed the limit."""


class BodyLimitMiddleware:
    """Refuse a POST body over ``max_body_bytes`` with a 413, while it streams in."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _too_large(self.max_body_bytes)(scope, receive, send)
            return
        await _LimitedRequest(self.app, self.max_body_bytes, scope, receive, send).run()


class _LimitedRequest:
    """One request whose body is counted as the application reads it."""

    def __init__(self, app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send):
        self.app, self.limit, self.scope = app, limit, scope
        self._receive, self._send = receive, send
        self.received = 0
        self.over = False
        self.started = False

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except* _Cutoff:  # `*`: a task group on the way out may have wrapped it
            # Nothing inside answered. If the response had already begun there is nothing left
            # to say: returning mid-response makes the server close the connection.
            if not self.started:
                await self._refuse()

    async def receive(self) -> Message:
        if self.over:
            raise _Cutoff
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.over = True
                raise _Cutoff
        return message

    async def send(self, message: Message) -> None:
        if self.over:
            # The application may turn the cut-off into an answer of its own (FastAPI makes any
            # error while reading a form a 400): the 413 replaces it, and the rest is dropped.
            if message["type"] == "http.response.start" and not self.started:
                await self._refuse()
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _refuse(self) -> None:
        self.started = True
        await _too_large(self.limit)(self.scope, self._receive, self._send)


def _too_large(limit: int) -> ASGIApp:
    # The code and param of the byte limit on one upload, so a client handles both alike.
    return error_response(
        413,
        f"The request is too large: its body must be at most {limit / _MB:g} MB.",
        param="image",
        code="image_too_large",
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed one before the app sees it
    return None
