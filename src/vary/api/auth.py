"""API keys: with any key configured, every ``/v1`` request must carry one.

Checked in middleware, before the body is read, so a caller without a key costs no upload.
Keys are compared in constant time and never written anywhere.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

__all__ = ["APIKeyMiddleware", "mask_key"]

_PROTECTED_PREFIX = "/v1/"
_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def mask_key(key: str) -> str:
    """``sk-abcdefgh`` -> ``sk-ab***gh``, as OpenAI shows a wrong key back."""
    return f"{key[:5]}***{key[-2:]}" if len(key) >= 10 else "***"


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, *, keys: Iterable[str]):
        self.app = app
        self._keys = tuple(key.encode() for key in keys)

    def _accepts(self, key: str) -> bool:
        candidate = key.encode()
        # Compare with every key, so the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(candidate, known) for known in self._keys]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self._keys
            or scope["type"] != "http"
            or not scope["path"].startswith(_PROTECTED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        key = key.strip()
        if scheme.lower() == "bearer" and key and self._accepts(key):
            await self.app(scope, receive, send)
            return
        message = f"Incorrect API key provided: {mask_key(key)}." if key else _MISSING
        response = error_response(
            401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)
