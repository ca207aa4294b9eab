"""Turns validated requests into engine calls and engine output into OpenAI responses."""

from __future__ import annotations

import base64
import math
import os
import time
from collections.abc import Callable, Iterator
from functools import partial

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
from fastapi import Request, UploadFile
from PIL import Image

from .. import imaging
from .._pipeline import check_mask, draw_seed, output_size, vary_image
from ..config import Settings
from ..engines import Controls, Engine, Variation, resolve_model
from ..errors import ImageTooLargeError, InvalidImageError, InvalidRequestError, ModelNotFoundError
from . import protocol
from .admission import Admission, key_name
from .errors import ClientDisconnectedError
from .files import FileStore
from .observability import Metrics

__all__ = ["ImageService"]

_DISCONNECT_POLL_SECONDS = 0.25
# What OpenAI's variations endpoint accepted, for --strict-openai.
_OPENAI_MAX_BYTES = 4 * 1024 * 1024


class ImageService:
    """Holds the loaded engine and the file store, and serves image requests.

    Decoding, inference and encoding run in worker threads, so the event loop stays free;
    inference is further bounded by the engine's own concurrency.
    """

    def __init__(
        self,
        engine: Engine,
        store: FileStore,
        settings: Settings,
        *,
        admission: Admission,
        metrics: Metrics,
    ):
        self.engine = engine
        self.store = store
        self.settings = settings
        self.admission = admission
        self.metrics = metrics
        self.started = int(time.time())
        self._engine_slots = anyio.CapacityLimiter(engine.max_concurrency)
        # Decoded pictures are the big allocations; at most this many are decoded at once.
        self._decode_slots = anyio.CapacityLimiter(os.cpu_count() or 1)

    def check_model(self, model: str | None) -> None:
        if resolve_model(model) != self.engine.model_id:
            raise ModelNotFoundError(f"The model '{model}' is not loaded on this server.")

    async def _read(self, upload: UploadFile | str, param: str) -> Image.Image:
        """Decode an uploaded file, or a picture sent as base64 text (a data URL or bare)."""
        limit = self.settings.max_upload_bytes
        if isinstance(upload, str):
            data = _from_base64(upload, param)
        elif upload.size is not None and upload.size > limit:
            raise ImageTooLargeError(_too_large(limit), param=param)
        else:
            data = await upload.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLargeError(_too_large(limit), param=param)
        strict = self.settings.strict_openai and param == "image"
        if strict and (len(data) >= _OPENAI_MAX_BYTES or imaging.sniff_format(data) != "PNG"):
            raise InvalidImageError("Uploaded image must be a PNG and less than 4 MB.")
        decode = partial(imaging.decode, data, max_bytes=limit, max_pixels=self.settings.max_pixels)
        try:
            picture: Image.Image = await anyio.to_thread.run_sync(
                decode, limiter=self._decode_slots
            )
        except InvalidImageError as exc:
            exc.param = param
            raise
        if strict and picture.width != picture.height:
            raise InvalidImageError(
                "Invalid input image - expected an image with equal width and height, "
                f"got {picture.width}x{picture.height} instead."
            )
        return picture

    def _size(self, size: str, picture: Image.Image) -> tuple[int, int]:
        if self.settings.strict_openai and size not in protocol.OPENAI_SIZES:
            allowed = ", ".join(repr(s) for s in protocol.OPENAI_SIZES)
            raise InvalidRequestError(f"{size!r} is not one of [{allowed}] - 'size'", param="size")
        try:
            return output_size(size, picture.size)
        except ValueError as exc:
            raise InvalidRequestError(
                f"Invalid size {size!r}: {exc}. Use one of {', '.join(protocol.OPENAI_SIZES)}, "
                "any WxH, or 'auto'.",
                param="size",
            ) from None

    async def create_variation(
        self, request: protocol.CreateImageVariationRequest, raw_request: Request
    ) -> protocol.ImagesResponse:
        self.check_model(request.model)
        picture = await self._read(request.image, "image")
        return await self._respond(picture, request, request.prompt, None, raw_request)

    async def create_edit(
        self, request: protocol.CreateImageEditRequest, raw_request: Request
    ) -> protocol.ImagesResponse:
        self.check_model(request.model)
        uploads = (request.image or []) + (request.image_list or [])
        if not uploads:
            raise InvalidRequestError("'image' is a required property", param="image")
        if len(uploads) > 1:
            raise InvalidRequestError(
                f"vary edits one image at a time; got {len(uploads)}.", param="image"
            )
        picture = await self._read(uploads[0], "image")
        mask = await self._read(request.mask, "mask") if request.mask is not None else None
        if mask is not None:
            check_mask(mask, picture)
        return await self._respond(picture, request, request.prompt, mask, raw_request)

    async def _respond(
        self,
        picture: Image.Image,
        request: protocol.ImageRequest,
        prompt: str | None,
        mask: Image.Image | None,
        raw_request: Request,
    ) -> protocol.ImagesResponse:
        size = self._size(request.size, picture)
        self.admission.take_images(key_name(raw_request.scope), request.n)
        style_image = None
        if request.style_image is not None:
            style_image = (await self._read(request.style_image, "style_image")).convert("RGB")
        controls = Controls(
            strength=request.strength,
            style=request.style,
            prompt=prompt,
            style_image=style_image,
        )
        make = partial(
            vary_image,
            self.engine,
            picture,
            n=request.n,
            size=size,
            seed=draw_seed() if request.seed is None else request.seed,
            controls=controls,
            fit=request.fit,
            preserve_color=request.preserve_color,
            mask=mask,
        )
        publish = partial(
            self._publish,
            response_format=request.response_format,
            output_format=request.output_format,
            compression=request.output_compression,
            base=self.settings.public_url or str(raw_request.base_url).rstrip("/"),
        )
        data = await self._make_and_publish(make, publish, raw_request)
        return protocol.ImagesResponse(
            created=int(time.time()),  # once the pictures exist, as OpenAI stamps them
            data=data,
            size=f"{size[0]}x{size[1]}",
            output_format=request.output_format,
        )

    async def _make_and_publish(
        self,
        make: Callable[[], Iterator[Variation]],
        publish: Callable[[Variation], protocol.Image],
        raw_request: Request,
    ) -> list[protocol.Image]:
        """Run ``make`` in the engine's slot, unless the client goes away first, and
        ``publish`` each variation in another worker thread as soon as it is made, so that
        encoding and base64 overlap the engine's work on the next one."""
        published: dict[int, protocol.Image] = {}
        engine_done = anyio.Event()
        send, receive = anyio.create_memory_object_stream[Variation](max_buffer_size=math.inf)

        def produce() -> None:
            with send:
                for variation in make():
                    try:
                        anyio.from_thread.run_sync(send.send_nowait, variation)
                    except anyio.BrokenResourceError:
                        return  # the client went away and publishing stopped

        async def publish_one(index: int, variation: Variation) -> None:
            published[index] = await anyio.to_thread.run_sync(publish, variation)

        async def publish_each(tasks: anyio.abc.TaskGroup) -> None:
            async with receive:
                index = 0
                async for variation in receive:
                    tasks.start_soon(publish_one, index, variation)
                    index += 1

        async def watch(scope: anyio.CancelScope) -> None:
            # Once the engine is done, going away saves nothing.
            while not await raw_request.is_disconnected():
                with anyio.move_on_after(_DISCONNECT_POLL_SECONDS):
                    await engine_done.wait()
                    return
            scope.cancel()

        started = time.perf_counter()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch, tasks.cancel_scope)
                tasks.start_soon(publish_each, tasks)
                # In a worker thread the work runs to its end; cancelling drops only queued work.
                await anyio.to_thread.run_sync(produce, limiter=self._engine_slots)
                self.metrics.engine_seconds.observe(time.perf_counter() - started)
                engine_done.set()
        except ExceptionGroup as group:
            # The task group wraps the engine's own error (a bad style, say): pass it on as is.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise
        if tasks.cancel_scope.cancelled_caught:
            raise ClientDisconnectedError("The client went away before its pictures were made.")
        self.metrics.images.inc(len(published))
        return [published[index] for index in range(len(published))]

    def _publish(
        self,
        variation: Variation,
        *,
        response_format: str,
        output_format: imaging.OutputFormat,
        compression: int | None,
        base: str,
    ) -> protocol.Image:
        data = imaging.encode(variation.image, output_format, compression)
        if response_format == "b64_json":
            where = {"b64_json": base64.b64encode(data).decode()}
        else:
            where = {"url": base + self.store.save(data, output_format).path_and_query()}
        return protocol.Image(**where, revised_prompt=variation.recipe, seed=variation.seed)


def _from_base64(text: str, param: str) -> bytes:
    # A text field lets the official clients send a second picture through extra_body.
    payload = text.partition(",")[2] if text.startswith("data:") else text
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        raise InvalidImageError(
            f"'{param}' must be an image file, or an image as base64 text or a data: URL.",
            param=param,
        ) from None


def _too_large(limit: int) -> str:
    return f"Uploaded image must be less than {limit / 1024 / 1024:g} MB."
