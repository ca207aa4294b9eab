"""Who gets in: a bounded queue in front of the engine, per-key rates, and draining on shutdown.

Requests that make images are admitted before their body is read. Past the engine's slots plus
``max_queue`` waiting, or past a key's rate, the answer is a 429 with ``Retry-After`` (the
official clients wait and retry by themselves); while the server drains for shutdown, every
request gets a 503 with ``Retry-After``. So a flood is answered with work or a time to come back,
and memory stays bounded by the requests admitted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import RateLimitError
from .errors import error_response, vary_error_response

__all__ = ["Admission", "AdmissionMiddleware", "RateLimits", "SlidingWindow", "key_name"]

_WINDOW_SECONDS = 60.0
_IMAGE_PATHS = ("/v1/images/variations", "/v1/images/edits")


class SlidingWindow:
    """Counts events per key over the last minute."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self._clock = clock
        self._events: dict[str, deque[tuple[float, int]]] = {}

    def _used(self, key: str, now: float) -> tuple[deque[tuple[float, int]], int]:
        events = self._events.setdefault(key, deque())
        while events and events[0][0] <= now - _WINDOW_SECONDS:
            events.popleft()
        return events, sum(count for _, count in events)

    def take(self, key: str, count: int = 1) -> float:
        """Record ``count`` events and return 0, or, over the limit, record nothing and return
        the seconds until enough of the window has passed."""
        now = self._clock()
        events, used = self._used(key, now)
        if used + count <= self.limit:
            events.append((now, count))
            return 0.0
        if count > self.limit:
            return _WINDOW_SECONDS
        # Wait until the oldest events that must leave the window have left it.
        freed = 0
        for stamp, amount in events:
            freed += amount
            if used - freed + count <= self.limit:
                return max(0.001, stamp + _WINDOW_SECONDS - now)
        return _WINDOW_SECONDS


@dataclass
class RateLimits:
    """Per-key limits; 0 means unlimited."""

    requests_per_minute: int = 0
    images_per_minute: int = 0
    requests: SlidingWindow = field(init=False)
    images: SlidingWindow = field(init=False)

    def __post_init__(self) -> None:
        self.requests = SlidingWindow(self.requests_per_minute)
        self.images = SlidingWindow(self.images_per_minute)


class Admission:
    """The state the middleware and the serving layer share."""

    def __init__(self, *, max_queue: int, slots: int = 1, limits: RateLimits | None = None):
        self.max_queue = max_queue
        #: How many requests the engine runs at once; set when it is loaded.
        self.slots = slots
        self.in_flight = 0
        self.draining = False
        self.limits = limits or RateLimits()
        # The last few request durations, for an honest Retry-After.
        self._durations: deque[float] = deque(maxlen=20)

    @property
    def capacity(self) -> int:
        return self.slots + self.max_queue

    def record_duration(self, seconds: float) -> None:
        self._durations.append(seconds)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the typical request time, at least 1."""
        typical = sorted(self._durations)[len(self._durations) // 2] if self._durations else 1.0
        return max(1, math.ceil(typical))

    def take_images(self, key: str, count: int) -> None:
        """Count ``count`` images against ``key``'s rate, or raise RateLimitError."""
        limit = self.limits.images_per_minute
        if not limit:
            return
        wait = math.ceil(self.limits.images.take(key, count))
        if wait:
            raise RateLimitError(
                f"Rate limit reached for images per min: Limit {limit}, Requested {count}. "
                f"Please try again in {wait}s.",
                retry_after=wait,
            )


def key_name(scope: Scope) -> str:
    """The name of the key that authenticated the request (set by the auth middleware)."""
    name: str = scope.get("state", {}).get("key_name", "anonymous")
    return name


class AdmissionMiddleware:
    """Refuses what the server cannot take now, before the request's body is read."""

    def __init__(self, app: ASGIApp, *, admission: Admission):
        self.app = app
        self.admission = admission

    @staticmethod
    async def _refuse(error: RateLimitError, scope: Scope, receive: Receive, send: Send) -> None:
        await vary_error_response(error)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        admission = self.admission
        if admission.draining:
            response = error_response(
                503,
                "The server is shutting down; retry shortly.",
                type="server_error",
                code="server_shutting_down",
                headers={"Retry-After": str(admission.retry_after())},
            )
            await response(scope, receive, send)
            return
        if scope["method"] != "POST" or scope["path"] not in _IMAGE_PATHS:
            await self.app(scope, receive, send)
            return
        key = key_name(scope)
        if admission.limits.requests_per_minute:
            wait = math.ceil(admission.limits.requests.take(key))
            if wait:
                limit = admission.limits.requests_per_minute
                message = (
                    f"Rate limit reached for requests per min: Limit {limit}. "
                    f"Please try again in {wait}s."
                )
                await self._refuse(RateLimitError(message, retry_after=wait), scope, receive, send)
                return
        if admission.in_flight >= admission.capacity:
            wait = admission.retry_after()
            message = (
                f"The server is at capacity ({admission.capacity} requests in progress or "
                f"queued). Please try again in {wait}s."
            )
            await self._refuse(RateLimitError(message, retry_after=wait), scope, receive, send)
            return
        admission.in_flight += 1
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            admission.in_flight -= 1
            admission.record_duration(time.monotonic() - started)
