"""Request and response models, named and shaped exactly as OpenAI's image API names them."""

from __future__ import annotations

from typing import Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CreateImageVariationRequest",
    "ErrorInfo",
    "ErrorResponse",
    "HealthResponse",
    "Image",
    "ImagesResponse",
    "Model",
    "ModelList",
    "ResponseFormat",
    "VariationSize",
]

VariationSize = Literal["256x256", "512x512", "1024x1024"]
ResponseFormat = Literal["url", "b64_json"]


class CreateImageVariationRequest(BaseModel):
    """The multipart form of ``POST /v1/images/variations``."""

    model_config = ConfigDict(extra="ignore")

    image: UploadFile = Field(
        description="The picture to vary. Any of PNG, JPEG, WebP, GIF, BMP or TIFF, any shape."
    )
    model: str | None = Field(
        default=None, description="An id from GET /v1/models; `dall-e-2` means the default."
    )
    n: int = Field(default=1, ge=1, le=10, description="How many variations to make.")
    size: VariationSize = Field(default="1024x1024", description="Output width x height.")
    response_format: ResponseFormat = Field(
        default="url", description="`url` (signed, expiring) or `b64_json`."
    )
    user: str | None = Field(default=None, description="Your end-user's id; accepted and unused.")


class Image(BaseModel):
    """One picture of a response: a URL or base64-encoded PNG bytes."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int = Field(description="Unix time, in seconds, when the images were made.")
    data: list[Image]


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorInfo


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "vary"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
