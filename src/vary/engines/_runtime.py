"""The runtimes that run the style network's rebuilt graphs (``_graph.build_graphs``).

onnxruntime is a dependency; OpenVINO is optional (``pip install 'vary[openvino]'``) and
imported only when asked for or when ``auto`` may pick it. Each compiles the head and the body
once, at load. A call runs the head once per picture and the body once per look; a look's
pixels do not depend on what else is made with it, nor on how many threads ran it.
onnxruntime runs several looks at once, one core each, when a request has enough of them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
import onnxruntime as ort

from ..errors import EngineError
from ._graph import Norm, build_graphs

__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "StyleRuntime",
    "choose_runtime",
    "has_native_bf16",
    "load_runtime",
]

RUNTIMES = ("auto", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16")
OPENVINO_HINT = "install it with: pip install 'vary[openvino]'"


class StyleRuntime(Protocol):
    """Runs the head once per picture and the body once per look."""

    name: str
    precision: str
    #: How many engine calls may overlap.
    max_concurrency: int

    def features(self, image: np.ndarray) -> dict[str, Any]:
        """The head's outputs for ``image`` [1, 3, h, w] float32 (h and w multiples of 4, at
        least ``MIN_HEIGHT`` rows), by name, and ``image`` itself, which each look is mixed
        with."""
        ...

    def pictures(
        self, features: dict[str, Any], mixes: np.ndarray, strength: float
    ) -> Iterator[np.ndarray]:
        """For each style mix (a row of ``mixes`` [n, 26]), its look [h, w, 3] uint8, mixed by
        ``strength`` with the picture the head saw; yielded in order, each as soon as it is
        made."""
        ...


def load_runtime(
    model: onnx.ModelProto,
    *,
    runtime: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> StyleRuntime:
    """Rebuild ``model`` and compile it on ``runtime`` at ``precision``.

    ``auto`` runs OpenVINO in bf16 where OpenVINO is installed and the CPU computes bf16
    natively (AVX512-BF16 or AMX: half the memory traffic, about 1.7x faster in the issue's
    measurements), and onnxruntime in fp32 everywhere else: on AVX2 CPUs, the rebuilt graphs
    ran as fast on onnxruntime as on OpenVINO in fp32 (faster for one picture), in about half
    the memory (see the README's benchmark).
    ``precision="bf16"`` needs OpenVINO and a CPU with native bf16; it changes pixels by about
    half a level of 255. ``cache_dir`` keeps OpenVINO's compiled graphs between starts.
    """
    chosen, chosen_precision = choose_runtime(runtime, precision)
    if chosen == "onnxruntime":
        return OnnxRuntime(model, threads)
    openvino = importlib.import_module("openvino")
    return OpenVinoRuntime(openvino, model, chosen_precision, threads, cache_dir)


def choose_runtime(runtime: str = "auto", precision: str = "auto") -> tuple[str, str]:
    """The runtime and precision that :func:`load_runtime` would use here, without loading.

    Raises ``ValueError`` for an unknown name, :class:`~vary.errors.EngineError` for a choice
    this machine cannot honour, and ``ImportError`` naming the extra to install when OpenVINO
    is asked for but missing.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if runtime == "onnxruntime":
        if precision == "bf16":
            raise EngineError("bf16 runs on OpenVINO only: use runtime openvino, or fp32")
        return "onnxruntime", "fp32"
    openvino = _import_openvino(required=runtime == "openvino" or precision == "bf16")
    bf16 = openvino is not None and has_native_bf16(openvino)
    if precision == "bf16" and not bf16:
        raise EngineError(
            "bf16 was asked for, but this CPU has no native bf16 (OpenVINO lists none)"
        )
    if openvino is None or (runtime == "auto" and (not bf16 or precision == "fp32")):
        return "onnxruntime", "fp32"
    return "openvino", "bf16" if bf16 and precision != "fp32" else "fp32"


def has_native_bf16(openvino: Any) -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 on this CPU."""
    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


def _import_openvino(*, required: bool) -> Any:
    """OpenVINO's module, or None when it is missing and not required."""
    try:
        return importlib.import_module("openvino")
    except ImportError:
        if required:
            raise ImportError(f"the OpenVINO runtime is not installed; {OPENVINO_HINT}") from None
        return None


class _Runtime:
    """What both runtimes share: the feeds of the body."""

    norm: Norm

    @staticmethod
    def _body_feeds(features: dict[str, Any], mix: np.ndarray, strength: float) -> dict[str, Any]:
        return features | {
            "style_weights": np.ascontiguousarray(mix[None], np.float32),
            "strength": np.full((1, 1, 1, 1), strength, np.float32),
        }


class _Cores:
    """The cores a runtime may use, handed out run by run.

    A run that finds no other waiting takes them all; runs that meet others take one core each,
    so that calls which overlap (the looks of one request, or two requests) run side by side
    instead of taking turns with every core: one core each is 1.15-1.25x faster on two cores,
    with no waiting for the slower thread after each step.
    """

    def __init__(self, count: int):
        self.count = count
        self._free = count
        self._waiting = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def take(self, *, share: bool = False) -> Iterator[int]:
        """Wait for a free core; give how many this run has. ``share``: take one core even if
        the run is alone (it knows others are coming)."""
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: self._free > 0)
            self._waiting -= 1
            alone = not share and not self._waiting and self._free == self.count
            taken = self.count if alone else 1
            self._free -= taken
        try:
            yield taken
        finally:
            with self._changed:
                self._free += taken
                self._changed.notify_all()


class OnnxRuntime(_Runtime):
    name = "onnxruntime"
    precision = "fp32"
    # One InstanceNormalization kernel beats the spelled-out chain in onnxruntime.
    norm: Norm = "instance"

    def __init__(self, model: onnx.ModelProto, threads: int | None):
        graphs = build_graphs(model, norm=self.norm)
        self._cores = _Cores(threads or os.cpu_count() or 1)
        #: Calls may overlap: each run takes its cores from ``_cores``.
        self.max_concurrency = self._cores.count
        # Each graph on every core and on one core: the same pixels either way (tested).
        self._head = _sessions(graphs.head, self._cores.count)
        self._head_outputs = [output.name for output in graphs.head.graph.output]
        self._body = _sessions(graphs.body, self._cores.count)

    def _run(
        self,
        sessions: dict[bool, ort.InferenceSession],
        feeds: dict[str, Any],
        *,
        share: bool = False,
    ) -> list[Any]:
        with self._cores.take(share=share) as taken:
            outputs: list[Any] = sessions[taken > 1].run(None, feeds)
            return outputs

    def features(self, image: np.ndarray) -> dict[str, Any]:
        outputs = self._run(self._head, {"image": image})
        return dict(zip(self._head_outputs, outputs, strict=True)) | {"image": image}

    def pictures(
        self, features: dict[str, Any], mixes: np.ndarray, strength: float
    ) -> Iterator[np.ndarray]:
        def run(mix: np.ndarray, *, share: bool = False) -> np.ndarray:
            feeds = self._body_feeds(features, mix, strength)
            picture: np.ndarray = self._run(self._body, feeds, share=share)[0][0]
            return picture

        lanes = self._cores.count
        # One look per core, side by side, each lane taking the next look as soon as it is
        # free (no lane waits for the other); the looks left over run alone, on every core.
        side_by_side = len(mixes) - len(mixes) % lanes if lanes > 1 else 0
        if side_by_side:
            pool = ThreadPoolExecutor(lanes, thread_name_prefix="vary-lane")
            try:
                made = [pool.submit(run, mix, share=True) for mix in mixes[:side_by_side]]
                yield from (future.result() for future in made)
            finally:  # a caller that stops early leaves the looks not yet started undone
                pool.shutdown(cancel_futures=True)
        for mix in mixes[side_by_side:]:
            yield run(mix)


def _sessions(model: onnx.ModelProto, cores: int) -> dict[bool, ort.InferenceSession]:
    """``model`` loaded to run on all ``cores`` (key True) and on one core (key False)."""
    one = _session(model, 1)
    return {True: _session(model, cores) if cores > 1 else one, False: one}


def _session(model: onnx.ModelProto, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    # The head and the body take turns, so one memory arena for both peaks at the larger of
    # their needs, not at the sum (at 1024x1024: 0.75 GB, not 1.0 GB, for the whole process).
    _share_one_arena()
    options.add_session_config_entry("session.use_env_allocators", "1")
    # A memory pattern, planned after the first run, would be a block on top of what the
    # arena already holds from that run: a third more memory from the second request on.
    options.enable_mem_pattern = False
    # Each session has its own threads, which spin for work between its steps but also, by
    # default, for a while after its run: the head's spun on while the looks began, and a
    # look's while its picture was encoded (measured: 8-25 ms slower encoding after a run).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@functools.cache
def _share_one_arena() -> None:
    """Register the process's shared CPU arena with onnxruntime, once."""
    memory = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    # -1: onnxruntime's defaults for the arena's growth and limits.
    ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, -1, -1, -1))


class OpenVinoRuntime(_Runtime):
    """OpenVINO, with the graphs compiled for each picture size they meet.

    Compiled for one size, the network ran 1.5x faster than compiled for any size (measured at
    1024x1024: OpenVINO then plans every buffer and picks its kernels ahead). Compiling takes
    about a second at 1024x1024, on the first picture of each size (with ``cache_dir``, less
    on later starts); the last ``_SIZES`` sizes stay compiled. A look's pixels depend on the
    size's compiled graph only, so they are the same at every call.
    """

    name = "openvino"
    # OpenVINO fuses the mean/variance chain into its MVN kernel.
    norm: Norm = "moments"
    # Its infer requests serve one call at a time.
    max_concurrency = 1
    _SIZES = 2

    def __init__(
        self,
        openvino: Any,
        model: onnx.ModelProto,
        precision: str,
        threads: int | None,
        cache_dir: str | os.PathLike[str] | None,
    ):
        self._core = openvino.Core()
        if cache_dir is not None:
            self._core.set_property({"CACHE_DIR": str(Path(cache_dir))})
        self._config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = str(threads)
        self.precision = precision
        graphs = build_graphs(model, norm=self.norm)
        self._head_graph = graphs.head.SerializeToString()
        self._body_graph = graphs.body.SerializeToString()
        self._head_outputs = [output.name for output in graphs.head.graph.output]
        # Picture size -> its compiled head and (once the head's outputs are known) body.
        self._compiled: OrderedDict[tuple[int, ...], dict[str, Any]] = OrderedDict()

    def _compile(self, graph: bytes, shapes: dict[str, list[int]]) -> Any:
        model = self._core.read_model(graph, b"")
        model.reshape(shapes)
        return self._core.compile_model(model, "CPU", self._config).create_infer_request()

    def _for_size(self, size: tuple[int, ...]) -> dict[str, Any]:
        if size in self._compiled:
            self._compiled.move_to_end(size)
        else:
            self._compiled[size] = {}
            while len(self._compiled) > self._SIZES:
                self._compiled.popitem(last=False)
        return self._compiled[size]

    def features(self, image: np.ndarray) -> dict[str, Any]:
        compiled = self._for_size(image.shape[2:])
        if "head" not in compiled:
            compiled["head"] = self._compile(self._head_graph, {"image": list(image.shape)})
        head = compiled["head"]
        head.infer({"image": image})
        # The head's output buffers are reused by its next call; the body reads them in place.
        outputs = {name: head.get_output_tensor(i) for i, name in enumerate(self._head_outputs)}
        return outputs | {"image": image}

    def pictures(
        self, features: dict[str, Any], mixes: np.ndarray, strength: float
    ) -> Iterator[np.ndarray]:
        compiled = self._for_size(features["image"].shape[2:])
        for mix in mixes:
            feeds = self._body_feeds(features, mix, strength)
            if "body" not in compiled:
                shapes = {name: list(value.shape) for name, value in feeds.items()}
                compiled["body"] = self._compile(self._body_graph, shapes)
            compiled["body"].infer(feeds)
            # The output buffer is reused by the next call: copy it out.
            yield np.array(compiled["body"].get_output_tensor(0).data[0], np.uint8)
