"""Request ids, one structured log line per request, and Prometheus metrics.

Every response carries ``X-Request-ID`` (the caller's, when it sent a sane one). The log line
is JSON on the ``vary.access`` logger: request id, method, path, route, status, latency and the
NAME of the key that authenticated it, never the key. Metrics live in a registry of the app's own,
so several apps in one process (as in tests) do not collide.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "ObservabilityMiddleware"]

access_log = logging.getLogger("vary.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self, queue_depth: Callable[[], float]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vary_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vary_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter("vary_images", "Images made", registry=self.registry)
        self.engine_seconds = Histogram(
            "vary_engine_seconds",
            "Engine time per request",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        queue = Gauge(
            "vary_queue_depth", "Image requests running or waiting", registry=self.registry
        )
        queue.set_function(queue_depth)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _route(scope: Scope) -> str:
    # The route's template, not the raw path, so image ids do not explode the label set.
    route = scope.get("route")
    return getattr(route, "path", "unmatched")


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode("latin-1"))
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route(scope)
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            access_log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        # The path without its query, so no URL signature is written down.
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "latency_ms": round(seconds * 1000, 1),
                        "key": scope["state"].get("key_name"),
                    }
                )
            )
