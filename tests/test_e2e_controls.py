"""End to end: vary's own fields through the official client's ``extra_body``, edits (also as
``image[]``), generations and styles, against the real server and engine."""

from __future__ import annotations

import base64
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from openai.types import ImagesResponse
from PIL import Image, ImageOps

from conftest import PHOTOS, png_bytes
from layout import layout_similarity
from live import LiveServer, live_server

PHOTO = PHOTOS / "cat.jpg"
REFERENCE = PHOTOS / "rocket.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("data")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120) as opened:
        yield opened


def square(side: int) -> Image.Image:
    """The photo as the server crops it for a square size."""
    with Image.open(PHOTO) as photo:
        return ImageOps.fit(photo.convert("RGB"), (side, side), Image.Resampling.LANCZOS)


def vary(client: OpenAI, **kwargs: Any) -> ImagesResponse:
    kwargs.setdefault("image", PHOTO.read_bytes())
    kwargs.setdefault("response_format", "b64_json")
    with pytest.warns(DeprecationWarning, match="^deprecated$"):
        return client.images.create_variation(**kwargs)


def pictures(result: ImagesResponse) -> list[Image.Image]:
    images = []
    for item in result.data:
        assert item.b64_json is not None
        image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        image.load()
        images.append(image)
    return images


def extra(result: ImagesResponse, field: str) -> list[Any]:
    return [getattr(item, field) for item in result.data]


def test_a_seeded_batch_reproduces_exactly_alone(client):
    batch = vary(client, n=3, size="256x256", extra_body={"seed": 70})
    assert extra(batch, "seed") == [70, 71, 72]
    alone = vary(client, size="256x256", extra_body={"seed": 72})
    assert alone.data[0].b64_json == batch.data[2].b64_json
    assert alone.data[0].revised_prompt == batch.data[2].revised_prompt


def test_without_a_seed_one_comes_back_and_works(client):
    first = vary(client, size="256x256")
    again = vary(client, size="256x256", extra_body={"seed": extra(first, "seed")[0]})
    assert again.data[0].b64_json == first.data[0].b64_json


def test_strength_is_a_dial(client):
    source = np.asarray(square(256), dtype=float)

    def distance(strength: float) -> float:
        result = vary(client, size="256x256", extra_body={"seed": 5, "strength": strength})
        (image,) = pictures(result)
        return float(np.abs(np.asarray(image, dtype=float) - source).mean())

    distances = [distance(s) for s in (0.0, 0.3, 0.6, 1.0)]
    assert distances[0] < 5  # the input back, up to how this test resamples the square crop
    assert distances == sorted(distances)
    assert distances[-1] > 3 * distances[1]


def test_named_style_and_blend_are_in_the_recipe(client):
    named = vary(client, n=2, size="256x256", extra_body={"style": "woodcut", "seed": 1})
    for recipe in extra(named, "revised_prompt"):
        assert recipe.startswith('style "woodcut"')
    blend = vary(client, size="256x256", extra_body={"style": "ink wash:0.6,tapestry:0.4"})
    assert re.match(r'style "ink wash" \d+% \+ "tapestry" \d+%', blend.data[0].revised_prompt)


def test_prompt_is_understood_and_said(client):
    result = vary(client, size="256x256", extra_body={"prompt": "an icy wash please"})
    assert result.data[0].revised_prompt.startswith("prompt matched 'icy', 'wash'")


def test_unknown_style_is_a_bad_request_on_style(client):
    with pytest.raises(openai.BadRequestError) as caught:
        vary(client, size="256x256", extra_body={"style": "no such style"})
    assert caught.value.param == "style"  # type: ignore[attr-defined]


def test_a_reference_picture_through_extra_body(client):
    reference = base64.b64encode(REFERENCE.read_bytes()).decode()
    result = vary(
        client,
        n=2,
        size="256x256",
        extra_body={"style_image": f"data:image/jpeg;base64,{reference}"},
    )
    assert all(
        r.startswith("style of the reference picture") for r in extra(result, "revised_prompt")
    )
    first, second = (np.asarray(p, dtype=float) for p in pictures(result))
    assert np.abs(first - second).mean() > 2


def test_preserve_color_keeps_the_chroma(client):
    source = square(256)
    result = vary(client, size="256x256", extra_body={"preserve_color": True, "seed": 3})
    (image,) = pictures(result)
    chroma = np.asarray(image.convert("YCbCr"), dtype=float)[..., 1:]
    original = np.asarray(source.convert("YCbCr"), dtype=float)[..., 1:]
    assert np.abs(chroma - original).mean() < 3


@pytest.mark.parametrize(
    ("size", "fit", "expected"),
    [
        ("320x200", "cover", (320, 200)),
        ("320x200", "contain", (320, 200)),
        ("320x200", "stretch", (320, 200)),
        ("auto", "cover", "auto"),
    ],
)
def test_any_size_and_fit(client, size, fit, expected):
    result = vary(client, size=size, extra_body={"fit": fit})  # type: ignore[arg-type]
    (image,) = pictures(result)
    if expected == "auto":  # the photo's aspect, the long side 1024
        with Image.open(PHOTO) as photo:
            width, height = photo.size
        expected = (1024, round(height * 1024 / width))
    assert image.size == expected
    assert image.mode == ("RGBA" if fit == "contain" else "RGB")


@pytest.mark.parametrize(
    ("fmt", "magic", "media_type"),
    [
        ("jpeg", b"\xff\xd8", "image/jpeg"),
        ("webp", b"RIFF", "image/webp"),
        ("png", b"\x89PNG", "image/png"),
    ],
)
def test_output_formats(client, fmt, magic, media_type):
    b64 = vary(client, size="256x256", extra_body={"output_format": fmt, "output_compression": 20})
    assert base64.b64decode(b64.data[0].b64_json).startswith(magic)
    url = vary(client, size="256x256", response_format="url", extra_body={"output_format": fmt})
    response = httpx.get(url.data[0].url)
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic)


def test_four_default_variations_are_four_looks_that_keep_the_layout(client):
    source = square(512)
    images = pictures(vary(client, n=4, size="512x512"))
    for image in images:
        assert layout_similarity(source, image) > 0.4
    for a, b in itertools.combinations(images, 2):
        assert np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean() > 12


# ---- edits, generations, styles


def _mask(size: tuple[int, int]) -> bytes:
    """Keep the left half (opaque), change the right half (transparent)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (size[0] // 2, 0, size[0], size[1]))
    return png_bytes(mask)


@pytest.mark.parametrize("as_list", [False, True], ids=["image", "image[]"])
def test_edits_change_only_the_masked_area(client, as_list):
    photo = Image.open(PHOTO).convert("RGB").resize((256, 256))
    image: Any = [("photo.png", png_bytes(photo))] if as_list else png_bytes(photo)
    result = client.images.edit(
        image=image,
        mask=_mask((256, 256)),
        prompt="woodcut",
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 2},
    )
    (out,) = pictures(result)
    before, after = np.asarray(photo, dtype=int), np.asarray(out, dtype=int)
    assert np.array_equal(after[:, :128], before[:, :128])
    assert np.abs(after[:, 140:] - before[:, 140:]).mean() > 10
    assert result.data[0].revised_prompt.startswith("prompt matched 'woodcut'")


def test_edit_mask_of_another_size_is_a_bad_request_on_mask(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            image=png_bytes(Image.new("RGB", (64, 64))), mask=_mask((32, 32)), prompt="ink"
        )
    assert caught.value.param == "mask"  # type: ignore[attr-defined]


def test_generations_is_a_clear_bad_request(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat")
    assert "variations" in str(caught.value)
    assert caught.value.code == "unsupported_endpoint"  # type: ignore[attr-defined]


def test_styles_are_listed(server):
    styles = httpx.get(f"{server.url}/v1/styles").json()["data"]
    assert len(styles) == 26
    assert {"woodcut", "ink wash"} <= {style["name"] for style in styles}


def test_photo_files_exist():
    assert Path(PHOTO).is_file()
    assert Path(REFERENCE).is_file()
