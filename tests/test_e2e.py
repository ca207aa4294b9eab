"""End to end: the real ``vary serve`` with the real engine, driven by the official ``openai``
client, exactly as a user's code drives it.

The client marks ``images.create_variation`` deprecated (OpenAI retired the endpoint), so every
call expects that warning. Clients never retry (``max_retries=0``): a 5xx fails at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import Image as ImageItem
from openai.types import ImagesResponse
from PIL import Image, ImageOps

from conftest import PHOTOS, png_bytes
from layout import MIN_SCORE, layout_similarity
from live import LiveServer, live_server

T = TypeVar("T")

API_KEY = "sk-test-e2e-key-0123456789"
WRONG_KEY = "sk-wrong-key-9999"
#: Mean absolute difference (0-255) two variations of one photo must exceed: measured pairs
#: of the real engine differ by about 19, a copy or a near copy by less than 1.
MIN_DIFFERENCE = 5.0
#: A URL's lifetime for the expiry test. A URL is valid for at least ttl - 1 s (expiry is a whole
#: second), so 3 leaves the first fetch two seconds even on a loaded machine.
SHORT_TTL = 3
#: How long to wait for something the server does on a timer (expiry, the sweep).
TIMER_DEADLINE = 30.0


# --- helpers ---------------------------------------------------------------------------------


def create_variation(client: OpenAI, **kwargs: Any) -> ImagesResponse:
    with pytest.warns(DeprecationWarning, match="^deprecated$"):
        return client.images.create_variation(**kwargs)


@contextlib.contextmanager
def openai_client(server: LiveServer, api_key: str = "sk-no-key-needed") -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{server.url}/v1", api_key=api_key, max_retries=0, timeout=120) as client:
        yield client


def seed_of(item: ImageItem) -> int:
    """The seed vary returns with each picture (an extra field to the client's types)."""
    seed = getattr(item, "seed", None)
    assert isinstance(seed, int), item
    return seed


def encode(path: Path, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def get_image(url: str, server: LiveServer) -> httpx.Response:
    """GET an image URL: a PNG, cacheable exactly until the URL expires."""
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    before = int(time.time())
    response = httpx.get(url)
    after = int(time.time())
    assert response.status_code == 200, server.describe()
    assert response.headers["content-type"] == "image/png"
    cache_control = response.headers["cache-control"]
    max_age = re.fullmatch(r"private, max-age=(\d+)", cache_control)
    assert max_age is not None, cache_control
    assert expires - after <= int(max_age[1]) <= expires - before
    return response


def picture(item: ImageItem, server: LiveServer) -> Image.Image:
    """The PNG an item of a response carries, or the one its URL serves."""
    if item.b64_json is not None:
        assert item.url is None
        data = base64.b64decode(item.b64_json, validate=True)
    else:
        assert item.url is not None
        assert item.url.startswith(f"{server.url}/images/"), item.url
        data = get_image(item.url, server).content
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_variations(
    pictures: list[Image.Image], source: Image.Image, side: int, mode: str = "RGB"
) -> None:
    """Each is a ``side`` px square PNG in ``mode`` that keeps the layout of ``source`` cropped
    to the square, and no two are alike."""
    fitted = ImageOps.fit(source, (side, side))
    for image in pictures:
        assert (image.format, image.size, image.mode) == ("PNG", (side, side), mode)
        assert layout_similarity(fitted, image) >= MIN_SCORE
    for a, b in itertools.combinations(pictures, 2):
        difference = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean()
        assert difference > MIN_DIFFERENCE


def wait_for(probe: Callable[[], T | None], what: str, server: LiveServer) -> T:
    """Poll ``probe`` until it returns something, for at most TIMER_DEADLINE seconds."""
    deadline = time.monotonic() + TIMER_DEADLINE
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {TIMER_DEADLINE:g} s\n{server.describe()}")


def envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


# --- the shared server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("data")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[OpenAI]:
    with openai_client(server) as opened:
        yield opened


@pytest.fixture(scope="module")
def tiny_png() -> bytes:
    return png_bytes(Image.new("RGB", (32, 32), (200, 40, 40)))


# --- counts, sizes and formats -----------------------------------------------------------------


# 1024x1024 is the default: test_defaults_are_one_1024_url covers it, once (it is the slow one).
@pytest.mark.parametrize(
    ("n", "size", "response_format"),
    [
        (1, "256x256", "url"),
        (3, "512x512", "b64_json"),
        (3, "256x256", "url"),
        (10, "256x256", "b64_json"),
    ],
)
def test_n_variations_of_the_size(server, client, n, size, response_format):
    photo = PHOTOS / "astronaut.jpg"
    before = int(time.time())
    with photo.open("rb") as image:
        result = create_variation(
            client, image=image, n=n, size=size, response_format=response_format
        )
    assert before <= result.created <= time.time()
    assert len(result.data) == n
    assert result.size == size
    first = seed_of(result.data[0])
    assert [seed_of(item) for item in result.data] == list(range(first, first + n))
    side = int(size.split("x")[0])
    assert_variations([picture(item, server) for item in result.data], Image.open(photo), side)


def test_defaults_are_one_1024_url(server, client):
    photo = PHOTOS / "cat.jpg"
    result = create_variation(client, image=photo.read_bytes())
    (item,) = result.data
    assert item.url is not None
    assert_variations([picture(item, server)], Image.open(photo), 1024)


def test_a_seed_makes_each_picture_again(server, client):
    image = (PHOTOS / "astronaut.jpg").read_bytes()
    fields = {"image": image, "size": "256x256", "response_format": "b64_json"}
    batch = create_variation(client, n=3, extra_body={"seed": 7}, **fields)
    assert [seed_of(item) for item in batch.data] == [7, 8, 9]
    # Picture i of a request with seed s is the only picture of a request with seed s + i.
    (alone,) = create_variation(client, extra_body={"seed": 8}, **fields).data
    assert seed_of(alone) == 8
    assert alone.b64_json == batch.data[1].b64_json


# --- every way to pass the image ---------------------------------------------------------------

Upload = Callable[[Path, contextlib.ExitStack], Any]

UPLOADS: dict[str, tuple[str, Upload]] = {
    "file object, non-square JPEG": ("cat.jpg", lambda p, stack: stack.enter_context(p.open("rb"))),
    "raw bytes": ("coffee.jpg", lambda p, stack: p.read_bytes()),
    "tuple": ("rocket.jpg", lambda p, stack: (p.name, p.read_bytes(), "image/jpeg")),
    "path, greyscale": ("camera.jpg", lambda p, stack: p),
    "PNG in BytesIO": ("cat.jpg", lambda p, stack: io.BytesIO(encode(p, "PNG"))),
    "WebP tuple": ("astronaut.jpg", lambda p, stack: ("a.webp", encode(p, "WEBP"), "image/webp")),
    # The format is read from the bytes, never from the name or the content type.
    "JPEG named PNG": ("coffee.jpg", lambda p, stack: ("a.png", encode(p, "JPEG"), "image/png")),
}


@pytest.mark.parametrize("upload", UPLOADS.values(), ids=UPLOADS.keys())
def test_every_kind_of_upload(server, client, upload):
    name, make = upload
    photo = PHOTOS / name
    with contextlib.ExitStack() as stack:
        result = create_variation(
            client, image=make(photo, stack), n=2, size="256x256", response_format="b64_json"
        )
    pictures = [picture(item, server) for item in result.data]
    assert_variations(pictures, Image.open(photo).convert("RGB"), 256)


def test_transparency_is_kept(server, client):
    source = Image.open(PHOTOS / "astronaut.jpg").convert("RGBA")
    source.putalpha(Image.new("L", source.size, 255))
    source.paste((0, 0, 0, 0), (0, 0, source.width // 2, source.height))  # left half clear
    result = create_variation(
        client, image=png_bytes(source), n=2, size="256x256", response_format="b64_json"
    )
    pictures = [picture(item, server) for item in result.data]
    assert_variations(pictures, source.convert("RGB"), 256, mode="RGBA")
    for image in pictures:
        alpha = np.asarray(image.getchannel("A"))
        assert alpha[:, :120].max() == 0
        assert alpha[:, 136:].min() == 255


# --- URLs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    urls: list[str]
    requested: float
    created: int


@pytest.fixture(scope="module")
def issued(client) -> Issued:
    requested = time.time()
    result = create_variation(
        client, image=(PHOTOS / "coffee.jpg").read_bytes(), n=2, size="256x256"
    )
    urls = [item.url for item in result.data if item.url is not None]
    assert len(urls) == 2
    return Issued(urls, requested, result.created)


def test_urls_serve_png_until_they_expire_in_an_hour(server, issued):
    contents = set()
    for url in issued.urls:
        expires = int(parse_qs(urlsplit(url).query)["expires"][0])
        assert int(issued.requested) + 3600 <= expires <= issued.created + 3600
        response = get_image(url, server)
        assert Image.open(io.BytesIO(response.content)).size == (256, 256)
        contents.add(response.content)
    assert len(contents) == 2


def _altered(url: str, other: str, field: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    path = parts.path
    if field == "signature":
        last = query["signature"][-1]
        query["signature"] = query["signature"][:-1] + ("0" if last != "0" else "1")
    elif field == "expires":
        query["expires"] = str(int(query["expires"]) + 3600)
    else:
        path = urlsplit(other).path
    return f"{parts.scheme}://{parts.netloc}{path}?{urlencode(query)}"


@pytest.mark.parametrize("field", ["signature", "expires", "name"])
def test_altered_url_is_403_in_the_envelope(server, issued, field):
    url, other = issued.urls
    response = httpx.get(_altered(url, other, field))
    assert response.status_code == 403, server.describe()
    error = envelope(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_signature")
    assert httpx.get(url).status_code == 200


def test_url_expires_and_its_file_is_swept(tmp_path):
    with (
        live_server(tmp_path / "data", "--url-ttl", str(SHORT_TTL)) as server,
        openai_client(server) as client,
    ):
        result = create_variation(
            client, image=png_bytes(Image.new("RGB", (64, 64))), size="256x256"
        )
        (item,) = result.data
        assert item.url is not None
        expires = int(parse_qs(urlsplit(item.url).query)["expires"][0])
        assert expires <= result.created + SHORT_TTL
        get_image(item.url, server)
        assert len(list(server.images_dir.iterdir())) == 1

        def refused() -> httpx.Response | None:
            response = httpx.get(item.url)  # type: ignore[arg-type]
            return response if response.status_code != 200 else None

        expired = wait_for(refused, "the URL's expiry", server)
        assert expired.status_code == 410, server.describe()
        assert envelope(expired)["code"] == "url_expired"
        # The sweep runs every min(60 s, ttl): the file must go without a restart.
        wait_for(lambda: not any(server.images_dir.iterdir()) or None, "the sweep", server)
        assert httpx.get(item.url).status_code == 410


def test_urls_survive_a_restart(tmp_path):
    data_dir = tmp_path / "data"
    with live_server(data_dir) as first, openai_client(first) as client:
        (item,) = create_variation(
            client, image=(PHOTOS / "cat.jpg").read_bytes(), size="256x256"
        ).data
        assert item.url is not None
        served = get_image(item.url, first)
    assert first.process.returncode in {0, -signal.SIGTERM}, first.describe()
    parts = urlsplit(item.url)
    with live_server(data_dir) as second:
        again = get_image(f"{second.url}{parts.path}?{parts.query}", second)
    assert again.content == served.content


# --- errors through the client -----------------------------------------------------------------


def assert_error(
    error: openai.APIStatusError, status: int, param: str | None, code: str | None, message: str
) -> None:
    """The client saw ``status`` and the envelope of exactly these fields."""
    assert (error.status_code, error.param, error.code, error.type) == (
        status,
        param,
        code,
        "invalid_request_error",
    )
    assert error.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }
    assert error.message == f"Error code: {status} - {message}"


@pytest.mark.parametrize(
    ("fields", "message", "param"),
    [
        ({"n": 15}, "15 is greater than the maximum of 10 - 'n'", "n"),
        ({"n": 0}, "0 is less than the minimum of 1 - 'n'", "n"),
        (
            {"response_format": "gif"},
            "'gif' is not one of ['url', 'b64_json'] - 'response_format'",
            "response_format",
        ),
    ],
)
def test_field_errors_are_bad_requests_in_openai_words(client, tiny_png, fields, message, param):
    with pytest.raises(openai.BadRequestError) as caught:
        create_variation(client, image=tiny_png, **fields)
    assert_error(caught.value, 400, param, None, message)


@pytest.mark.parametrize("size", ["4096x4096", "32x32", "1024x", "big"])
def test_a_size_vary_cannot_make_is_a_bad_request(client, tiny_png, size):
    with pytest.raises(openai.BadRequestError) as caught:
        create_variation(client, image=tiny_png, size=size)
    error = caught.value
    assert (error.status_code, error.param) == (400, "size")
    assert repr(size) in error.body["message"]  # type: ignore[index]


def test_unknown_model_is_not_found(client, tiny_png):
    with pytest.raises(openai.NotFoundError) as caught:
        create_variation(client, image=tiny_png, model="dall-e-9")
    error = caught.value
    assert (error.status_code, error.code, error.param) == (404, "model_not_found", "model")
    assert "dall-e-9" in error.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    "image",
    [b"hello, world\n", b"", ("notes.png", b"not a picture", "image/png")],
    ids=["text", "empty", "text named PNG"],
)
def test_what_is_not_a_picture_is_a_bad_request_on_image(client, image):
    with pytest.raises(openai.BadRequestError) as caught:
        create_variation(client, image=image)
    error = caught.value
    assert (error.status_code, error.code, error.param) == (400, "invalid_image", "image")


def test_text_file_is_a_bad_request_on_image(client, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("a text file, not a picture\n")
    with text.open("rb") as image, pytest.raises(openai.BadRequestError) as caught:
        create_variation(client, image=image)
    assert (caught.value.code, caught.value.param) == ("invalid_image", "image")


# --- --strict-openai ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("strict"), "--strict-openai") as running:
        yield running


@pytest.fixture(scope="module")
def strict_client(strict_server: LiveServer) -> Iterator[OpenAI]:
    with openai_client(strict_server) as opened:
        yield opened


def _flat_png(width: int, height: int) -> bytes:
    return png_bytes(Image.new("RGB", (width, height), "teal"))


STRICT_REFUSALS = {
    "size": (
        _flat_png(32, 32),
        "1024x1536",
        "size",
        None,
        "'1024x1536' is not one of ['256x256', '512x512', '1024x1024'] - 'size'",
    ),
    "JPEG": (
        (PHOTOS / "astronaut.jpg").read_bytes(),  # square
        "256x256",
        "image",
        "invalid_image",
        "Uploaded image must be a PNG and less than 4 MB.",
    ),
    "not square": (
        _flat_png(64, 32),
        "256x256",
        "image",
        "invalid_image",
        "Invalid input image - expected an image with equal width and height, got 64x32 instead.",
    ),
}


@pytest.mark.parametrize("refusal", STRICT_REFUSALS.values(), ids=STRICT_REFUSALS.keys())
def test_strict_mode_refuses_what_openai_refused(strict_client, refusal):
    image, size, param, code, message = refusal
    with pytest.raises(openai.BadRequestError) as caught:
        create_variation(strict_client, image=image, size=size)
    assert_error(caught.value, 400, param, code, message)


def test_strict_mode_serves_what_openai_served(strict_server, strict_client):
    source = Image.open(PHOTOS / "astronaut.jpg")  # square
    result = create_variation(
        strict_client,
        image=("astronaut.png", png_bytes(source), "image/png"),
        n=2,
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 3},  # vary's extra fields still work
    )
    assert [seed_of(item) for item in result.data] == [3, 4]
    assert_variations([picture(item, strict_server) for item in result.data], source, 256)


# --- models ------------------------------------------------------------------------------------


def test_models_list_has_vary_style(client):
    models = {model.id: model for model in client.models.list()}
    assert "vary-style" in models
    assert models["vary-style"].object == "model"


def test_dall_e_2_is_served(server, client):
    photo = PHOTOS / "rocket.jpg"
    result = create_variation(
        client,
        image=photo.read_bytes(),
        model="dall-e-2",
        size="256x256",
        response_format="b64_json",
    )
    assert_variations([picture(item, server) for item in result.data], Image.open(photo), 256)


# --- API keys ----------------------------------------------------------------------------------

KEYED = {
    "--api-key": {"args": ("--api-key", "sk-other-key-0000", "--api-key", API_KEY)},
    "VARY_API_KEYS": {"env": {"VARY_API_KEYS": f"sk-other-key-0000, {API_KEY}"}},
}


@pytest.fixture(scope="module", params=KEYED.values(), ids=KEYED.keys())
def keyed_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    config = request.param
    with live_server(
        tmp_path_factory.mktemp("keyed"), *config.get("args", ()), env=config.get("env")
    ) as running:
        yield running


def test_the_right_key_is_accepted(keyed_server, tiny_png):
    with openai_client(keyed_server, API_KEY) as keyed:
        (item,) = create_variation(keyed, image=tiny_png, size="256x256").data
        assert "vary-style" in {model.id for model in keyed.models.list()}
    assert item.url is not None
    # URLs need no key, so they open in a browser.
    get_image(item.url, keyed_server)


def test_a_wrong_key_is_401(keyed_server, tiny_png):
    with openai_client(keyed_server, WRONG_KEY) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            create_variation(wrong, image=tiny_png, size="256x256")
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
    error = caught.value
    assert (error.status_code, error.code, error.type) == (
        401,
        "invalid_api_key",
        "invalid_request_error",
    )
    assert error.body["message"].startswith("Incorrect API key provided: sk-wr***99")  # type: ignore[index]
    assert WRONG_KEY not in error.message
    assert httpx.get(f"{keyed_server.url}/health").status_code == 200


# --- the async client --------------------------------------------------------------------------


def test_async_client_with_concurrent_requests(server):
    photos = [PHOTOS / name for name in ("astronaut.jpg", "cat.jpg", "coffee.jpg")]

    async def one(client: AsyncOpenAI, photo: Path) -> ImagesResponse:
        with pytest.warns(DeprecationWarning, match="^deprecated$"):
            pending = client.images.create_variation(
                image=photo.read_bytes(), n=2, size="256x256", response_format="b64_json"
            )
        return await pending

    async def main() -> list[ImagesResponse]:
        async with AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key="sk-no-key-needed", max_retries=0, timeout=120
        ) as client:
            return await asyncio.gather(*(one(client, photo) for photo in photos))

    results = asyncio.run(main())
    for photo, result in zip(photos, results, strict=True):
        pictures = [picture(item, server) for item in result.data]
        assert len(pictures) == 2
        assert_variations(pictures, Image.open(photo), 256)
