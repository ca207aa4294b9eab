"""Every failure answers in OpenAI's error envelope, with OpenAI's wording where it is known."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes
from vary.api import create_app


def envelope(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def post(client: TestClient, image: bytes | None = b"", **fields: str):
    files = {"image": ("upload", image, "application/octet-stream")} if image is not None else None
    return client.post("/v1/images/variations", files=files, data=fields)


@pytest.mark.parametrize(
    ("fields", "message", "param"),
    [
        ({"n": "15"}, "15 is greater than the maximum of 10 - 'n'", "n"),
        ({"n": "0"}, "0 is less than the minimum of 1 - 'n'", "n"),
        ({"n": "-3"}, "-3 is less than the minimum of 1 - 'n'", "n"),
        ({"n": "abc"}, "'abc' is not of type 'integer' - 'n'", "n"),
        ({"n": "1.5"}, "'1.5' is not of type 'integer' - 'n'", "n"),
        (
            {"response_format": "gif"},
            "'gif' is not one of ['url', 'b64_json'] - 'response_format'",
            "response_format",
        ),
    ],
)
def test_field_errors_use_openai_wording(client, gradient, fields, message, param):
    response = post(client, png_bytes(gradient), **fields)
    assert response.status_code == 400
    assert envelope(response) == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": None,
    }


def test_missing_image(client):
    response = post(client, None, n="1")
    assert response.status_code == 400
    error = envelope(response)
    assert (error["message"], error["param"]) == ("'image' is a required property", "image")


def test_image_sent_as_text_field(client):
    response = client.post("/v1/images/variations", data={"image": "not a file"})
    assert response.status_code == 400
    assert envelope(response)["param"] == "image"


def test_json_body_instead_of_multipart(client):
    response = client.post("/v1/images/variations", json={"n": 1})
    assert response.status_code == 400
    assert envelope(response)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\x89PNG\r\n\x1a\n"],
)
def test_undecodable_images_are_400_on_image(client, data):
    response = post(client, data)
    assert response.status_code == 400
    error = envelope(response)
    assert (error["param"], error["code"]) == ("image", "invalid_image")


def test_unknown_model_is_404_model_not_found(client, gradient):
    response = post(client, png_bytes(gradient), model="dall-e-9")
    assert response.status_code == 404
    error = envelope(response)
    assert (error["param"], error["code"]) == ("model", "model_not_found")
    assert "dall-e-9" in error["message"]


def test_upload_over_the_byte_limit_is_413(settings, fake_engine, gradient):
    app = create_app(replace(settings, max_upload_bytes=1000), engine=fake_engine)
    with TestClient(app) as client:
        response = post(client, png_bytes(gradient) + b"\0" * 2000)
    assert response.status_code == 413
    error = envelope(response)
    assert (error["param"], error["code"]) == ("image", "image_too_large")
    assert fake_engine.calls == []


def _huge_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def test_picture_over_the_pixel_limit_is_refused_before_decoding(client, fake_engine):
    response = post(client, _huge_png(30000, 30000))
    assert response.status_code == 413
    assert envelope(response)["code"] == "image_too_large"
    assert fake_engine.calls == []


def test_unknown_route_is_404_in_the_envelope(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert envelope(response)["type"] == "invalid_request_error"


def test_wrong_method_is_405_in_the_envelope(client):
    response = client.get("/v1/images/variations")
    assert response.status_code == 405
    envelope(response)


@pytest.mark.parametrize("size", ["big", "4096x4096", "63x64", "1024x", "auto2"])
def test_sizes_outside_the_range_are_400_on_size(client, gradient, size):
    response = post(client, png_bytes(gradient), size=size)
    assert response.status_code == 400
    error = envelope(response)
    assert error["param"] == "size"
    assert repr(size) in error["message"]


@pytest.fixture
def strict_client(settings, fake_engine):
    app = create_app(replace(settings, strict_openai=True), engine=fake_engine)
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("size", ["1024x1536", "auto", "300x300"])
def test_strict_openai_accepts_only_openai_sizes(strict_client, size):
    square = png_bytes(Image.new("RGB", (64, 64), "red"))
    response = post(strict_client, square, size=size)
    assert response.status_code == 400
    assert envelope(response) == {
        "message": f"'{size}' is not one of ['256x256', '512x512', '1024x1024'] - 'size'",
        "type": "invalid_request_error",
        "param": "size",
        "code": None,
    }


def test_strict_openai_wants_a_square_png_under_4_mb(strict_client):
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(jpeg, format="JPEG")
    response = post(strict_client, jpeg.getvalue(), size="256x256")
    assert response.status_code == 400
    assert envelope(response)["message"] == "Uploaded image must be a PNG and less than 4 MB."
    response = post(strict_client, png_bytes(Image.new("RGB", (1024, 768))), size="256x256")
    assert response.status_code == 400
    assert envelope(response)["message"] == (
        "Invalid input image - expected an image with equal width and height, got 1024x768 instead."
    )
    square = png_bytes(Image.new("RGB", (64, 64), "red"))
    assert post(strict_client, square, size="256x256", seed="3").status_code == 200


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"seed": "-1"}, "seed"),
        ({"seed": "x"}, "seed"),
        ({"strength": "1.5"}, "strength"),
        ({"strength": "strong"}, "strength"),
        ({"fit": "zoom"}, "fit"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_compression": "101"}, "output_compression"),
        ({"preserve_color": "maybe"}, "preserve_color"),
    ],
)
def test_extension_fields_are_validated(client, gradient, fields, param):
    response = post(client, png_bytes(gradient), size="256x256", **fields)
    assert response.status_code == 400
    assert envelope(response)["param"] == param
