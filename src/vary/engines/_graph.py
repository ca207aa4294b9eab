"""The multistyle network, rebuilt from the shipped ONNX file's weights for speed.

The shipped graph computes each conditional instance norm as a dozen separate passes (two
means, subtract, power, square root, divide, then the style's scale and shift, each built from
the style vector by ``Unsqueeze -> Mul(table) -> ReduceSum -> Reshape``), reflect-pads before
every convolution, and takes one style vector per call. :func:`build_graphs` reads its layers
and writes the same network as two graphs:

- ``head`` maps ``image`` [1, 3, h, w] to the first convolution's output (9x9, 40% of the
  multiply-adds), not yet normalised, with its per-channel ``mean`` and ``variance`` [32]. It
  does not depend on the style, so a request runs it once for all n variations. The output
  leaves the head reflect-padded for the next convolution and cut into ``strip_0`` ...
  ``strip_15``, horizontal strips of rows (a reflect pad commutes with the per-pixel scale,
  shift and Relu that come between).
- ``body`` maps the strips, the moments, the ``image`` and ``style_weights`` [1, 26] to one
  look: one look per call, so that each norm applies the look's own scale and shift
  (``style_weights @ table``) in the pass that normalises. The two stride-2 stages run strip
  by strip, so that neither the full-size stage nor the half-size one is ever in memory whole
  (see ``_emit_strided_stages``); their norms take moments from the head and from sums over
  the strips. Each later norm is one ``InstanceNormalization`` (or the mean/variance chain
  OpenVINO fuses, then the scale and shift). The decoder, whose convolutions write 8, 4 and 3
  channels (SIMD lanes of eight fill them badly), runs at half size on "phases", four pixels
  of a picture twice the size held as four channels (see ``_emit_tail``): each upsampling and
  its convolution are one convolution, and no full-size tensor is upsampled, padded or
  unfolded before the last step. With ``finish`` the body also mixes the look with the
  ``image`` by ``strength`` and rounds to ``pictures`` uint8 [1, h, w, 3], ready to encode;
  without it, it ends in ``stylized`` [1, 3, h, w] as the shipped model does (the
  equivalence tests compare that).

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

__all__ = [
    "MIN_HEIGHT",
    "Norm",
    "StyleGraphs",
    "build_graphs",
    "space_to_depth_kernel",
    "upsampling_kernel",
]

Norm = Literal["instance", "moments"]
STYLE_INPUT = "style_weights"
_OPSET = 18
# The two stride-2 stages run in this many strips (see _emit_strips): at 1024x1024, 8 MB each.
_STRIPS = 16
#: The fewest rows a picture may have: one row per strip after the two stride-2 stages.
MIN_HEIGHT = 4 * _STRIPS


@dataclass(frozen=True)
class StyleGraphs:
    """The network as a style-independent ``head`` and an n-look ``body`` (see the module)."""

    head: onnx.ModelProto
    body: onnx.ModelProto


def build_graphs(
    model: onnx.ModelProto, *, norm: Norm = "instance", finish: bool = True
) -> StyleGraphs:
    """Rebuild ``model`` (the shipped ``multistyle26.onnx``) as a :class:`StyleGraphs`.

    ``norm`` picks how the graphs spell a normalisation, for the runtime that will run them:
    ``"instance"`` (onnxruntime) as ONNX's ``InstanceNormalization``, one kernel, and a norm
    whose moments are known as a 1x1 convolution that the Relu after it joins; ``"moments"``
    (OpenVINO) as mean, centre, variance and scale, which OpenVINO fuses into its own MVN
    kernel, and a norm whose moments are known as ``BatchNormalization``.
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
        # Pixel r of the output is pixel r // 2 of the input (what upsampling_kernel assumes).
        floor_half = (
            attrs.get("mode") == b"nearest"
            and attrs.get("coordinate_transformation_mode") == b"asymmetric"
            and attrs.get("nearest_mode") == b"floor"
        )
        if not floor_half or graph.constant(node.input[2]).tolist() != [1, 1, 2, 2]:
            raise ValueError(f"unexpected resize {node.name}")
        return _Layer(op, inputs), node.output[0], []
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

    def normalise(self, x: str, epsilon: float, name: str) -> str:
        """``(x - mean) / sqrt(var + epsilon)`` over each channel's pixels, NCHW, spelled out
        for runtimes that fuse the chain (OpenVINO's MVN)."""
        axes = self.constant(name + "/axes", np.array([2, 3], np.int64))
        mean = self.node("ReduceMean", [x, axes], name + "/mean")
        centred = self.node("Sub", [x, mean], name + "/centred")
        square = self.node("Mul", [centred, centred], name + "/square")
        variance = self.node("ReduceMean", [square, axes], name + "/variance")
        return self.node("Div", [centred, self.deviation(variance, epsilon, name)], name)

    def deviation(self, variance: str, epsilon: float, name: str) -> str:
        """``sqrt(variance + epsilon)``, a norm's divisor."""
        eps = self.constant(name + "/epsilon", np.array(epsilon, np.float32))
        return self.node(
            "Sqrt", [self.node("Add", [variance, eps], name + "/var_eps")], name + "/std"
        )

    def style_norm(self, x: str, layer: _Layer, norm: Norm, name: str) -> str:
        """``layer``'s conditional instance norm of ``x`` [1, C, h, w]: normalised, then
        scaled by ``style_weights @ gamma`` and shifted by ``style_weights @ beta``."""
        scale, shift = self.style_params(layer, name)
        epsilon = layer.params["epsilon"]
        if norm == "instance":
            # The look's scale and shift are InstanceNormalization's own: one pass.
            return self.node("InstanceNormalization", [x, scale, shift], name, epsilon=epsilon)
        shape = [1, -1, 1, 1]
        return self.affine(
            self.normalise(x, epsilon, name + "/normalised"),
            self.reshape(scale, shape, name + "/scale"),
            self.reshape(shift, shape, name + "/shift"),
            name,
        )

    def style_params(self, layer: _Layer, name: str) -> tuple[str, str]:
        """``layer``'s scale and shift for the look, [channels] each."""
        scale, shift = (
            self.reshape(
                self.node(
                    "MatMul",
                    [STYLE_INPUT, self.constant(f"{name}/{part}", layer.params[part])],
                    f"{name}/{part}_mix",
                ),
                [-1],
                f"{name}/{part}_flat",
            )
            for part in ("gamma", "beta")
        )
        return scale, shift

    def unfold(
        self, x: str, channels: int, name: str, *, scale: str | None = None, shift: float = 0.0
    ) -> str:
        """Phases [1, 4C, h, w] (CRD order, see :func:`_emit_tail`) as the picture
        [1, C, 2h, 2w]: a ConvTranspose whose one-hot kernel puts each phase in its place,
        exactly; in onnxruntime three to four times as fast as DepthToSpace. ``scale`` (a
        tensor of one value) multiplies the kernel and ``shift`` is added, in the same pass."""
        weight = np.zeros((4 * channels, 1, 2, 2), np.float32)
        for phase in range(4):
            weight[phase::4, 0, phase // 2, phase % 2] = 1.0
        kernel = self.constant(name + "/w", weight)
        if scale is not None:
            kernel = self.node("Mul", [kernel, scale], name + "/scaled_w")
        inputs = [x, kernel]
        if shift:
            inputs.append(self.constant(name + "/b", np.full(channels, shift, np.float32)))
        return self.node("ConvTranspose", inputs, name, strides=[2, 2], group=channels)

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
    # variance, E[x^2] - E[x]^2, loses no precision; a norm follows, which undoes it.
    centred = out.node(
        "Sub", ["image", out.node("ReduceMean", ["image", axes], "colour")], "centred"
    )
    x = out.conv(out.pad(centred, pad, "pad"), conv.params["weight"], "conv")
    mean, variance = _moments_of_strips(out, [x], _pixels(out, x, "moments"), "moments")
    tensors = [*_emit_strips(out, x), mean, variance]
    outputs = dict(zip(tensors, _head_outputs(channels), strict=True))
    return out.model([_info("image", [1, 3, "h", "w"])], outputs)


def _emit_strips(out: _Emitter, x: str) -> list[str]:
    """``x`` cut into ``_STRIPS`` strips of rows, one per slice of the stride-2 convolution's
    output rows, each reflect-padded for that convolution.

    Output row j reads rows 2j - 1 to 2j + 1, row -1 being row 1 reflected, and column -1
    likewise; no output reads past the last row or column. Strip k holds what output rows
    ``2 * (rows * k // K)`` onwards read, ``rows`` being a quarter of the height: its first row
    is the last row of the strip before. Each strip is padded on its own so that the padded
    picture never exists whole.
    """
    four = out.integer(4, "strips/four")
    height = out.node("Shape", [x], "strips/height", start=2, end=3)
    rows = out.node("Div", [height, four], "strips/rows")
    count = out.integer(_STRIPS, "strips/count")
    # bounds[k]: the middle row that strip k's first output row reads, 4 * (rows * k // K)
    # for ``rows`` a quarter of the height, so that each strip also ends on a row of the
    # second stride-2 convolution's output (see _emit_strided_stages).
    bounds = []
    for k in range(_STRIPS + 1):
        name = f"strips/{k}"
        times = out.node("Mul", [rows, out.integer(k, name + "/k")], name + "/times")
        first = out.node("Div", [times, count], name + "/first")
        bounds.append(out.node("Mul", [first, four], name + "/bound"))
    # One Pad per strip both cuts its rows (negative pads) and reflects its edges: pads are
    # [0, 0, top, 1, 0, 0, bottom, 0], the strip's first row less one (the reflected row -1
    # for the first strip) and what lies below its last row, negated.
    before = out.constant("strips/before", np.array([0, 0], np.int64))
    left_and_after = out.constant("strips/left_and_after", np.array([1, 0, 0], np.int64))
    right = out.integer(0, "strips/right")
    one = out.integer(1, "strips/one")
    strips = []
    for k in range(_STRIPS):
        name = f"strips/{k}"
        top = one if k == 0 else out.node("Sub", [one, bounds[k]], name + "/top")
        bottom = out.node("Sub", [bounds[k + 1], height], name + "/bottom")
        pads = out.node(
            "Concat", [before, top, left_and_after, bottom, right], name + "/pads", axis=0
        )
        strips.append(out.node("Pad", [x, pads], name + "/padded", mode="reflect"))
    return strips


def _head_outputs(channels: int) -> list[onnx.ValueInfoProto]:
    """What the head hands the body: the first convolution's output, padded and in strips,
    and its moments."""
    strips = [_info(f"strip_{k}", [1, channels, f"rows_{k}", "wp"]) for k in range(_STRIPS)]
    moments = [_info("mean", [channels]), _info("variance", [channels])]
    return [*strips, *moments]


def _emit_body(layers: list[_Layer], norm: Norm, *, finish: bool) -> onnx.ModelProto:
    channels = layers[2].params["weight"].shape[0]
    out = _Emitter("body")
    out.names[10] = _emit_strided_stages(out, layers, norm)
    tail = len(layers) - len(_TAIL)
    for number in range(11, tail):
        layer = layers[number]
        x_in = [out.names[i] for i in layer.inputs]
        name = f"{number}/{layer.op}"
        out.names[number] = _emit_layer(out, layer, x_in, norm, name)
    phases = _emit_tail(out, layers, tail, norm)
    styles = _info(STYLE_INPUT, [1, len(layers[3].params["gamma"])])
    inputs = [*_head_outputs(channels), _info("image", [1, 3, "h", "w"]), styles]
    if not finish:
        stylized = out.unfold(phases, 3, "stylized")
        return out.model(inputs, {stylized: _info("stylized", [1, 3, "h", "w"])})
    pictures = _emit_finish(out, phases)
    inputs.append(_info("strength", [1, 1, 1, 1]))
    info = helper.make_tensor_value_info("pictures", onnx.TensorProto.UINT8, [1, "h", "w", 3])
    return out.model(inputs, {pictures: info})


def _emit_strided_stages(out: _Emitter, layers: list[_Layer], norm: Norm) -> str:
    """Layers 3 to 10, strip by strip: the first norm (with the head's moments), Relu, the
    first stride-2 convolution, the second norm, Relu, pad and the second stride-2
    convolution.

    Neither the full-size stage nor the half-size one exists whole: each strip is styled and
    convolved while it sits in the CPU's cache. The second norm needs the half-size stage's
    moments, so it runs in two passes over the strips: the first convolves each strip and sums
    its output and squares while they are in cache; the second norms, pads and convolves each
    strip again from those sums, reading the last row of the strip before (the second
    convolution's rows overlap by one). Each norm and its Relu take one pass (onnxruntime) or
    two (OpenVINO), with the look's scale and shift and the moments.
    """
    first_norm, first_conv, second_norm, _, pad, second_conv = layers[3], *layers[6:11]
    ops = [layer.op for layer in layers[3:11]]
    if ops != ["Norm", "Relu", "Pad", "Conv", "Norm", "Relu", "Pad", "Conv"] or any(
        conv.params["strides"] != [2, 2] or conv.params["weight"].shape[2:] != (3, 3)
        for conv in (first_conv, second_conv)
    ):
        raise ValueError("the network does not start with two 3x3 stride-2 stages")
    if pad.params["pads"].tolist() != [0, 0, 1, 1, 0, 0, 1, 1]:
        raise ValueError("the network's third convolution is not padded by one pixel")

    def styling(layer: _Layer, moments: tuple[str, str], name: str) -> list[str]:
        """What styles a strip by ``layer``'s norm with ``moments`` and the look's scale and
        shift, besides the strip: BatchNormalization's inputs for OpenVINO, and for
        onnxruntime the weight and bias of a 1x1 convolution with one group per channel,
        which it runs with the Relu in one pass (a BatchNormalization and a Relu are two:
        2.2 vs 1.5 ms for an 8 MB strip on one core; OpenVINO ran the convolution slower)."""
        scale, shift = out.style_params(layer, name)
        if norm == "moments":
            return [scale, shift, *moments]
        mean, variance = moments
        deviation = out.deviation(variance, layer.params["epsilon"], name)
        factor = out.node("Div", [scale, deviation], name + "/factor")
        moved = out.node("Mul", [factor, mean], name + "/moved")
        offset = out.node("Sub", [shift, moved], name + "/offset")
        return [out.reshape(factor, [-1, 1, 1, 1], name + "/weight"), offset]

    def styled(x: str, layer: _Layer, inputs: list[str], name: str) -> str:
        if norm == "moments":
            epsilon = layer.params["epsilon"]
            x = out.node("BatchNormalization", [x, *inputs], name + "/styled", epsilon=epsilon)
        else:
            channels = layer.params["gamma"].shape[1]
            x = out.node("Conv", [x, *inputs], name + "/styled", group=channels)
        return out.node("Relu", [x], name + "/relu")

    first = styling(first_norm, ("mean", "variance"), "3/Norm")
    weight = out.constant("6/Conv/w", first_conv.params["weight"])
    halves = [
        out.node(
            "Conv",
            [styled(f"strip_{k}", first_norm, first, f"strips/{k}"), weight],
            f"strips/{k}/half",
            strides=[2, 2],
        )
        for k in range(_STRIPS)
    ]
    # The half-size stage has a quarter of the picture's pixels.
    quarter = out.node(
        "Div",
        [_pixels(out, "image", "7/Norm"), out.constant("7/Norm/four", np.array(4.0, np.float32))],
        "7/Norm/quarter",
    )
    second = styling(second_norm, _moments_of_strips(out, halves, quarter, "7/Norm"), "7/Norm")
    weight = out.constant("10/Conv/w", second_conv.params["weight"])
    axis, one, two = out.integer(2, "7/axis"), out.integer(1, "7/one"), out.integer(2, "7/two")
    last, end = out.integer(-1, "7/last"), out.integer(np.iinfo(np.int64).max, "7/end")
    left = out.constant("9/Pad/left", np.array([0, 0, 0, 1, 0, 0, 0, 0], np.int64))
    quarters = []
    for k, half in enumerate(halves):
        name = f"strips/{k}/second"
        # Row -1 of the half-size stage is row 1 reflected; strip k > 0 starts one row early.
        above = (
            out.node("Slice", [half, one, two, axis], name + "/reflected")
            if k == 0
            else out.node("Slice", [halves[k - 1], last, end, axis], name + "/above")
        )
        rows = out.node("Concat", [above, half], name + "/rows", axis=2)
        x = styled(rows, second_norm, second, name)
        x = out.node("Pad", [x, left], name + "/padded", mode="reflect")
        quarters.append(out.node("Conv", [x, weight], name + "/quarter", strides=[2, 2]))
    return out.node("Concat", quarters, "10/Conv", axis=2)


def _moments_of_strips(out: _Emitter, strips: list[str], count: str, name: str) -> tuple[str, str]:
    """The per-channel mean and variance ([C] each) of ``strips`` stacked by rows, ``count``
    pixels in all: E[x] and E[x^2] - E[x]^2, from one sum and one sum of squares per strip."""
    axes = out.constant(name + "/axes", np.array([0, 2, 3], np.int64))
    sums, squares = (
        [out.node(op, [x, axes], f"{name}/{op}_{k}", keepdims=0) for k, x in enumerate(strips)]
        for op in ("ReduceSum", "ReduceSumSquare")
    )
    mean = out.node("Div", [out.node("Sum", sums, name + "/sum"), count], name + "/mean")
    square = out.node(
        "Div", [out.node("Sum", squares, name + "/square"), count], name + "/mean_square"
    )
    spread = out.node(
        "Sub", [square, out.node("Mul", [mean, mean], name + "/mean_squared")], name + "/spread"
    )
    zero = out.constant(name + "/zero", np.array(0.0, np.float32))
    # Rounding can take a flat channel's spread a little below 0.
    return mean, out.node("Max", [spread, zero], name + "/variance")


def _pixels(out: _Emitter, picture: str, name: str) -> str:
    """How many pixels ``picture`` [1, C, h, w] has, as a float."""
    size = out.node("Shape", [picture], name + "/size", start=2)
    count = out.node("ReduceProd", [size], name + "/pixels_int", keepdims=0)
    return out.node("Cast", [count], name + "/pixels", to=onnx.TensorProto.FLOAT)


def _emit_layer(out: _Emitter, layer: _Layer, x: list[str], norm: Norm, name: str) -> str:
    p = layer.params
    if layer.op == "Pad":
        return out.pad(x[0], layer, name)
    if layer.op == "Conv":
        return out.conv(x[0], p["weight"], name, p["strides"])
    if layer.op == "Norm":
        return out.style_norm(x[0], layer, norm, name)
    return out.node(layer.op, x, name)


# The decoder: two upsampling stages (nearest 2x, pad, 3x3 convolution, norm, Relu), then pad,
# 9x9 convolution, norm, Sigmoid. Its convolutions write 8, 4 and 3 channels, too few for SIMD
# lanes of eight, the last two at full size.
_UPSAMPLING = ("Resize", "Pad", "Conv", "Norm", "Relu")
_TAIL = (*_UPSAMPLING, *_UPSAMPLING, "Pad", "Conv", "Norm", "Sigmoid")


def _emit_tail(out: _Emitter, layers: list[_Layer], start: int, norm: Norm) -> str:
    """The decoder, computed on "phases": a picture [1, C, 2h, 2w] held as [1, 4C, h, w],
    channel ``c * 4 + py * 2 + px`` being pixel (2y + py, 2x + px) of channel c (ONNX's CRD
    order).

    Each upsampling and its convolution become one convolution from the smaller picture to
    phases (:func:`upsampling_kernel`), with four times the output channels; the norms see
    each channel's four phases as one plane. The first stage's phases are unfolded (in 8
    channels at half size); the second stage's stay phases through the 9x9 convolution, which
    reads and writes phases (:func:`space_to_depth_kernel`), and the finish unfolds them once,
    rounded (:meth:`_Emitter.unfold`). No full-size tensor is upsampled, padded or folded.
    """
    tail = layers[start:]
    if tuple(layer.op for layer in tail) != _TAIL:
        raise ValueError("unexpected decoder at the end of the network")
    wide_pad, wide, last_norm = tail[10:13]
    if wide.params["weight"].shape[2] != 2 * wide_pad.params["pads"][2] + 1 or (
        wide_pad.params["pads"][2] % 2 or wide.params["strides"] != [1, 1]
    ):
        raise ValueError("unexpected last convolution")
    first = _emit_upsampling(out, out.names[tail[0].inputs[0]], tail[:5], norm, "tail/up_1")
    x = out.unfold(first, tail[2].params["weight"].shape[0], "tail/up_1/pixels")
    x = _emit_upsampling(out, x, tail[5:10], norm, "tail/up_2")
    x = _pad_phases(out, x, int(wide_pad.params["pads"][2]) // 2, "tail/padded")
    x = out.conv(x, space_to_depth_kernel(wide.params["weight"]), "tail/wide")
    return out.node("Sigmoid", [_phase_norm(out, x, last_norm, norm, "tail/norm")], "tail/look")


def _emit_upsampling(out: _Emitter, x: str, stage: list[_Layer], norm: Norm, name: str) -> str:
    """One upsampling stage from ``x`` [1, C, h, w] to the phases of its output."""
    _, pad, conv, stage_norm, _ = stage
    if pad.params["pads"].tolist() != [0, 0, 1, 1, 0, 0, 1, 1] or (
        conv.params["weight"].shape[2:] != (3, 3) or conv.params["strides"] != [1, 1]
    ):
        raise ValueError("unexpected upsampling stage")
    edge = out.constant(name + "/edge", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    x = out.node("Pad", [x, edge], name + "/edge_padded", mode="edge")
    x = out.conv(x, upsampling_kernel(conv.params["weight"]), name + "/conv")
    return out.node("Relu", [_phase_norm(out, x, stage_norm, norm, name + "/norm")], name)


def _phase_norm(out: _Emitter, x: str, layer: _Layer, norm: Norm, name: str) -> str:
    """``layer``'s norm of phases: a channel's four phase planes lie one after another, so
    seen as [1, C, 4h, w] each channel's pixels are one plane again."""
    channels = layer.params["gamma"].shape[1]
    planes = out.reshape(x, [0, channels, -1, 0], name + "/planes")
    normed = out.style_norm(planes, layer, norm, name)
    return out.reshape(normed, [0, 4 * channels, -1, 0], name + "/phases")


# A Slice end that runs backwards past the first element.
_BEFORE_FIRST = np.iinfo(np.int64).min


def _pad_phases(out: _Emitter, x: str, folded: int, name: str) -> str:
    """Phases padded as their full-size picture is padded by ``2 * folded`` reflected rows and
    columns on each side.

    Full-size row -k is row k. Held as phases, the rows above folded row 0 are folded rows
    ``folded`` down to 1 in phase 0 and ``folded - 1`` down to 0 in phase 1; below the last
    folded row h - 1, rows h - 1 down to h - ``folded`` in phase 0 and h - 2 down to
    h - 1 - ``folded`` in phase 1. The same holds for columns.
    """
    six = out.node(
        "Reshape", [x, _shape_with_size(out, x, [0, -1, 2, 2], name + "/split")], name + "/split"
    )
    # (phase, first folded row, end), read backwards; negative rows count from the last.
    edges = {
        "before": ((0, folded, 0), (1, folded - 1, _BEFORE_FIRST)),
        "after": ((0, -1, -1 - folded), (1, -2, -2 - folded)),
    }
    for phase_axis, axis in ((2, 4), (3, 5)):
        bands = {}
        for side, cuts in edges.items():
            pieces = [
                out.node(
                    "Slice",
                    [
                        six,
                        out.constant(
                            f"{name}/{axis}/{side}/{phase}/starts",
                            np.array([phase, first], np.int64),
                        ),
                        out.constant(
                            f"{name}/{axis}/{side}/{phase}/ends",
                            np.array([phase + 1, end], np.int64),
                        ),
                        out.constant(
                            f"{name}/{axis}/{side}/{phase}/axes",
                            np.array([phase_axis, axis], np.int64),
                        ),
                        out.constant(
                            f"{name}/{axis}/{side}/{phase}/steps", np.array([1, -1], np.int64)
                        ),
                    ],
                    f"{name}/{axis}/{side}/{phase}",
                )
                for phase, first, end in cuts
            ]
            bands[side] = out.node("Concat", pieces, f"{name}/{axis}/{side}", axis=phase_axis)
        six = out.node(
            "Concat", [bands["before"], six, bands["after"]], f"{name}/{axis}", axis=axis
        )
    return out.node("Reshape", [six, _shape_with_size(out, six, [0, -1], name)], name)


def _shape_with_size(out: _Emitter, x: str, leading: list[int], name: str) -> str:
    """A Reshape target: ``leading``, then the last two sides of ``x``."""
    size = out.node("Shape", [x], name + "/size", start=-2)
    lead = out.constant(name + "/leading", np.array(leading, np.int64))
    return out.node("Concat", [lead, size], name + "/shape", axis=0)


def upsampling_kernel(weight: np.ndarray) -> np.ndarray:
    """The kernel that maps a picture, edge-padded by one pixel, to the phases (CRD) of
    ``weight`` [O, C, 3, 3] applied to the picture upsampled 2x (nearest) and reflect-padded
    by one pixel: [4 O, C, 3, 3], applied without padding.

    Upsampled and reflect-padded, row r (-1 to 2h) is row ``min(max(r // 2, 0), h - 1)`` of
    the picture, row ``r // 2 + 1`` of it edge-padded. Output phase py's tap dy reads row
    2y + py + dy - 1: edge-padded row y + 1 + (py + dy - 1) // 2, tap ``1 + (py + dy - 1) // 2``
    of a 3x3 window from row y. Taps that land together add up.
    """
    outputs, inputs, k, _ = weight.shape
    if k != 3:
        raise ValueError("upsampling_kernel takes 3x3 kernels")
    folded = np.zeros((outputs, 2, 2, inputs, 3, 3), np.float32)
    for py in range(2):
        for px in range(2):
            for dy in range(3):
                for dx in range(3):
                    a, b = 1 + (py + dy - 1) // 2, 1 + (px + dx - 1) // 2
                    folded[:, py, px, :, a, b] += weight[:, :, dy, dx]
    return folded.reshape(4 * outputs, inputs, 3, 3)


def space_to_depth_kernel(weight: np.ndarray) -> np.ndarray:
    """The kernel that applies ``weight`` [O, C, k, k] (stride 1) to phases and writes
    phases (both in CRD order): [4 O, 4 C, k // 2 + 1, k // 2 + 1].

    Output phase (py, px) at folded cell (Y, X) is the full-size pixel (2Y + py, 2X + px); its
    tap (dy, dx) reads the full-size pixel (2Y + py + dy, ...), which sits in folded cell
    Y + (py + dy) // 2 at phase (py + dy) % 2.
    """
    outputs, inputs, k, _ = weight.shape
    size = k // 2 + 1  # the last tap, py + dy = k, lands in folded cell k // 2
    folded = np.zeros((outputs, 2, 2, inputs, 2, 2, size, size), np.float32)
    for py in range(2):
        for px in range(2):
            for dy in range(k):
                qy, a = (py + dy) % 2, (py + dy) // 2
                for dx in range(k):
                    qx, b = (px + dx) % 2, (px + dx) // 2
                    folded[:, py, px, :, qy, qx, a, b] = weight[:, :, dy, dx]
    return folded.reshape(4 * outputs, 4 * inputs, size, size)


def _emit_finish(out: _Emitter, phases: str) -> str:
    """``image + strength * (look - image)`` to 8 bits with rounding, as pixels [1, h, w, 3]:
    ``255 * strength * look``, unfolded, plus ``255 * (1 - strength) * image + 0.5``.

    The unfold scales the look and adds the half on the way (its kernel and bias). The look
    (a sigmoid), the picture and ``strength`` lie in 0-1, so the levels lie in 0.5-255.5, and
    the cast to 8 bits truncates them to 0-255 (both runtimes; the finish test checks): no
    floor, and no clip below. The clip above is for bf16, whose steps of one level above 128
    can round 255.5 up to 256, which onnxruntime's cast wraps to 0.
    """
    levels = out.constant("finish/255", np.array(255.0, np.float32))
    one = out.constant("finish/one", np.array(1.0, np.float32))
    keep = out.node("Sub", [one, "strength"], "finish/keep")
    look_levels = out.node("Mul", ["strength", levels], "finish/look_levels")
    image_levels = out.node("Mul", [keep, levels], "finish/image_levels")
    look = out.unfold(phases, 3, "finish/look", scale=look_levels, shift=0.5)
    image = out.node("Mul", ["image", image_levels], "finish/image")
    mixed = out.node("Add", [look, image], "finish/mixed")
    clipped = out.node("Clip", [mixed, "", levels], "finish/clipped")
    pixels = out.node("Cast", [clipped], "finish/uint8", to=onnx.TensorProto.UINT8)
    return out.node("Transpose", [pixels], "finish/channels_last", perm=[0, 2, 3, 1])


def _info(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)
