"""The contract every engine must keep. Add each new engine to ENGINES."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from fakes import FakeEngine
from vary.engines import Engine, StyleEngine

ENGINES: dict[str, Callable[[], Engine]] = {
    "fake": FakeEngine,
    "style": StyleEngine.from_pretrained,
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
    assert all(isinstance(out, Image.Image) and out.mode == "RGB" for out in outputs)


@pytest.mark.parametrize("size", [(64, 64), (250, 130), (130, 250), (257, 255), (512, 512)])
def test_output_is_exactly_the_input_size(engine, size):
    picture = Image.new("RGB", size, (120, 80, 40))
    assert [out.size for out in engine.variations(picture, n=2, seed=1)] == [size, size]


def test_same_seed_gives_the_same_pixels(engine, picture):
    first = engine.variations(picture, n=2, seed=42)
    again = engine.variations(picture, n=2, seed=42)
    assert [a.tobytes() for a in first] == [b.tobytes() for b in again]


def test_different_seeds_give_different_pixels(engine, picture):
    pictures = [engine.variations(picture, n=1, seed=seed)[0].tobytes() for seed in range(6)]
    assert len(set(pictures)) == 6


def test_variation_i_is_seed_plus_i_alone(engine, picture):
    batch = engine.variations(picture, n=4, seed=100)
    alone = [engine.variations(picture, n=1, seed=100 + i)[0] for i in range(4)]
    assert [a.tobytes() for a in batch] == [b.tobytes() for b in alone]


def test_input_is_not_modified(engine, picture):
    before = picture.tobytes()
    engine.variations(picture, n=2, seed=3)
    assert picture.tobytes() == before
