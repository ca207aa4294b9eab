"""Exceptions raised by vary.

Every error vary raises on purpose derives from :class:`VaryError`::

    VaryError
    ├── InvalidRequestError       the caller asked for something invalid (HTTP 400)
    │   ├── InvalidImageError     the image is not one vary can read
    │   └── ImageTooLargeError    the upload or the picture is over a limit (HTTP 413)
    ├── ModelNotFoundError        no engine serves that model id (HTTP 404)
    ├── AuthenticationError       missing or wrong API key (HTTP 401)
    ├── InvalidSignatureError     an image URL this server did not issue, or altered (HTTP 403)
    ├── ExpiredURLError           an image URL whose time is up (HTTP 410)
    ├── RateLimitError            over a key's rate or the queue; has ``retry_after`` (HTTP 429)
    └── EngineError               an engine failed to load or to run (HTTP 500)

Each carries ``param`` (the request field at fault, or ``None``) and ``code`` (a short
machine-readable string), the two fields of OpenAI's error envelope. This module knows no HTTP:
``vary.api`` maps the classes to status codes.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "EngineError",
    "ExpiredURLError",
    "ImageTooLargeError",
    "InvalidImageError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "ModelNotFoundError",
    "RateLimitError",
    "VaryError",
]


class VaryError(Exception):
    """Base class of every error vary raises on purpose."""

    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequestError(VaryError):
    """The request is invalid: a field is missing, malformed or out of range."""


class InvalidImageError(InvalidRequestError):
    """The image does not decode, or is in a format vary does not accept."""

    default_code = "invalid_image"

    def __init__(self, message: str, *, param: str | None = "image", code: str | None = None):
        super().__init__(message, param=param, code=code)


class ImageTooLargeError(InvalidImageError):
    """The upload is over the byte limit, or the picture over the pixel limit."""

    default_code = "image_too_large"


class ModelNotFoundError(VaryError):
    """No engine serves the requested model id."""

    default_code = "model_not_found"

    def __init__(self, message: str, *, param: str | None = "model", code: str | None = None):
        super().__init__(message, param=param, code=code)


class AuthenticationError(VaryError):
    """The API key is missing or not one the server accepts."""

    default_code = "invalid_api_key"


class InvalidSignatureError(VaryError):
    """An image URL that this server did not issue, or that was altered."""

    default_code = "invalid_signature"


class ExpiredURLError(VaryError):
    """An image URL that this server issued, but whose time is up."""

    default_code = "url_expired"


class RateLimitError(VaryError):
    """Over a key's rate, or the server's queue is full: retry after ``retry_after`` seconds."""

    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class EngineError(VaryError):
    """An engine could not be loaded, or failed while running."""

    default_code = "engine_error"
