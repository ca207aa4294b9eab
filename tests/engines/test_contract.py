"""The contract every engine must keep. Add each new engine to ENGINES."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from PIL import Image

from fakes import FakeEngine
from vary.engines import Controls, Engine, StyleEngine

ENGINES: dict[str, Callable[[], Engine]] = {
    "fake": FakeEngine,
    "style": StyleEngine.from_pretrained,
    "style-openvino": partial(StyleEngine.from_pretrained, runtime="openvino"),
}


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    return ENGINES[request.param]()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (130, 250, 3), dtype=np.uint8))


@pytest.mark.parametrize("n", [1, 3, 10])
def test_returns_n_rgb_pictures(engine, picture, n):
    outputs = engine.variations(picture, n=n, seed=5)
    assert len(outputs) == n
    assert all(isinstance(out.image, Image.Image) and out.image.mode == "RGB" for out in outputs)
    assert [out.seed for out in outputs] == [5 + i for i in range(n)]
    assert all(out.recipe for out in outputs)


@pytest.mark.parametrize("size", [(64, 64), (250, 130), (130, 250), (257, 255), (512, 512)])
def test_output_is_exactly_the_input_size(engine, size):
    picture = Image.new("RGB", size, (120, 80, 40))
    assert [out.image.size for out in engine.variations(picture, n=2, seed=1)] == [size, size]


def test_same_seed_gives_the_same_pixels(engine, picture):
    first = engine.variations(picture, n=2, seed=42)
    again = engine.variations(picture, n=2, seed=42)
    assert [a.image.tobytes() for a in first] == [b.image.tobytes() for b in again]
    assert [a.recipe for a in first] == [b.recipe for b in again]


def test_different_seeds_give_different_pixels(engine, picture):
    pictures = [engine.variations(picture, n=1, seed=seed)[0].image.tobytes() for seed in range(6)]
    assert len(set(pictures)) == 6


def test_variation_i_is_seed_plus_i_alone(engine, picture):
    batch = engine.variations(picture, n=4, seed=100)
    alone = [engine.variations(picture, n=1, seed=100 + i)[0] for i in range(4)]
    assert [a.image.tobytes() for a in batch] == [b.image.tobytes() for b in alone]
    assert [a.recipe for a in batch] == [b.recipe for b in alone]


@pytest.mark.parametrize("controls", [Controls(), Controls(style_image=Image.new("RGB", (64, 64)))])
def test_iter_variations_yields_the_same_variations_one_by_one(engine, picture, controls):
    made = engine.iter_variations(picture, n=3, seed=11, controls=controls)
    first = next(made)
    rest = list(made)
    expected = engine.variations(picture, n=3, seed=11, controls=controls)
    assert [v.image.tobytes() for v in [first, *rest]] == [v.image.tobytes() for v in expected]
    assert [v.seed for v in [first, *rest]] == [11, 12, 13]


_REFERENCE = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    "controls",
    [
        Controls(strength=0.5),
        Controls(style="ink wash"),
        Controls(prompt="blue ink"),
        Controls(style_image=_REFERENCE),
    ],
    ids=["strength", "style", "prompt", "style_image"],
)
def test_controls_keep_the_contract(engine, picture, controls):
    batch = engine.variations(picture, n=3, seed=7, controls=controls)
    alone = engine.variations(picture, n=1, seed=9, controls=controls)
    assert [v.image.size for v in batch] == [picture.size] * 3
    assert batch[2].image.tobytes() == alone[0].image.tobytes()
    assert len({v.image.tobytes() for v in batch}) == 3


def test_strength_zero_gives_the_input_back(engine, picture):
    (variation,) = engine.variations(picture, n=1, seed=1, controls=Controls(strength=0.0))
    assert variation.image.tobytes() == picture.tobytes()


def test_input_is_not_modified(engine, picture):
    before = picture.tobytes()
    engine.variations(picture, n=2, seed=3)
    assert picture.tobytes() == before
