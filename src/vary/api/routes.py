"""The HTTP routes. Thin: each one validates, hands over to the serving layer and returns."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from .protocol import (
    CreateImageVariationRequest,
    ErrorResponse,
    HealthResponse,
    ImagesResponse,
    Model,
    ModelList,
)
from .serving import VariationService

__all__ = ["router"]

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request",
        401: "Missing or wrong API key",
        404: "Unknown model",
        413: "Image over the size limits",
    }.items()
}


def _service(request: Request) -> VariationService:
    service: VariationService = request.app.state.service
    return service


@router.post(
    "/v1/images/variations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="Create image variations",
)
async def create_image_variation(
    request: Request,
    form: Annotated[CreateImageVariationRequest, Form(media_type="multipart/form-data")],
) -> ImagesResponse:
    return await _service(request).create_variation(form, base_url=str(request.base_url))


@router.get("/v1/models", response_model=ModelList, summary="List the models served")
async def list_models(request: Request) -> ModelList:
    service = _service(request)
    return ModelList(data=[Model(id=service.engine.model_id, created=service.started)])


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
