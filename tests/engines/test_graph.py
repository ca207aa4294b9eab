"""The rebuilt network (``_graph``) against the shipped model, on both runtimes."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from vary.engines._graph import (
    MIN_HEIGHT,
    STYLE_INPUT,
    Norm,
    _emit_finish,
    _Emitter,
    _info,
    build_graphs,
    space_to_depth_kernel,
    upsampling_kernel,
)
from vary.engines._package import packaged_models
from vary.engines._runtime import OnnxRuntime, OpenVinoRuntime
from vary.engines.style import MODEL_FILE, style_mix

SHIPPED = packaged_models() / MODEL_FILE
# Heights: the fewest rows, uneven strips, a larger picture.
SIZES = [(MIN_HEIGHT, 72), (100, 96), (256, 200)]


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

    names = [output.name for output in model.graph.output]
    inputs = {info.name for info in model.graph.input}

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request.infer({name: value for name, value in feeds.items() if name in inputs})
        return {name: np.array(request.get_output_tensor(i).data) for i, name in enumerate(names)}

    return run


def _onnxruntime_run(model: onnx.ModelProto):
    session = _session(model)
    names = [out.name for out in session.get_outputs()]
    inputs = {info.name for info in model.graph.input}

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # The head hands over the picture for the finish, which the float body has not.
        outputs = session.run(
            None, {name: value for name, value in feeds.items() if name in inputs}
        )
        return dict(zip(names, outputs, strict=True))

    return run


RUNNERS = {"onnxruntime": _onnxruntime_run, "openvino": _openvino_run}
# The norm each runtime's engine builds its graphs with.
NORMS = {"onnxruntime": OnnxRuntime.norm, "openvino": OpenVinoRuntime.norm}


def _features(head, picture: np.ndarray) -> dict[str, np.ndarray]:
    """What the body takes besides the look's inputs: the head's outputs and the picture."""
    return head({"image": picture}) | {"image": picture}


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
        features = _features(head, picture)  # once for all looks
        for mix in mixes:
            look = body(features | {"style_weights": mix[None]})["stylized"]
            assert look.shape == (1, 3, height, width)
            (want,) = shipped.run(None, {"image": picture, "style_weights": mix})
            assert np.abs(look - want).max() < 1e-3


def _in_float64(model: onnx.ModelProto) -> ReferenceEvaluator:
    """The network computed in float64 by onnx's reference evaluator: the exact answer."""
    exact = onnx.ModelProto()
    exact.CopyFrom(model)
    for init in exact.graph.initializer:
        value = numpy_helper.to_array(init)
        if value.dtype == np.float32:
            init.CopyFrom(numpy_helper.from_array(value.astype(np.float64), init.name))
    for info in [*exact.graph.input, *exact.graph.output, *exact.graph.value_info]:
        if info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            info.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    for node in exact.graph.node:
        for attribute in node.attribute:
            if attribute.name == "value" and attribute.t.data_type == onnx.TensorProto.FLOAT:
                value = numpy_helper.to_array(attribute.t).astype(np.float64)
                attribute.t.CopyFrom(numpy_helper.from_array(value, attribute.t.name))
    return ReferenceEvaluator(exact)


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_low_contrast_pictures_keep_their_precision(runner: str):
    """A faint picture makes each norm divide by a small spread, which magnifies rounding: the
    shipped model in fp32 is off by 5e-4 (contrast 0.005) and 4e-3 (0.001) here. The head
    centres the picture before its convolution, so the rebuilt graphs stay near exact."""
    model = onnx.load(str(SHIPPED))
    exact = _in_float64(model)
    graphs = build_graphs(model, finish=False)
    head, body = RUNNERS[runner](graphs.head), RUNNERS[runner](graphs.body)
    rng = np.random.default_rng(1)
    mix = style_mix(3)
    for contrast in (0.005, 0.001):
        picture = 1 - contrast * rng.random((1, 3, 64, 64), dtype=np.float32)
        (want,) = exact.run(
            None, {"image": picture.astype(np.float64), STYLE_INPUT: mix.astype(float)}
        )
        got = body(_features(head, picture) | {STYLE_INPUT: mix[None]})["stylized"]
        assert np.abs(got - want).max() < 1e-4


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_finish_mixes_back_and_rounds_to_eight_bits(runner: str):
    model = onnx.load(str(SHIPPED))
    float_graphs = build_graphs(model, norm=NORMS[runner], finish=False)
    graphs = build_graphs(model, norm=NORMS[runner])
    head, looks_of, pictures_of = (
        RUNNERS[runner](graph) for graph in (graphs.head, float_graphs.body, graphs.body)
    )
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 256, (1, 3, 96, 128)).astype(np.float32) / 255
    mixes = _mixes(rng)[:3]
    features = _features(head, picture)
    original = np.ascontiguousarray(picture.transpose(0, 2, 3, 1))
    for mix, strength in zip(mixes, (0.0, 0.5, 1.0), strict=True):
        feeds = features | {"style_weights": mix[None]}
        look = looks_of(feeds)["stylized"]
        made = pictures_of(feeds | {"strength": np.full((1, 1, 1, 1), strength, np.float32)})
        pictures = made["pictures"]
        assert (pictures.dtype, pictures.shape) == (np.uint8, (1, 96, 128, 3))
        if strength == 0:  # gives the input back exactly
            assert np.array_equal(pictures, np.rint(original * 255).astype(np.uint8))
        expected = strength * look.transpose(0, 2, 3, 1) + (1 - strength) * original
        assert np.abs(pictures.astype(int) - np.rint(expected * 255)).max() <= 1


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_finish_clips_levels_past_255_instead_of_wrapping(runner: str):
    """In bf16 (not on this machine) the levels can round up to 256; a look a little over 1
    stands in for that here. The top level is kept, where onnxruntime's cast alone wraps to
    0 (OpenVINO's saturates)."""
    out = _Emitter("t")
    pixels = _emit_finish(out, "phases")
    info = helper.make_tensor_value_info("pictures", onnx.TensorProto.UINT8, [1, "h", "w", 3])
    inputs = [
        _info("phases", [1, 12, "h2", "w2"]),
        _info("image", [1, 3, "h", "w"]),
        _info("strength", [1, 1, 1, 1]),
    ]
    finish = RUNNERS[runner](out.model(inputs, {pixels: info}))
    over = np.full((1, 12, 2, 3), 1.004, np.float32)  # 255 * 1.004 + 0.5 = 256.5
    feeds = {
        "image": np.ones((1, 3, 4, 6), np.float32),
        "strength": np.ones((1, 1, 1, 1), np.float32),
    }
    (pictures,) = finish(feeds | {"phases": over}).values()
    assert (pictures == 255).all()


def _phases(picture: np.ndarray) -> np.ndarray:
    """[n, C, 2h, 2w] -> [n, 4C, h, w], channel c * 4 + py * 2 + px (ONNX's CRD order)."""
    n, c, height, width = picture.shape
    split = picture.reshape(n, c, height // 2, 2, width // 2, 2)
    return np.ascontiguousarray(
        split.transpose(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, height // 2, width // 2)
    )


@pytest.mark.parametrize(("kernel", "inputs", "outputs"), [(9, 4, 3), (3, 8, 4), (5, 1, 2)])
def test_space_to_depth_kernel_computes_the_same_convolution(kernel, inputs, outputs):
    rng = np.random.default_rng(kernel)
    weight = rng.standard_normal((outputs, inputs, kernel, kernel)).astype(np.float32)
    picture = rng.standard_normal((2, inputs, 40, 36)).astype(np.float32)
    direct = _conv_model([helper.make_node("Conv", ["x", "w"], ["y"])], weight)
    folded = _conv_model(
        [helper.make_node("Conv", ["x", "w"], ["y"])], space_to_depth_kernel(weight)
    )
    (want,) = _session(direct).run(None, {"x": picture})
    (got,) = _session(folded).run(None, {"x": _phases(picture)})
    assert got.shape == (2, 4 * outputs, (40 - kernel + 1) // 2, (36 - kernel + 1) // 2)
    assert np.abs(got - _phases(want)).max() < 1e-4


@pytest.mark.parametrize(("inputs", "outputs"), [(8, 4), (3, 5)])
def test_upsampling_kernel_computes_upsample_pad_and_convolution(inputs, outputs):
    rng = np.random.default_rng(inputs)
    weight = rng.standard_normal((outputs, inputs, 3, 3)).astype(np.float32)
    picture = rng.standard_normal((2, inputs, 20, 18)).astype(np.float32)
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    direct = _conv_model(
        [
            helper.make_node("Resize", ["x", "", "scales"], ["u"], mode="nearest"),
            helper.make_node("Pad", ["u", "pads"], ["p"], mode="reflect"),
            helper.make_node("Conv", ["p", "w"], ["y"]),
        ],
        weight,
        (scales, pads),
    )
    phased = _conv_model(
        [
            helper.make_node("Pad", ["x", "pads"], ["p"], mode="edge"),
            helper.make_node("Conv", ["p", "w"], ["y"]),
        ],
        upsampling_kernel(weight),
        (pads,),
    )
    (want,) = _session(direct).run(None, {"x": picture})
    (got,) = _session(phased).run(None, {"x": picture})
    assert want.shape == (2, outputs, 40, 36)
    assert np.abs(got - _phases(want)).max() < 1e-4


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("channels", [3, 8])
def test_unfold_puts_each_phase_in_its_place(runner: str, channels: int):
    out = _Emitter("t")
    unfolded = out.unfold("x", channels, "unfold")
    model = out.model(
        [_info("x", [1, 4 * channels, "h", "w"])], {unfolded: _info("y", [1, channels, "H", "W"])}
    )
    phases = np.random.default_rng(channels).standard_normal((1, 4 * channels, 5, 7))
    phases = phases.astype(np.float32)
    (got,) = RUNNERS[runner](model)({"x": phases}).values()
    # Channel c * 4 + py * 2 + px holds pixel (2y + py, 2x + px) of channel c.
    want = phases.reshape(1, channels, 2, 2, 5, 7).transpose(0, 1, 4, 2, 5, 3)
    assert np.array_equal(got, want.reshape(1, channels, 10, 14))


def _conv_model(
    nodes: list[onnx.NodeProto], weight: np.ndarray, constants: tuple[onnx.TensorProto, ...] = ()
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w"), *constants],
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
