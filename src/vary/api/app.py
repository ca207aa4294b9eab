"""The ASGI application: engine loading in the lifespan, middleware, routes and error handlers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .._version import __version__
from ..config import Settings
from ..engines import Engine, load_engine
from .admission import Admission, AdmissionMiddleware, RateLimits
from .auth import APIKeyMiddleware
from .errors import install_error_handlers
from .files import FileStore
from .keys import KeyStore
from .limits import BodyLimitMiddleware, body_limit
from .observability import Metrics, ObservabilityMiddleware
from .routes import router
from .serving import ImageService

__all__ = ["create_app"]

logger = logging.getLogger("vary")

# Expired images are swept this often at most (and at least once per URL lifetime).
_SWEEP_SECONDS = 60


async def _sweep_expired(store: FileStore, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await anyio.to_thread.run_sync(store.remove_expired)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the server. ``engine`` skips loading one (tests pass a fake); by default the
    engine that ``settings.model`` names is loaded once, before the first request."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = engine
        if loaded is None:
            started = time.perf_counter()
            loaded = await anyio.to_thread.run_sync(
                partial(
                    load_engine,
                    settings.model,
                    threads=settings.threads,
                    runtime=settings.runtime,
                    precision=settings.precision,
                    cache_dir=settings.data_dir / "compiled",
                )
            )
            logger.info("loaded %s in %.1fs", loaded.model_id, time.perf_counter() - started)
        store = FileStore(settings.data_dir, ttl=settings.url_ttl)
        await anyio.to_thread.run_sync(store.remove_expired)
        app.state.admission.slots = loaded.max_concurrency
        app.state.service = ImageService(
            loaded, store, settings, admission=app.state.admission, metrics=app.state.metrics
        )
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_sweep_expired, store, min(_SWEEP_SECONDS, settings.url_ttl))
                yield
                tasks.cancel_scope.cancel()
        finally:
            if engine is None:
                loaded.close()

    app = FastAPI(
        title="vary",
        version=__version__,
        summary="A drop-in replacement for OpenAI's image variations API.",
        lifespan=lifespan,
    )
    admission = Admission(
        max_queue=settings.max_queue,
        limits=RateLimits(settings.requests_per_minute, settings.images_per_minute),
    )
    app.state.admission = admission
    app.state.metrics = Metrics(queue_depth=lambda: admission.in_flight)
    # The last added runs first: observe everything, then authenticate, then admit, and only
    # then read a body.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=body_limit(settings.max_upload_bytes))
    app.add_middleware(AdmissionMiddleware, admission=admission)
    app.add_middleware(APIKeyMiddleware, keys=settings.api_keys, store=KeyStore(settings.data_dir))
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    app.include_router(router)
    app.openapi = partial(_openapi_without_422, app)  # type: ignore[method-assign]
    return app


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents a 422 for every route with parameters; vary answers those with 400s in
    OpenAI's envelope, which the routes document, so the 422s and their schemas go."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
