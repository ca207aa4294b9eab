"""Every error the server returns, in OpenAI's envelope.

``{"error": {"message", "type", "param", "code"}}``, with OpenAI's wording where it is known.
Request validation failures are 400s, never FastAPI's default 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    AuthenticationError,
    EngineError,
    ExpiredURLError,
    ImageTooLargeError,
    InvalidSignatureError,
    ModelNotFoundError,
    RateLimitError,
    VaryError,
)
from .protocol import ErrorInfo, ErrorResponse

__all__ = [
    "ClientDisconnectedError",
    "error_response",
    "install_error_handlers",
    "validation_message",
    "vary_error_response",
]


class ClientDisconnectedError(VaryError):
    """The client went away before its request ran; nobody reads this answer."""

    default_code = "client_disconnected"


# Most specific class first: the first match decides the status.
_STATUS: tuple[tuple[type[VaryError], int, str], ...] = (
    (ImageTooLargeError, 413, "invalid_request_error"),
    (AuthenticationError, 401, "invalid_request_error"),
    (InvalidSignatureError, 403, "invalid_request_error"),
    (ModelNotFoundError, 404, "invalid_request_error"),
    (ExpiredURLError, 410, "invalid_request_error"),
    (RateLimitError, 429, "requests"),
    # nginx's "client closed request": for logs and metrics only.
    (ClientDisconnectedError, 499, "invalid_request_error"),
    (EngineError, 500, "server_error"),
    (VaryError, 400, "invalid_request_error"),
)


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build the one error envelope every failure uses."""
    body = ErrorResponse(error=ErrorInfo(message=message, type=type, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def vary_error_response(exc: VaryError) -> JSONResponse:
    """The response for one of vary's own errors: status by class, ``Retry-After`` if due."""
    status, kind = next((s, k) for cls, s, k in _STATUS if isinstance(exc, cls))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitError) else None
    return error_response(
        status, exc.message, type=kind, param=exc.param, code=exc.code, headers=headers
    )


def _as_number(value: Any) -> str:
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return repr(value)


def validation_message(error: dict[str, Any]) -> tuple[str, str | None]:
    """Turn one pydantic error into OpenAI's wording and the field it is about."""
    loc: Sequence[Any] = error.get("loc", ())
    # An item of a list field is located by its index, ("body", "image", 0): name the list.
    names = [str(part) for part in loc[1:] if not isinstance(part, int)]
    field = names[-1] if names else None
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if field is None:
        return "The request body must be multipart/form-data with an 'image' file.", None
    # A form value is text or an upload: anything else here is an upload.
    sent_a_file = value is not None and not isinstance(value, str | int | float)
    if kind == "missing":
        message = f"'{field}' is a required property"
    elif sent_a_file:
        message = f"'{field}' must be a text field, not a file upload"
    elif "UploadFile" in str(error.get("msg")) or field == "image":
        message = f"'{field}' must be a file upload, not a text field"
    elif kind == "less_than_equal":
        message = f"{_as_number(value)} is greater than the maximum of {ctx['le']} - '{field}'"
    elif kind == "greater_than_equal":
        message = f"{_as_number(value)} is less than the minimum of {ctx['ge']} - '{field}'"
    elif kind in {"literal_error", "enum"}:
        allowed = ctx.get("expected", "").replace(" or ", ", ")
        message = f"{value!r} is not one of [{allowed}] - '{field}'"
    elif kind.startswith("int_"):
        message = f"{value!r} is not of type 'integer' - '{field}'"
    elif kind == "string_too_long":  # OpenAI's wording; the value is not echoed back
        message = (
            f"Invalid '{field}': string too long. Expected a string with maximum length "
            f"{ctx['max_length']}, but got a string with length {len(str(value))} instead."
        )
    elif kind == "control_character":  # ImageRequest's ids
        message = f"Invalid '{field}': {error['msg']}."
    else:
        message = f"Invalid value for '{field}': {error.get('msg', 'invalid')}"
    return message, field


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, leave the server in OpenAI's shape."""

    @app.exception_handler(VaryError)
    async def vary_error(request: Request, exc: VaryError) -> JSONResponse:
        return vary_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(exc.errors()[0])
        return error_response(400, message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(exc.status_code, str(exc.detail), type=kind, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(
            500, "The server had an error while processing your request.", type="server_error"
        )
