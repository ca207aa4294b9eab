"""The rebuilt network (``_graph``) against the shipped model, on both runtimes."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from vary.engines._graph import Norm, build_graphs, space_to_depth_kernel
from vary.engines._package import packaged_models
from vary.engines.style import MODEL_FILE, style_mix

SHIPPED = packaged_models() / MODEL_FILE
SIZES = [(64, 64), (128, 96), (256, 200)]


@pytest.fixture(scope="module")
def shipped() -> ort.InferenceSession:
    return _session(onnx.load(str(SHIPPED)))


def _session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _openvino_run(model: onnx.ModelProto):
    openvino = importlib.import_module("openvino")
    core = openvino.Core()
    request = core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU")
    request = request.create_infer_request()

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        request.infer(feeds)
        return np.array(request.get_output_tensor(0).data)

    return run


def _onnxruntime_run(model: onnx.ModelProto):
    session = _session(model)
    return lambda feeds: session.run(None, feeds)[0]


RUNNERS = {"onnxruntime": _onnxruntime_run, "openvino": _openvino_run}


def _mixes(rng: np.random.Generator) -> np.ndarray:
    """A pure style, a random blend of all 26, and the engine's default mixes."""
    return np.stack(
        [np.eye(26, dtype=np.float32)[3], rng.dirichlet(np.ones(26)).astype(np.float32)]
        + [style_mix(seed) for seed in range(3)]
    )


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("norm", ["instance", "moments"])
def test_rebuilt_graphs_match_the_shipped_model(shipped, runner: str, norm: Norm):
    graphs = build_graphs(onnx.load(str(SHIPPED)), norm=norm, finish=False)
    head, body = RUNNERS[runner](graphs.head), RUNNERS[runner](graphs.body)
    for height, width in SIZES:
        rng = np.random.default_rng(height * width)
        picture = rng.random((1, 3, height, width), dtype=np.float32)
        mixes = _mixes(rng)
        features = head({"image": picture})
        assert features.shape == (1, height + 2, width + 2, graphs.channels)
        # All looks in one batch: they share the head and every convolution call.
        looks = body({"features": features, "style_weights": mixes})
        assert looks.shape == (len(mixes), 3, height, width)
        for mix, look in zip(mixes, looks, strict=True):
            (alone,) = shipped.run(None, {"image": picture, "style_weights": mix})
            assert np.abs(look - alone[0]).max() < 1e-3


def test_finish_mixes_back_and_rounds_to_eight_bits():
    model = onnx.load(str(SHIPPED))
    float_graphs = build_graphs(model, finish=False)
    graphs = build_graphs(model)
    head, looks_of, pictures_of = (
        _session(graph) for graph in (graphs.head, float_graphs.body, graphs.body)
    )
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 256, (1, 3, 96, 128)).astype(np.float32) / 255
    mixes = _mixes(rng)[:3]
    (features,) = head.run(None, {"image": picture})
    (looks,) = looks_of.run(None, {"features": features, "style_weights": mixes})
    original = np.ascontiguousarray(picture.transpose(0, 2, 3, 1))
    strength = np.array([0.0, 0.5, 1.0], np.float32).reshape(3, 1, 1, 1)
    feeds = {"features": features, "style_weights": mixes, "original": original}
    (pictures,) = pictures_of.run(None, feeds | {"strength": strength})
    assert (pictures.dtype, pictures.shape) == (np.uint8, (3, 96, 128, 3))
    # Strength 0 gives the input back exactly.
    assert np.array_equal(pictures[0], np.rint(original[0] * 255).astype(np.uint8))
    expected = strength * looks.transpose(0, 2, 3, 1) + (1 - strength) * original
    assert np.abs(pictures.astype(int) - np.rint(expected * 255)).max() <= 1


@pytest.mark.parametrize(("kernel", "inputs", "outputs"), [(9, 4, 3), (3, 8, 4), (5, 1, 2)])
def test_space_to_depth_kernel_computes_the_same_convolution(kernel, inputs, outputs):
    rng = np.random.default_rng(kernel)
    weight = rng.standard_normal((outputs, inputs, kernel, kernel)).astype(np.float32)
    picture = rng.standard_normal((2, inputs, 40, 36)).astype(np.float32)
    direct = _conv_model([helper.make_node("Conv", ["x", "w"], ["y"])], weight)
    folded = _conv_model(
        [
            helper.make_node("SpaceToDepth", ["x"], ["s"], blocksize=2),
            helper.make_node("Conv", ["s", "w"], ["c"]),
            helper.make_node("DepthToSpace", ["c"], ["y"], blocksize=2, mode="DCR"),
        ],
        space_to_depth_kernel(weight),
    )
    (want,) = _session(direct).run(None, {"x": picture})
    (got,) = _session(folded).run(None, {"x": picture})
    assert got.shape == want.shape == (2, outputs, 40 - kernel + 1, 36 - kernel + 1)
    assert np.abs(got - want).max() < 1e-4


def _conv_model(nodes: list[onnx.NodeProto], weight: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_refuses_a_graph_that_is_not_the_style_network():
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["image"], ["y"])],
        "other",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    with pytest.raises(ValueError, match="unexpected start of the network"):
        build_graphs(helper.make_model(graph))


def test_refuses_an_unknown_norm_spelling():
    with pytest.raises(ValueError, match="norm must be"):
        build_graphs(onnx.load(str(SHIPPED)), norm="batch")  # type: ignore[arg-type]
