"""Turns validated requests into engine calls and engine output into OpenAI responses."""

from __future__ import annotations

import base64
import time
from functools import partial

import anyio
import anyio.to_thread
from fastapi import UploadFile
from PIL import Image

from .. import imaging
from .._pipeline import draw_seed, parse_size, vary_image
from ..config import Settings
from ..engines import Engine, resolve_model
from ..errors import ImageTooLargeError, ModelNotFoundError
from . import protocol
from .files import FileStore

__all__ = ["VariationService"]


class VariationService:
    """Holds the loaded engine and the file store, and serves variation requests.

    Decoding, inference and encoding run in worker threads, so the event loop stays free;
    inference is further bounded by the engine's own concurrency.
    """

    def __init__(self, engine: Engine, store: FileStore, settings: Settings):
        self.engine = engine
        self.store = store
        self.settings = settings
        self.started = int(time.time())
        self._engine_slots = anyio.CapacityLimiter(engine.max_concurrency)

    def check_model(self, model: str | None) -> None:
        if resolve_model(model) != self.engine.model_id:
            raise ModelNotFoundError(f"The model '{model}' is not loaded on this server.")

    async def _read_image(self, upload: UploadFile) -> Image.Image:
        limit = self.settings.max_upload_bytes
        if upload.size is not None and upload.size > limit:
            raise ImageTooLargeError(_too_large(limit))
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLargeError(_too_large(limit))
        return await anyio.to_thread.run_sync(
            partial(imaging.decode, data, max_bytes=limit, max_pixels=self.settings.max_pixels)
        )

    async def create_variation(
        self, request: protocol.CreateImageVariationRequest, *, base_url: str
    ) -> protocol.ImagesResponse:
        self.check_model(request.model)
        picture = await self._read_image(request.image)
        variations = await anyio.to_thread.run_sync(
            partial(
                vary_image,
                self.engine,
                picture,
                n=request.n,
                size=parse_size(request.size),
                seed=draw_seed(),
            ),
            limiter=self._engine_slots,
        )
        base = self.settings.public_url or base_url.rstrip("/")
        data = await anyio.to_thread.run_sync(
            partial(self._publish, variations, request.response_format, base)
        )
        return protocol.ImagesResponse(created=int(time.time()), data=data)

    def _publish(
        self, pictures: list[Image.Image], response_format: str, base: str
    ) -> list[protocol.Image]:
        encoded = [imaging.encode_png(picture) for picture in pictures]
        if response_format == "b64_json":
            return [protocol.Image(b64_json=base64.b64encode(png).decode()) for png in encoded]
        return [
            protocol.Image(url=base + self.store.save(png, "png").path_and_query())
            for png in encoded
        ]


def _too_large(limit: int) -> str:
    return f"Uploaded image must be less than {limit / 1024 / 1024:g} MB."
