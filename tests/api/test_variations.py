"""POST /v1/images/variations over HTTP, against the fake engine."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes
from fakes import FakeEngine
from vary import imaging
from vary.api import create_app
from vary.engines import Controls, Variation


def post(client: TestClient, image: bytes | None, **fields: str) -> dict:
    files = {"image": ("upload", image, "application/octet-stream")} if image is not None else None
    response = client.post("/v1/images/variations", files=files, data=fields)
    return {"status": response.status_code, "body": response.json(), "headers": response.headers}


def decode_b64(item: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024"])
def test_b64_json_returns_n_pictures_of_the_size(client, gradient, size):
    before = int(time.time())
    result = post(client, png_bytes(gradient), n="3", size=size, response_format="b64_json")
    assert result["status"] == 200
    body = result["body"]
    assert before <= body["created"] <= time.time()
    assert len(body["data"]) == 3
    side = int(size.split("x")[0])
    pictures = [decode_b64(item) for item in body["data"]]
    assert all(p.size == (side, side) and p.format == "PNG" for p in pictures)
    assert len({p.tobytes() for p in pictures}) == 3, "variations must differ"
    assert all(set(item) == {"b64_json", "revised_prompt", "seed"} for item in body["data"])
    assert (body["size"], body["output_format"]) == (size, "png")


def test_defaults_are_one_1024_url(client, gradient, fake_engine: FakeEngine):
    result = post(client, png_bytes(gradient))
    assert result["status"] == 200
    (item,) = result["body"]["data"]
    assert set(item) == {"url", "revised_prompt", "seed"}
    assert fake_engine.calls[0][:2] == ((1024, 1024), 1)
    picture = Image.open(io.BytesIO(client.get(item["url"]).content))
    assert picture.size == (1024, 1024)


def test_urls_point_at_the_host_the_client_used_and_serve_png(client, gradient):
    result = post(client, png_bytes(gradient), n="2", size="256x256")
    for item in result["body"]["data"]:
        url = urlsplit(item["url"])
        assert (url.scheme, url.netloc) == ("http", "testserver")
        response = client.get(item["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert "max-age=" in response.headers["cache-control"]
        assert Image.open(io.BytesIO(response.content)).size == (256, 256)


def test_public_url_overrides_the_host(settings, fake_engine, gradient):
    app = create_app(replace(settings, public_url="https://img.example.com/"), engine=fake_engine)
    with TestClient(app) as client:
        (item,) = post(client, png_bytes(gradient), size="256x256")["body"]["data"]
    assert item["url"].startswith("https://img.example.com/images/")


@pytest.mark.parametrize("model", ["dall-e-2", "vary-style"])
def test_known_models_are_accepted(client, gradient, model):
    assert post(client, png_bytes(gradient), model=model, size="256x256")["status"] == 200


def test_non_square_input_is_centre_cropped(client, fake_engine):
    # Red bands at the left and right edges of a wide picture fall outside the square crop.
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (0, 0, 100, 100))
    wide.paste((255, 0, 0), (200, 0, 300, 100))
    result = post(client, png_bytes(wide), size="256x256", response_format="b64_json")
    (item,) = result["body"]["data"]
    seed = fake_engine.calls[0][2]
    # Undo the fake's colour shift: every pixel must come from the blue centre.
    shifted = decode_b64(item).convert("RGB")
    blue = Image.new("RGB", (256, 256), (0, 0, 255))
    expected = FakeEngine().variations(blue, n=1, seed=seed)[0].image
    assert shifted.tobytes() == expected.tobytes()


def test_transparency_is_kept(client):
    picture = Image.new("RGBA", (64, 64), (10, 200, 30, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 32, 64))  # left half fully transparent
    result = post(client, png_bytes(picture), size="256x256", response_format="b64_json")
    out = decode_b64(result["body"]["data"][0])
    assert out.mode == "RGBA"
    alpha = out.getchannel("A")
    assert alpha.getpixel((10, 128)) == 0
    assert alpha.getpixel((250, 128)) == 255


def test_each_request_draws_a_new_seed(client, gradient, fake_engine):
    for _ in range(3):
        post(client, png_bytes(gradient), size="256x256", response_format="b64_json")
    assert len({seed for _, _, seed, _ in fake_engine.calls}) == 3


def test_user_is_accepted(client, gradient):
    assert post(client, png_bytes(gradient), size="256x256", user="user-1234")["status"] == 200


class _OneAtATimeEngine(FakeEngine):
    """Makes each variation only once the server has encoded the one before, or gives up
    after a while: what an engine whose variations take time lets a server do meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = threading.Semaphore(0)
        self.waited_for_encoding: list[bool] = []

    def iter_variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> Iterator[Variation]:
        for i, variation in enumerate(self.variations(image, n=n, seed=seed, controls=controls)):
            if i:
                self.waited_for_encoding.append(self.encoded.acquire(timeout=10))
            yield variation


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_each_variation_is_encoded_while_the_engine_makes_the_next(
    settings, gradient, monkeypatch, response_format
):
    engine = _OneAtATimeEngine()
    encode = imaging.encode

    def encode_and_tell(*args, **kwargs):
        data = encode(*args, **kwargs)
        engine.encoded.release()
        return data

    monkeypatch.setattr(imaging, "encode", encode_and_tell)
    with TestClient(create_app(settings, engine=engine)) as client:
        image = png_bytes(gradient)
        reply = post(client, image, n="3", size="64x64", seed="7", response_format=response_format)
    assert reply["status"] == 200
    # In the order made, whichever finished encoding first.
    assert [item["seed"] for item in reply["body"]["data"]] == [7, 8, 9]
    assert engine.waited_for_encoding == [True, True]


class _IntoTheNextSecondEngine(FakeEngine):
    """Finishes its pictures just after a whole second has begun."""

    finished = 0.0

    def variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> list[Variation]:
        time.sleep(1.01 - time.time() % 1)
        self.finished = time.time()
        return super().variations(image, n=n, seed=seed, controls=controls)


def test_created_is_stamped_once_the_pictures_exist(settings, gradient):
    engine = _IntoTheNextSecondEngine()
    with TestClient(create_app(settings, engine=engine)) as client:
        reply = post(client, png_bytes(gradient), size="64x64", response_format="b64_json")
    assert reply["body"]["created"] >= int(engine.finished)
