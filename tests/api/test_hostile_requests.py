"""Malformed and hostile requests: each gets a 4xx in OpenAI's envelope, and the server goes on
serving the next, normal request."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes

VARIATIONS = "/v1/images/variations"
PNG = png_bytes(Image.new("RGB", (8, 8), "red"))
BOUNDARY = "vary-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def envelope(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    return dict(body["error"])


def upload(**fields: str | list[str]) -> dict[str, Any]:
    """The keyword arguments of a variation request for a small PNG, with ``fields``."""
    return {
        "files": {"image": ("photo.png", PNG, "image/png")},
        "data": {"size": "64x64", **fields},
    }


def assert_still_serving(client: TestClient) -> None:
    response = client.post(VARIATIONS, **upload())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": "abc"}, "n"),
        ({"n": "1.5"}, "n"),
        ({"n": "-3"}, "n"),
        ({"n": "1e3"}, "n"),
        ({"n": "\u0663"}, "n"),  # ARABIC-INDIC DIGIT THREE: int() would read it as 3
        ({"size": "99999999999x1"}, "size"),
        ({"size": "1x"}, "size"),
        ({"size": "x"}, "size"),
        ({"size": "9" * 10_240}, "size"),
        pytest.param(
            {"size": "\u0662\u0665\u0666x\u0662\u0665\u0666"},  # 256x256 in Arabic-Indic digits
            "size",
        ),
        ({"response_format": "jpeg"}, "response_format"),
        ({"model": "m" * 5_000}, "model"),
        ({"user": "\x00"}, "user"),
        ({"user": "\x1b[31m"}, "user"),
        ({"user": "alice\r\nX-Injected: 1"}, "user"),
        ({"user": "u" * 10_240}, "user"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else value,
)
def test_bad_field_values_are_400_on_the_field(client, fake_engine, fields, param):
    response = client.post(VARIATIONS, **upload(**fields))
    assert response.status_code == 400
    assert envelope(response)["param"] == param
    assert fake_engine.calls == []
    assert_still_serving(client)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "model",
            "m" * 5_000,
            "Invalid 'model': string too long. Expected a string with maximum length 256, "
            "but got a string with length 5000 instead.",
        ),
        (
            "user",
            "u" * 257,
            "Invalid 'user': string too long. Expected a string with maximum length 256, "
            "but got a string with length 257 instead.",
        ),
        (
            "user",
            "\x1b[31mred",
            "Invalid 'user': it must not contain control characters, and it contains '\\x1b'.",
        ),
        (
            "model",
            "dall-e-2\n",
            "Invalid 'model': it must not contain control characters, and it contains '\\n'.",
        ),
    ],
)
def test_limits_on_ids_say_what_is_wrong_without_echoing_the_value(client, field, value, message):
    response = client.post(VARIATIONS, **upload(**{field: value}))
    assert response.status_code == 400
    error = envelope(response)
    assert (error["message"], error["param"], error["code"]) == (message, field, None)


def test_a_user_at_the_limit_is_accepted(client):
    response = client.post(VARIATIONS, **upload(user="u" * 256, model="dall-e-2"))
    assert response.status_code == 200, response.text


def _raw_multipart(*parts: tuple[str, str | None, bytes], closed: bool = True) -> bytes:
    """A multipart body written by hand: (name, filename or None, content) per part."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


MALFORMED: dict[str, dict[str, Any]] = {
    "json instead of multipart": {"json": {"image": "photo.png", "n": 1}},
    "image as a text field": {"data": {"image": PNG.decode("latin-1")}},
    "no boundary": {
        "content": _raw_multipart(("image", "photo.png", PNG)),
        "headers": {"content-type": "multipart/form-data"},
    },
    "not multipart at all": {"content": bytes(100), "headers": MULTIPART},
    "a part without a name": {
        "content": _raw_multipart(("", "photo.png", PNG)).replace(b' name=""', b""),
        "headers": MULTIPART,
    },
    # With `size`, 1001 text fields: one over Starlette's limit.
    "1000 unknown text fields": upload(**{f"field{i}": "x" for i in range(1_000)}),
    "1001 files": {
        "files": [("image", ("photo.png", PNG, "image/png"))]
        + [(f"file{i}", (f"{i}.bin", b"x", "application/octet-stream")) for i in range(1_000)]
    },
    "a 2 MB text field": upload(prompt="p" * (2 * 1024 * 1024)),
}


@pytest.mark.parametrize("request_kwargs", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_are_400(client, fake_engine, request_kwargs):
    response = client.post(VARIATIONS, **request_kwargs)
    assert response.status_code == 400, response.text
    assert envelope(response)["message"]
    assert fake_engine.calls == []
    assert_still_serving(client)


# Starlette accepts a body that ends before its closing boundary as if it had ended there, and
# never closes the file it began spooling for the cut part (python-multipart's finalize() does
# not check the parser's state; see Kludex/starlette#3153): the file is closed when collected,
# with a ResourceWarning.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
def test_a_body_cut_before_its_closing_boundary_is_400(client, fake_engine):
    body = _raw_multipart(("size", None, b"64x64"), ("image", "photo.png", PNG), closed=False)
    cut = body[: body.rindex(b"\r\n")]  # inside the image part
    response = client.post(VARIATIONS, content=cut, headers=MULTIPART)
    assert response.status_code == 400
    assert envelope(response)["param"] == "image"
    assert fake_engine.calls == []
    assert_still_serving(client)


# Decided: these are valid requests, so they succeed, and nothing comes of the oddity.
def test_an_empty_size_means_the_default_as_for_every_field(client, fake_engine):
    # The official clients send a None value as an empty string.
    response = client.post(
        VARIATIONS, files={"image": ("photo.png", PNG, "image/png")}, data={"size": ""}
    )
    assert response.status_code == 200
    assert response.json()["size"] == "1024x1024"


def test_a_repeated_field_takes_its_last_value(client, fake_engine):
    # As HTML forms and Starlette read them; OpenAI documents nothing for repeats.
    response = client.post(VARIATIONS, **upload(n=["2", "3"]))
    assert response.status_code == 200
    assert len(response.json()["data"]) == 3


def test_unknown_fields_are_ignored_up_to_starlettes_limit_of_1000(client):
    # OpenAI's clients may send fields vary does not know; with `size`, 1000 text fields.
    response = client.post(VARIATIONS, **upload(**{f"field{i}": "x" for i in range(999)}))
    assert response.status_code == 200


def test_the_upload_file_name_is_never_used(client, settings, tmp_path):
    # The format comes from the bytes and the stored name is random, so a path in the name is
    # harmless: the request succeeds.
    name = "../../../../../../../../etc/passwd"
    response = client.post(
        VARIATIONS, files={"image": (name, PNG, "image/png")}, data={"size": "64x64"}
    )
    assert response.status_code == 200
    (item,) = response.json()["data"]
    token = urlsplit(item["url"]).path.removeprefix("/images/")
    (stored,) = (settings.data_dir / "images").iterdir()
    assert stored.name.endswith(f"_{token}")
    assert "passwd" not in token
    assert list(tmp_path.rglob("passwd")) == []
