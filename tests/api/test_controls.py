"""vary's extra fields, edits, generations and styles over HTTP, against the fake engine."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import png_bytes


def make(client: TestClient, image: bytes, path: str = "variations", **fields: str) -> dict:
    response = client.post(
        f"/v1/images/{path}",
        files={"image": ("upload", image, "application/octet-stream")},
        data={"response_format": "b64_json", "size": "64x64", **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()


def pictures(body: dict) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(i["b64_json"]))) for i in body["data"]]


def test_seed_is_returned_and_variation_i_is_seed_plus_i(client, gradient):
    batch = make(client, png_bytes(gradient), n="3", seed="40")
    assert [item["seed"] for item in batch["data"]] == [40, 41, 42]
    alone = make(client, png_bytes(gradient), seed="42")
    assert pictures(batch)[2].tobytes() == pictures(alone)[0].tobytes()
    assert batch["data"][2]["revised_prompt"] == alone["data"][0]["revised_prompt"]


def test_without_a_seed_one_is_drawn_and_returned(client, gradient):
    first = make(client, png_bytes(gradient))["data"][0]
    again = make(client, png_bytes(gradient), seed=str(first["seed"]))["data"][0]
    assert first["b64_json"] == again["b64_json"]


def test_controls_reach_the_engine(client, gradient, fake_engine):
    make(client, png_bytes(gradient), strength="0.4", style="ink wash", prompt="blue")
    controls = fake_engine.calls[-1][3]
    assert (controls.strength, controls.style, controls.prompt) == (0.4, "ink wash", "blue")
    assert controls.style_image is None


def test_style_image_reaches_the_engine_as_rgb(client, gradient):
    response = client.post(
        "/v1/images/variations",
        files={
            "image": ("upload", png_bytes(gradient), "application/octet-stream"),
            "style_image": ("ref.png", png_bytes(Image.new("LA", (30, 20))), "image/png"),
        },
        data={"size": "64x64"},
    )
    assert response.status_code == 200
    assert client.app.state.service.engine.calls[-1][3].style_image.mode == "RGB"


def test_a_broken_style_image_is_400_on_style_image(client, gradient):
    response = client.post(
        "/v1/images/variations",
        files={
            "image": ("upload", png_bytes(gradient), "application/octet-stream"),
            "style_image": ("ref.png", b"not an image", "image/png"),
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "style_image"


def test_empty_fields_mean_absent(client, gradient):
    # The official client sends None as an empty string.
    body = make(client, png_bytes(gradient), seed="", strength="", style="", model="", user="")
    assert len(body["data"]) == 1


@pytest.mark.parametrize(
    ("size", "expected"), [("64x64", (64, 64)), ("300x120", (300, 120)), ("auto", (1024, 683))]
)
def test_any_size_and_auto(client, gradient, size, expected):
    body = make(client, png_bytes(gradient), size=size)
    assert pictures(body)[0].size == expected
    assert body["size"] == f"{expected[0]}x{expected[1]}"


def test_fit_contain_pads_with_transparency(client):
    wide = Image.new("RGB", (200, 100), (0, 0, 255))
    body = make(client, png_bytes(wide), size="100x100", fit="contain", strength="0")
    out = pictures(body)[0]
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A"))
    assert alpha[:20].max() == 0  # a band above ...
    assert alpha[-20:].max() == 0  # ... and below
    assert alpha[30:70].min() == 255
    assert out.getpixel((50, 50)) == (0, 0, 255, 255)


def test_fit_stretch_keeps_everything(client):
    wide = Image.new("RGB", (200, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (0, 0, 20, 100))
    out = pictures(make(client, png_bytes(wide), size="100x100", fit="stretch", strength="0"))[0]
    assert out.getpixel((2, 50))[0] > 200  # the red band survives, squeezed
    assert out.getpixel((90, 50)) == (0, 0, 255)


def test_preserve_color_keeps_the_inputs_chroma(client, gradient):
    fitted = gradient.resize((64, 64))
    original = np.asarray(fitted.convert("YCbCr"), dtype=int)[..., 1:]

    def chroma_change(**fields: str) -> float:
        body = make(client, png_bytes(fitted), seed="5", **fields)
        chroma = np.asarray(pictures(body)[0].convert("YCbCr"), dtype=int)[..., 1:]
        return float(np.abs(chroma - original).mean())

    # Only where the new brightness pushes a colour out of RGB's gamut can chroma move.
    assert chroma_change(preserve_color="true") < 2
    assert chroma_change() > 20
    body = make(client, png_bytes(fitted), preserve_color="true")
    assert body["data"][0]["revised_prompt"].endswith(", colours kept")


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("png", "image/png", b"\x89PNG"),
        ("jpeg", "image/jpeg", b"\xff\xd8"),
        ("webp", "image/webp", b"RIFF"),
    ],
)
def test_output_formats_and_url_content_types(client, gradient, fmt, media_type, magic):
    b64 = make(client, png_bytes(gradient), output_format=fmt, output_compression="50")
    assert base64.b64decode(b64["data"][0]["b64_json"]).startswith(magic)
    assert b64["output_format"] == fmt
    url = make(client, png_bytes(gradient), output_format=fmt, response_format="url")["data"][0]
    response = client.get(url["url"])
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic)
    assert url["url"].split("?")[0].endswith(f".{fmt}")


def test_jpeg_compression_trades_size(client, gradient):
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    sizes = [
        len(
            make(client, png_bytes(noisy), output_format="jpeg", output_compression=c, seed="1")[
                "data"
            ][0]["b64_json"]
        )
        for c in ("0", "90")
    ]
    assert sizes[0] > sizes[1]


# ---- edits


def _half_mask(size: tuple[int, int]) -> Image.Image:
    """Opaque (keep) on the left half, transparent (change) on the right half."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (size[0] // 2, 0, size[0], size[1]))
    return mask


def edit(client: TestClient, files: list, **fields: str):
    return client.post(
        "/v1/images/edits",
        files=files,
        data={"prompt": "blue ink", "response_format": "b64_json", "size": "64x64", **fields},
    )


@pytest.mark.parametrize("field", ["image", "image[]"])
def test_edit_keeps_opaque_mask_pixels_exactly(client, field):
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    response = edit(
        client,
        [
            (field, ("photo.png", png_bytes(photo), "image/png")),
            ("mask", ("mask.png", png_bytes(_half_mask((64, 64))), "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    out = np.asarray(pictures(response.json())[0])
    original = np.asarray(photo)
    assert np.array_equal(out[:, :32], original[:, :32])
    assert np.abs(out[:, 40:].astype(int) - original[:, 40:]).mean() > 20
    # The seam is soft: the first changed columns change less than the far ones.
    near = np.abs(out[:, 32].astype(int) - original[:, 32]).mean()
    far = np.abs(out[:, 60].astype(int) - original[:, 60]).mean()
    assert near < far


def test_edit_without_a_mask_changes_the_whole_picture(client, gradient):
    response = edit(
        client, [("image", ("p.png", png_bytes(gradient.resize((64, 64))), "image/png"))]
    )
    assert response.status_code == 200
    assert response.json()["data"][0]["revised_prompt"]


def test_edit_needs_a_prompt(client, gradient):
    response = client.post(
        "/v1/images/edits",
        files=[("image", ("p.png", png_bytes(gradient), "image/png"))],
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "'prompt' is a required property",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": None,
    }


def test_edit_needs_an_image(client):
    response = client.post("/v1/images/edits", data={"prompt": "x"}, files={"other": ("a", b"1")})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image"


def test_edit_mask_of_another_size_is_400_on_mask(client, gradient):
    response = edit(
        client,
        [
            ("image", ("p.png", png_bytes(gradient), "image/png")),
            ("mask", ("m.png", png_bytes(_half_mask((32, 32))), "image/png")),
        ],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "mask"
    assert "96x64" in error["message"]
    assert "32x32" in error["message"]


def test_edit_mask_without_transparency_is_400_on_mask(client, gradient):
    response = edit(
        client,
        [
            ("image", ("p.png", png_bytes(gradient), "image/png")),
            ("mask", ("m.png", png_bytes(Image.new("L", gradient.size, 0)), "image/png")),
        ],
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "mask"


def test_edit_of_two_images_is_refused(client, gradient):
    data = png_bytes(gradient)
    response = edit(
        client,
        [("image[]", ("a.png", data, "image/png")), ("image[]", ("b.png", data, "image/png"))],
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image"


# ---- generations and styles


def test_generations_is_a_clear_400(client):
    response = client.post("/v1/images/generations", json={"prompt": "a cat"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_endpoint"
    assert "/v1/images/variations" in error["message"]
    assert "engine" in error["message"]


def test_styles_lists_the_catalogue(client):
    body = client.get("/v1/styles").json()
    assert body["object"] == "list"
    assert len(body["data"]) == 26
    assert set(body["data"][0]) == {"id", "name", "description", "default"}
    assert sum(style["default"] for style in body["data"]) >= 10


def test_every_returned_seed_is_accepted_back(client, gradient):
    top = 2**53 - 1
    body = make(client, png_bytes(gradient), n="2", seed=str(top - 1))
    assert [item["seed"] for item in body["data"]] == [top - 1, top]
    again = make(client, png_bytes(gradient), seed=str(top))
    assert again["data"][0]["b64_json"] == body["data"][1]["b64_json"]
    response = client.post(
        "/v1/images/variations",
        files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
        data={"n": "2", "seed": str(top)},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "seed"


def test_image_urls_answer_head(client, gradient):
    url = make(client, png_bytes(gradient), response_format="url")["data"][0]["url"]
    response = client.head(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) > 0


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_style_image_as_base64_text(client, gradient, prefix):
    text = prefix + base64.b64encode(png_bytes(Image.new("RGB", (20, 20), "red"))).decode()
    make(client, png_bytes(gradient), style_image=text)
    reference = client.app.state.service.engine.calls[-1][3].style_image
    assert (reference.size, reference.getpixel((0, 0))) == ((20, 20), (255, 0, 0))


def test_style_image_text_that_is_not_base64_is_400(client, gradient):
    response = client.post(
        "/v1/images/variations",
        files={"image": ("upload", png_bytes(gradient), "application/octet-stream")},
        data={"style_image": "not base64!"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "style_image"
