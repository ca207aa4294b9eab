"""FLOPs of the style network, counted from its graph, and the CPU's matmul peak via onnxruntime.

The network pads with explicit ``Pad`` nodes whose pads are computed in the graph, so onnx's
shape inference alone cannot see the Conv shapes. onnxruntime's basic optimisation folds those
computations into constants first; then shape inference at a concrete height and width gives
every Conv's output, and its MACs are ``output elements * (in channels / group) * kh * kw``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

__all__ = ["ConvCost", "MatmulProbe", "conv_costs", "matmul_peak", "picture_flops"]

_CONV_OPS = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class ConvCost:
    name: str
    output_shape: tuple[int, ...]
    macs: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


@cache
def _folded(model_path: Path) -> onnx.ModelProto:
    """``model_path`` with its constant subgraphs folded by onnxruntime's basic optimiser."""
    with tempfile.TemporaryDirectory(prefix="vary-bench-") as scratch:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(scratch) / "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def conv_costs(model_path: Path, height: int, width: int) -> list[ConvCost]:
    """Every convolution of the network for one picture of ``height`` x ``width``."""
    model = onnx.ModelProto()
    model.CopyFrom(_folded(model_path))
    image = next(i for i in model.graph.input if len(i.type.tensor_type.shape.dim) == 4)
    dims = image.type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, height, width), strict=True):
        dim.Clear()
        dim.dim_value = value
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {
        info.name: tuple(d.dim_value for d in info.type.tensor_type.shape.dim)
        for info in [*inferred.graph.value_info, *inferred.graph.output]
    }
    weights = {init.name: tuple(init.dims) for init in inferred.graph.initializer}
    costs = [_conv_cost(node, shapes, weights) for node in inferred.graph.node if _is_conv(node)]
    if not costs:
        raise ValueError(f"no convolutions found in {model_path}")
    return costs


def _is_conv(node: onnx.NodeProto) -> bool:
    return node.op_type in _CONV_OPS


def _conv_cost(
    node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]], weights: dict[str, tuple[int, ...]]
) -> ConvCost:
    output = shapes.get(node.output[0], ())
    if not output or not all(output):
        raise ValueError(f"shape inference left {node.name}'s output unknown: {output}")
    weight = weights[node.input[1]]
    # Conv weights are [out, in/group, kh, kw]: each output element takes in/group*kh*kw MACs.
    # ConvTranspose weights are [in, out/group, kh, kw]: each input element gives that many.
    if node.op_type == "Conv":
        macs = int(np.prod(output)) * int(np.prod(weight[1:]))
    else:
        source = shapes[node.input[0]]
        macs = int(np.prod(source)) * int(np.prod(weight[1:]))
    return ConvCost(node.name, output, macs)


def picture_flops(model_path: Path, size: int) -> int:
    """FLOPs of the network's convolutions for one ``size`` x ``size`` picture."""
    return sum(cost.flops for cost in conv_costs(model_path, size, size))


def _matmul_model(side: int) -> bytes:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [side, side])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [side, side])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [side, side])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", [a, b], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


class MatmulProbe:
    """One ``side``-cubed fp32 MatMul in onnxruntime (default threads), ready to run.

    The run times it next to the contenders, once per round, so that the achieved GFLOP/s of a
    round can be set against the peak the CPU gave in that same round.
    """

    def __init__(self, side: int = 2048) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.side = side
        self.flops = 2.0 * side**3
        self._session = ort.InferenceSession(
            _matmul_model(side), options, providers=["CPUExecutionProvider"]
        )
        rng = np.random.default_rng(0)
        self._feeds = {n: rng.standard_normal((side, side), dtype=np.float32) for n in "ab"}
        self.run()

    def run(self) -> None:
        self._session.run(None, self._feeds)

    def gflops(self, seconds: float) -> float:
        return self.flops / seconds / 1e9


def matmul_peak(repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of :class:`MatmulProbe`: best of ``repeats`` after a warm-up, and the median."""
    probe = MatmulProbe()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        probe.run()
        times.append(time.perf_counter() - started)
    return {
        "side": probe.side,
        "best_gflops": probe.gflops(min(times)),
        "median_gflops": probe.gflops(float(np.median(times))),
    }
