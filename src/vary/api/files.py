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
        _write_atomically(path, data)
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
                stale = not _alive(_writer(path))
            else:
                expires, _, _ = path.name.partition("_")
                stale = not expires.isdigit() or int(expires) <= now
            if stale:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _write_atomically(path: Path, data: bytes) -> None:
    """Write aside, flush to disk, then rename: after a crash the file is whole or absent, so a
    URL that was handed out never serves half an image."""
    # The writer's pid in the name tells a crashed write (its process is gone) from one under way.
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(partial, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    # The rename itself is durable only once the directory is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _writer(partial: Path) -> int:
    """The pid in ``<name>.<pid>.part``, or 0 if there is none."""
    pid = partial.name.removesuffix(".part").rpartition(".")[2]
    return int(pid) if pid.isdigit() else 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


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
