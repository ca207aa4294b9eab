"""The Python API: vary.create_variations and the steps it shares with the server and CLI."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vary
from conftest import png_bytes
from fakes import FakeEngine
from vary._pipeline import output_size, vary_image
from vary.errors import InvalidImageError, InvalidRequestError


@pytest.fixture
def photo_path(photo_paths):
    return photo_paths[0]


def test_accepts_a_path_bytes_a_file_and_a_pil_image(photo_path):
    engine = FakeEngine()
    inputs = [
        photo_path,
        str(photo_path),
        photo_path.read_bytes(),
        io.BytesIO(photo_path.read_bytes()),
        Image.open(photo_path),
    ]
    results = [vary.create_variations(i, size="64x64", seed=3, engine=engine) for i in inputs]
    assert len({result[0].tobytes() for result in results}) == 1


def test_default_engine_makes_distinct_variations_of_the_size(photo_path):
    pictures = vary.create_variations(photo_path, n=3, size=(96, 64), seed=1)
    assert [(p.size, p.mode) for p in pictures] == [((96, 64), "RGB")] * 3
    assert len({p.tobytes() for p in pictures}) == 3


def test_same_seed_same_pictures_and_seed_plus_i_rule(photo_path):
    engine = FakeEngine()
    batch = vary.create_variations(photo_path, n=3, size="64x64", seed=10, engine=engine)
    again = vary.create_variations(photo_path, n=3, size="64x64", seed=10, engine=engine)
    third = vary.create_variations(photo_path, n=1, size="64x64", seed=12, engine=engine)
    assert [p.tobytes() for p in batch] == [p.tobytes() for p in again]
    assert batch[2].tobytes() == third[0].tobytes()


def test_without_a_seed_each_call_differs(photo_path):
    engine = FakeEngine()
    for _ in range(3):
        vary.create_variations(photo_path, size="64x64", engine=engine)
    assert len({seed for _, _, seed, _ in engine.calls}) == 3


def test_transparency_is_put_back():
    picture = Image.new("RGBA", (80, 40), (200, 30, 30, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 40, 40))
    (variation,) = vary_image(FakeEngine(), picture, n=1, size=(64, 64), seed=0)
    out = variation.image
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A"))
    assert alpha[:, :28].max() == 0
    assert alpha[:, 36:].min() == 255


def test_vary_image_checks_its_arguments_before_the_engine_runs():
    engine = FakeEngine()
    with pytest.raises(InvalidRequestError, match="seed"):
        vary_image(engine, Image.new("RGB", (8, 8)), n=2, size=(64, 64), seed=-1)
    assert engine.calls == []


def test_vary_image_yields_each_variation_as_the_engine_makes_it():
    engine = FakeEngine()
    made = vary_image(engine, Image.new("RGB", (8, 8)), n=3, size=(64, 64), seed=5)
    assert engine.calls == []  # nothing made until asked for
    assert next(made).seed == 5
    assert [variation.seed for variation in made] == [6, 7]


def test_bad_bytes_raise_vary_errors():
    with pytest.raises(InvalidImageError):
        vary.create_variations(b"not an image", engine=FakeEngine())


def test_n_below_one_is_refused(gradient):
    with pytest.raises(ValueError, match="n must be"):
        vary.create_variations(png_bytes(gradient), n=0, engine=FakeEngine())


@pytest.mark.parametrize(
    ("size", "source", "expected"),
    [
        ("512x512", (10, 10), (512, 512)),
        ("300x200", (10, 10), (300, 200)),
        ((64, 2048), (10, 10), (64, 2048)),
        ("auto", (4000, 3000), (1024, 768)),
        ("auto", (600, 1200), (512, 1024)),
        ("auto", (10000, 100), (1024, 64)),
    ],
)
def test_output_size(size, source, expected):
    assert output_size(size, source) == expected


@pytest.mark.parametrize("size", ["512", "axb", "0x10", (0, 5), "-5x5", "63x64", "2049x100", ""])
def test_output_size_refuses_nonsense(size):
    with pytest.raises(ValueError, match="size"):
        output_size(size, (100, 100))
