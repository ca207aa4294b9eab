"""API keys: with any key configured, every ``/v1`` request must carry one.

Two kinds of key are accepted: static ones (``--api-key``, ``VARY_API_KEYS``) and the ones in
the data dir's :class:`~vary.api.keys.KeyStore` (``vary keys create``). Auth is on while there is
a static key or the store has ever held a key; revoking the last stored key locks the server
rather than opening it. The store is asked on every request, so ``vary keys create`` and
``vary keys revoke`` apply to a running server at once.

Checked in middleware, before the body is read, so a caller without a key costs no upload.
Keys are compared in constant time and never written anywhere: the name of the key that was
accepted goes into ``scope["state"]["key_name"]`` (``static-1``, ``static-2``... for static
keys) for the logs and the per-key limits.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response
from .keys import KeyStore

__all__ = ["STATIC_KEY_NAME", "APIKeyMiddleware", "is_loopback", "mask_key"]

#: A request authenticated with the i-th static key (from 1) gets ``key_name`` "static-i":
#: logs can tell the keys apart and per-key limits count them apart, without showing them.
STATIC_KEY_NAME = "static-{}"
_PROTECTED_PREFIX = "/v1/"
_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def mask_key(key: str) -> str:
    """``sk-abcdefgh`` -> ``sk-ab***gh``, as OpenAI shows a wrong key back."""
    return f"{key[:5]}***{key[-2:]}" if len(key) >= 10 else "***"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` reaches only this machine: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost, or "" (every address)
        return False


def _credentials(scope: Scope) -> tuple[str, str]:
    """The scheme (lower case) and the credentials of the ``Authorization`` header."""
    headers = dict(scope["headers"])
    scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower(), key.strip()


class APIKeyMiddleware:
    def __init__(self, app: ASGIApp, *, keys: Iterable[str], store: KeyStore | None = None):
        self.app = app
        self._keys = tuple(key.encode() for key in keys)
        self._store = store

    def _static_index(self, key: str) -> int | None:
        candidate = key.encode()
        # Compare with every key, so the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(candidate, known) for known in self._keys]
        return matches.index(True) if any(matches) else None

    def _key_name(self, key: str) -> str | None:
        """The name of ``key`` if this server accepts it."""
        index = self._static_index(key)
        if index is not None:
            return STATIC_KEY_NAME.format(index + 1)
        return None if self._store is None else self._store.lookup(key)

    def _required(self) -> bool:
        # Asked per request: the first `vary keys create` turns auth on in a running server.
        return bool(self._keys) or (self._store is not None and self._store.has_keys())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(_PROTECTED_PREFIX)
            or not self._required()
        ):
            await self.app(scope, receive, send)
            return
        scheme, key = _credentials(scope)
        name = self._key_name(key) if scheme == "bearer" and key else None
        if name is not None:
            scope.setdefault("state", {})["key_name"] = name
            await self.app(scope, receive, send)
            return
        message = f"Incorrect API key provided: {mask_key(key)}." if key else _MISSING
        response = error_response(
            401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)
