"""Request and response models, named and shaped exactly as OpenAI's image API names them.

OpenAI's fields keep OpenAI's meaning. vary's own fields (seed, strength, style, ...) are extra
form fields, which the official clients send with ``extra_body={...}``.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .. import imaging
from .._pipeline import MAX_SEED

__all__ = [
    "OPENAI_SIZES",
    "CreateImageEditRequest",
    "CreateImageVariationRequest",
    "ErrorInfo",
    "ErrorResponse",
    "HealthResponse",
    "Image",
    "ImageRequest",
    "ImagesResponse",
    "Model",
    "ModelList",
    "ResponseFormat",
    "Style",
    "StyleList",
]

ResponseFormat = Literal["url", "b64_json"]
OPENAI_SIZES = ("256x256", "512x512", "1024x1024")

_SIZE_HELP = (
    "Output width x height: OpenAI's `256x256`, `512x512`, `1024x1024`, or any `WxH` with "
    "sides from 64 to 2048, or `auto` (the input's aspect ratio, longest side 1024)."
)


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        # The official clients send a None value as an empty string.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


# Control characters: C0, DEL and C1. Ids (`model`, `user`) must not contain them.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_PRINTABLE = f"^[^{_CONTROL}]*$"  # the same rule, as the OpenAPI document states it


class ImageRequest(_Form):
    """The fields variations and edits share: OpenAI's, then vary's extensions."""

    model: str | None = Field(
        default=None,
        max_length=256,
        json_schema_extra={"pattern": _PRINTABLE},
        description="An id from GET /v1/models; `dall-e-2` means the default.",
    )
    n: int = Field(default=1, ge=1, le=10, description="How many pictures to make.")
    size: str = Field(default="1024x1024", description=_SIZE_HELP)
    response_format: ResponseFormat = Field(
        default="url", description="`url` (signed, expiring) or `b64_json`."
    )
    # OpenAI publishes no limit for `user`. 256 characters hold any id, e-mail address or hash a
    # caller would send.
    user: str | None = Field(
        default=None,
        max_length=256,
        json_schema_extra={"pattern": _PRINTABLE},
        description="Your end-user's id; accepted, unused.",
    )

    @field_validator("model", "user")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        # An id never needs them; echoed into an error message or a log line, they could forge
        # lines or drive a terminal.
        found = re.search(f"[{_CONTROL}]", value) if value is not None else None
        if found:
            raise PydanticCustomError(
                "control_character",
                "it must not contain control characters, and it contains {character}",
                {"character": repr(found.group())},
            )
        return value

    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Seed of the first picture; picture i uses seed + i. Default: random, "
        "and returned with each picture.",
    )
    strength: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="0 gives the input back, 1 the full look. Default 0.85.",
    )
    style: str | None = Field(
        default=None,
        max_length=1000,
        description="A style from GET /v1/styles, or a blend such as `ink wash:0.6,woodcut:0.4`."
        " Default: a different mix of the default pool for each picture.",
    )
    style_image: UploadFile | str | None = Field(
        default=None,
        description="A picture whose look the outputs take: a file, or base64 text or a data: "
        "URL (which the official clients can send with extra_body).",
    )
    preserve_color: bool = Field(
        default=False, description="Keep the input's colours under the new look."
    )
    fit: imaging.Fit = Field(
        default="cover",
        description="How the input meets another aspect ratio: `cover` crops (default), "
        "`contain` pads with transparency, `stretch` distorts.",
    )
    output_format: imaging.OutputFormat = Field(
        default="png", description="`png` (default), `jpeg` or `webp`."
    )
    output_compression: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="0-100: zlib effort for PNG; for JPEG and WebP, 100 minus the quality "
        "(default quality 90).",
    )


class CreateImageVariationRequest(ImageRequest):
    """The multipart form of ``POST /v1/images/variations``."""

    image: UploadFile = Field(
        description="The picture to vary: PNG, JPEG, WebP, GIF, BMP or TIFF, any shape."
    )
    prompt: str | None = Field(
        default=None,
        max_length=32000,
        description="Optional words that pick the styles, e.g. `blue ink sketch`.",
    )


class CreateImageEditRequest(ImageRequest):
    """The multipart form of ``POST /v1/images/edits``."""

    image: list[UploadFile] | None = Field(
        default=None, description="The picture to edit (the official client sends `image[]`)."
    )
    image_list: list[UploadFile] | None = Field(
        default=None, alias="image[]", description="The picture to edit, as a list of one."
    )
    mask: UploadFile | None = Field(
        default=None,
        description="A PNG the size of the image: its fully transparent pixels mark where the "
        "image may change. Default: the whole image.",
    )
    prompt: str = Field(max_length=32000, description="Words that pick the styles.")


class Image(BaseModel):
    """One picture of a response: a URL or base64-encoded bytes, and how it was made."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = Field(
        default=None, description="The recipe: styles and their shares, strength."
    )
    seed: int | None = Field(default=None, description="Makes this picture again, with n=1.")


class ImagesResponse(BaseModel):
    created: int = Field(description="Unix time, in seconds, when the images were made.")
    data: list[Image]
    size: str | None = None
    output_format: imaging.OutputFormat | None = None

    def to_json(self) -> bytes:
        """The response as JSON, without the fields that are None: the encoder's own bytes.

        Base64 text needs no escaping in JSON, so each picture is spliced in as it is rather
        than run through the encoder: about 25 ms instead of 50-90 for ten 1024x1024 pictures,
        with the GIL held for less of it. A picture that is not base64 text takes the
        encoder's way.
        """
        pictures = [item.b64_json for item in self.data if item.b64_json is not None]
        texts = [picture.encode("ascii") for picture in pictures if picture.isascii()]
        if len(texts) < len(pictures) or any(text.translate(None, _BASE64) for text in texts):
            return self.model_dump_json(exclude_none=True).encode()
        stand_in = self.model_copy(
            update={
                "data": [
                    item if item.b64_json is None else item.model_copy(update={"b64_json": ""})
                    for item in self.data
                ]
            }
        )
        # Only a picture's own key can read "b64_json":"" here: quotes inside strings are
        # escaped.
        pieces = stand_in.model_dump_json(exclude_none=True).encode().split(_NO_PICTURE)
        spliced = [pieces[0]]
        for text, piece in zip(texts, pieces[1:], strict=True):
            spliced += [b'"b64_json":"', text, b'"', piece]
        return b"".join(spliced)


_BASE64 = (string.ascii_letters + string.digits + "+/=").encode()
_NO_PICTURE = b'"b64_json":""'


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


class Style(BaseModel):
    id: int
    name: str
    description: str
    default: bool = Field(description="Whether default variations draw from it.")


class StyleList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Style]


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
