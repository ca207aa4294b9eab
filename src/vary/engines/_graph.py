"""Rewrites of the multistyle ONNX graph.

The shipped model takes one style vector ``style_weights`` [26] per call. Every conditional
instance norm turns that vector into a per-channel scale and shift with the chain
``Unsqueeze -> Mul(table) -> ReduceSum -> Reshape[1, C, 1, 1]``. Replacing each chain with
``MatMul(style_weights [n, 26], table [26, C]) -> Unsqueeze -> [n, C, 1, 1]`` lets one call carry
n style vectors: the scale and shift broadcast a batch of one picture into n looks at the first
norm, so the style-independent first convolution runs once for all n variations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["batch_style_weights"]

_STYLE_INPUT = "style_weights"
_AXES_NAME = "vary_unsqueeze_axes_2_3"


def batch_style_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` whose ``style_weights`` input is [n, 26] and output [n, 3, h, w].

    Raises ``ValueError`` if the graph does not have the structure described above, so a changed
    model file fails loudly at start-up instead of giving wrong pictures.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    replaced: set[str] = set()
    new_nodes = []
    for unsqueeze in consumers.get(_STYLE_INPUT, []):
        if unsqueeze.op_type != "Unsqueeze":
            raise ValueError(f"unexpected consumer of {_STYLE_INPUT}: {unsqueeze.op_type}")
        replaced.add(unsqueeze.name)
        for mul in consumers[unsqueeze.output[0]]:
            (reduce_sum,) = consumers[mul.output[0]]
            (reshape,) = consumers[reduce_sum.output[0]]
            if (mul.op_type, reduce_sum.op_type, reshape.op_type) != (
                "Mul",
                "ReduceSum",
                "Reshape",
            ):
                raise ValueError(f"unexpected style chain after {unsqueeze.name}")
            replaced.update((mul.name, reduce_sum.name, reshape.name))
            table = mul.input[1]
            mixed = reshape.output[0] + "/mixed"
            new_nodes += [
                helper.make_node("MatMul", [_STYLE_INPUT, table], [mixed], name=mixed),
                helper.make_node(
                    "Unsqueeze", [mixed, _AXES_NAME], [reshape.output[0]], name=mixed + "/unsqueeze"
                ),
            ]
    if not new_nodes:
        raise ValueError(f"no style chains found on {_STYLE_INPUT}")

    # The new nodes read only the graph input and initializers, so they may go first.
    kept = [node for node in graph.node if node.name not in replaced]
    del graph.node[:]
    graph.node.extend(new_nodes + kept)
    graph.initializer.append(numpy_helper.from_array(np.array([2, 3], np.int64), _AXES_NAME))

    (style_input,) = (i for i in graph.input if i.name == _STYLE_INPUT)
    dims = style_input.type.tensor_type.shape.dim
    styles = dims[0].dim_value
    del dims[:]
    dims.add().dim_param = "n"
    dims.add().dim_value = styles
    onnx.checker.check_model(model)
    return model
