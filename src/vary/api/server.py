"""Running the app under uvicorn, with a graceful drain on SIGTERM and SIGINT.

On the first signal the server keeps its socket open but answers every new request with a 503
and ``Retry-After`` (so clients and load balancers go elsewhere), lets the requests in progress
finish, and exits once none is left or ``drain_seconds`` have passed. A second signal exits at
once.
"""

from __future__ import annotations

import logging
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI

from ..config import Settings

__all__ = ["DrainingServer", "serve"]

logger = logging.getLogger("vary")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, *, drain_seconds: float):
        super().__init__(config)
        self._app = app
        self._drain_seconds = drain_seconds
        self._drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        admission = getattr(self._app.state, "admission", None)
        if self._drain_deadline is not None or admission is None:
            super().handle_exit(sig, frame)
            return
        admission.draining = True
        self._drain_deadline = time.monotonic() + self._drain_seconds
        logger.info("draining: %d request(s) in progress", admission.in_flight)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None:
            admission = self._app.state.admission
            if admission.in_flight == 0 or time.monotonic() > self._drain_deadline:
                return True
        return await super().on_tick(counter)


def serve(app: FastAPI, settings: Settings, *, drain_seconds: float = 60.0) -> None:
    """Serve ``app`` on ``settings.host:settings.port`` until a signal, then drain."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        # vary writes its own access log, with request ids and without query strings.
        access_log=False,
    )
    DrainingServer(config, app, drain_seconds=drain_seconds).run()
