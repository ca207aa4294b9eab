"""Server settings, with their defaults and the environment variables that set them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    """``$VARY_DATA_DIR``, else ``$XDG_DATA_HOME/vary``, else ``~/.local/share/vary``."""
    if explicit := os.environ.get("VARY_DATA_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "vary"


def _keys_from_env() -> tuple[str, ...]:
    return tuple(
        key.strip() for key in os.environ.get("VARY_API_KEYS", "").split(",") if key.strip()
    )


@dataclass(frozen=True)
class Settings:
    """Everything ``vary serve`` can be told. Immutable; build a new one to change it."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Where generated images and the URL-signing secret live.
    data_dir: Path = field(default_factory=default_data_dir)
    #: Seconds a returned URL stays valid; OpenAI's expired after one hour.
    url_ttl: int = 3600
    #: Accepted API keys; empty means no key is needed. ``VARY_API_KEYS`` is comma-separated.
    api_keys: tuple[str, ...] = field(default_factory=_keys_from_env)
    #: Base of returned URLs (e.g. ``https://img.example.com``); default: the host the client used.
    public_url: str | None = None
    #: The engine to load; ``dall-e-2`` requests are served by it too.
    model: str = "vary-style"
    #: Uploads larger than this many bytes are refused before they are decoded.
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Pictures with more pixels than this are refused before they are decoded.
    max_pixels: int = 40_000_000
    #: Inference threads per call; ``None`` uses one per core.
    threads: int | None = None
    #: What runs the network: ``auto``, ``onnxruntime`` or ``openvino`` (see the README).
    runtime: str = "auto"
    #: ``auto``, ``fp32`` or ``bf16`` (bf16 needs OpenVINO and a CPU with native bf16).
    precision: str = "auto"
    #: Make OpenAI's own fields accept only what OpenAI accepts: the three square sizes, and
    #: a square PNG under 4 MB. vary's extra fields still work.
    strict_openai: bool = False
    #: Image requests that may wait for the engine beside the one it runs; past that, 429.
    max_queue: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1))
    #: Per-key limits per minute (0: none); the key's name, or "anonymous" without keys.
    requests_per_minute: int = 0
    images_per_minute: int = 0

    def __post_init__(self) -> None:
        if self.url_ttl <= 0:
            raise ValueError(f"url_ttl must be positive, got {self.url_ttl}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must not be negative, got {self.max_queue}")
        if self.public_url is not None:
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
