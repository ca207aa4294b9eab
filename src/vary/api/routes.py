"""The HTTP routes. Thin: each one validates, hands over to the serving layer and returns."""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..engines._styles import STYLES
from .errors import error_response
from .protocol import (
    CreateImageEditRequest,
    CreateImageVariationRequest,
    ErrorResponse,
    HealthResponse,
    ImagesResponse,
    Model,
    ModelList,
    Style,
    StyleList,
)
from .serving import ImageService

__all__ = ["router"]

router = APIRouter()

_MULTIPART = Form(media_type="multipart/form-data")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request",
        401: "Missing or wrong API key",
        404: "Unknown model",
        413: "Image over the size limits",
    }.items()
}
_IMAGES: dict[str, Any] = {
    "response_model": ImagesResponse,
    "response_model_exclude_none": True,
    "responses": _ERRORS,
}


def _service(request: Request) -> ImageService:
    service: ImageService = request.app.state.service
    return service


async def _images_json(answer: ImagesResponse) -> Response:
    """``answer`` as JSON, rendered in a worker thread: with ``b64_json`` it holds megabytes."""
    return Response(await anyio.to_thread.run_sync(answer.to_json), media_type="application/json")


@router.post("/v1/images/variations", summary="Create image variations", **_IMAGES)
async def create_image_variation(
    request: Request, form: Annotated[CreateImageVariationRequest, _MULTIPART]
) -> Response:
    return await _images_json(await _service(request).create_variation(form, request))


@router.post("/v1/images/edits", summary="Edit an image, within a mask", **_IMAGES)
async def create_image_edit(
    request: Request, form: Annotated[CreateImageEditRequest, _MULTIPART]
) -> Response:
    return await _images_json(await _service(request).create_edit(form, request))


@router.post(
    "/v1/images/generations",
    summary="Text-to-image: not served by the loaded engine",
    responses={400: {"model": ErrorResponse}},
)
async def create_image(request: Request) -> JSONResponse:
    model = _service(request).engine.model_id
    return error_response(
        400,
        f"The loaded engine '{model}' makes images from a picture, not from text alone: use "
        "POST /v1/images/variations or /v1/images/edits. Text-to-image needs a text-to-image "
        "engine (the 'diffusion' extra), and none is loaded on this server.",
        code="unsupported_endpoint",
    )


@router.get("/v1/models", response_model=ModelList, summary="List the models served")
async def list_models(request: Request) -> ModelList:
    service = _service(request)
    return ModelList(data=[Model(id=service.engine.model_id, created=service.started)])


@router.get("/v1/styles", response_model=StyleList, summary="List the named styles")
async def list_styles() -> StyleList:
    return StyleList(
        data=[
            Style(id=s.id, name=s.name, description=s.description, default=s.in_default_pool)
            for s in STYLES
        ]
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def index() -> RedirectResponse:
    return RedirectResponse("/docs")


@router.get("/health", response_model=HealthResponse, summary="Ready to serve")
async def health(request: Request) -> HealthResponse:
    return HealthResponse(model=_service(request).engine.model_id)


@router.get(
    "/images/{name}",
    response_class=FileResponse,
    responses={403: {"model": ErrorResponse}, 410: {"model": ErrorResponse}},
    summary="A generated image, through the signed URL a response gave",
)
async def get_image(
    request: Request,
    name: str,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> FileResponse:
    path, media_type = _service(request).store.open(name, expires, signature)
    max_age = max(0, expires - int(time.time()))
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": f"private, max-age={max_age}"}
    )


# Link checkers and `curl -I` ask with HEAD; FileResponse answers it without the body.
router.add_api_route("/images/{name}", get_image, methods=["HEAD"], include_in_schema=False)
