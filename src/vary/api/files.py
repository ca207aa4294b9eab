"""Generated images on disk, reached through signed URLs that expire.

A URL carries the file's name, its expiry time and an HMAC of both, made with a secret kept in
the data directory (so URLs survive a restart): it cannot be forged, extended or pointed at
another file, and it needs no API key, like OpenAI's storage links. On disk a file is named
``<expires>_<token>.<ext>``, so finding and deleting expired files needs no index.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExpiredURLError, InvalidSignatureError

__all__ = ["FileStore", "StoredFile"]

_SECRET_FILE = "url-secret.key"
_NAME = re.compile(r"^(?P<token>[A-Za-z0-9_-]{16,64})\.(?P<ext>png|jpeg|webp)$")
# A partial write older than this was left by a crash, not by a write under way.
_STALE_PARTIAL_SECONDS = 300
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class StoredFile:
    name: str
    expires: int
    signature: str

    def path_and_query(self) -> str:
        return f"/images/{self.name}?expires={self.expires}&signature={self.signature}"


class FileStore:
    """Writes images under ``root/images`` and checks the URLs that point at them."""

    def __init__(self, root: Path, *, ttl: int):
        self.directory = root / "images"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self._secret = _load_or_create_secret(root / _SECRET_FILE)

    def _sign(self, name: str, expires: int) -> str:
        message = f"{name}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _path(self, name: str, expires: int) -> Path:
        return self.directory / f"{expires}_{name}"

    def save(self, data: bytes, ext: str = "png") -> StoredFile:
        """Store ``data`` and return the signed name it is served under."""
        name = f"{secrets.token_urlsafe(18)}.{ext}"
        expires = int(time.time()) + self.ttl
        path = self._path(name, expires)
        # Written aside and renamed, so a reader never sees half a file.
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return StoredFile(name, expires, self._sign(name, expires))

    def open(self, name: str, expires: int, signature: str) -> tuple[Path, str]:
        """The file and media type behind a URL, if its signature holds and it has not expired."""
        match = _NAME.match(name)
        expected = self._sign(name, expires)
        if not match or not hmac.compare_digest(expected, signature):
            raise InvalidSignatureError("This URL is not valid: its signature does not match.")
        if expires <= time.time():
            raise ExpiredURLError("This URL has expired.")
        path = self._path(name, expires)
        if not path.is_file():
            raise ExpiredURLError("This image is no longer available.")
        return path, _MEDIA_TYPES[match["ext"]]

    def remove_expired(self, now: float | None = None) -> int:
        """Delete expired images and stray partial writes; return how many were deleted."""
        now = time.time() if now is None else now
        removed = 0
        for path in self.directory.iterdir():
            if path.name.endswith(".part"):
                stale = path.stat().st_mtime < now - _STALE_PARTIAL_SECONDS
            else:
                expires, _, _ = path.name.partition("_")
                stale = not expires.isdigit() or int(expires) <= now
            if stale:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _load_or_create_secret(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    partial = path.with_name(path.name + f".{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(secret)
    # Another process may have won the race; keep whichever secret landed first.
    try:
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return path.read_bytes()
