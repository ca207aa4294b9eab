"""Properties of fitting, masking and colour keeping, over many generated pictures."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fakes import FakeEngine
from vary import imaging
from vary._pipeline import vary_image

sides = st.integers(min_value=1, max_value=300)
out_sides = st.integers(min_value=64, max_value=400)
fits = st.sampled_from(imaging.FITS)


def picture(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    return Image.fromarray(pixels, mode)


@settings(max_examples=60, deadline=None)
@given(sides, sides, out_sides, out_sides, fits, st.sampled_from(["RGB", "RGBA"]))
def test_fit_always_gives_exactly_the_size(width, height, out_w, out_h, fit, mode):
    result = imaging.fit(picture(width, height, 0, mode), (out_w, out_h), fit)
    assert result.size == (out_w, out_h)
    assert result.mode in {"RGB", "RGBA"}
    if fit == "contain" and result.mode == "RGBA" and mode == "RGB":
        # The picture sits in the middle: its opaque box is centred to within a pixel (a
        # picture scaled to one pixel wide cannot be centred more closely than that).
        rows, columns = np.nonzero(np.asarray(result.getchannel("A")) == 255)
        assert abs((columns.min() + columns.max()) / 2 - (out_w - 1) / 2) <= 1
        assert abs((rows.min() + rows.max()) / 2 - (out_h - 1) / 2) <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(16, 128), st.integers(16, 128), st.integers(0, 2**16))
def test_masked_edits_never_touch_kept_pixels(width, height, seed):
    rng = np.random.default_rng(seed)
    original = picture(width, height, seed)
    changed = picture(width, height, seed + 1)
    alpha = rng.choice([0, 255, 128], size=(height, width), p=[0.4, 0.4, 0.2]).astype(np.uint8)
    mask = Image.new("RGBA", (width, height))
    mask.putalpha(Image.fromarray(alpha))
    result = np.asarray(imaging.apply_mask(original, changed, mask))
    kept = alpha == 255
    assert np.array_equal(result[kept], np.asarray(original)[kept])
    # Every output pixel lies between the original and the changed picture.
    low = np.minimum(np.asarray(original), np.asarray(changed)).astype(int)
    high = np.maximum(np.asarray(original), np.asarray(changed)).astype(int)
    assert ((result >= low - 1) & (result <= high + 1)).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(8, 96), st.integers(8, 96), st.integers(0, 2**16))
def test_keep_colours_takes_brightness_from_the_result(width, height, seed):
    original, result = picture(width, height, seed), picture(width, height, seed + 7)
    kept = imaging.keep_colours(result, original)
    luma = np.asarray(kept.convert("L"), dtype=int)
    assert np.abs(luma - np.asarray(result.convert("L"), dtype=int)).mean() < 6


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31 - 20),
    st.integers(1, 10),
    out_sides,
    out_sides,
    fits,
)
def test_variation_i_is_seed_plus_i_through_the_pipeline(seed, n, out_w, out_h, fit):
    engine = FakeEngine()
    source = picture(90, 60, 3, "RGBA")
    batch = list(vary_image(engine, source, n=n, size=(out_w, out_h), seed=seed, fit=fit))
    last = list(vary_image(engine, source, n=1, size=(out_w, out_h), seed=seed + n - 1, fit=fit))
    assert [v.seed for v in batch] == list(range(seed, seed + n))
    assert batch[-1].image.tobytes() == last[0].image.tobytes()
    assert all(v.image.size == (out_w, out_h) for v in batch)
