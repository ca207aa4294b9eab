"""Where vary's time goes: onnxruntime's profile of the engine, and the pipeline stage by stage.

The engine is built by ``StyleEngine.from_pretrained()`` itself, exactly as the server builds
it, while ``onnxruntime.InferenceSession`` is wrapped to record (and, for the profile, to switch
profiling on for) every session it creates; so the profile follows whatever the engine's graph
and options become. The stage timings call vary's own functions, some of them private
(``vary.engines.style._planes``): if those change, this section reports
the error and the rest of the run goes on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from .workload import MODEL_PATH, SEED, Workload

__all__ = ["Stage", "pipeline_stages", "profile_engine"]

# Not ConvTranspose: the shipped network has none, and vary's only moves phases into place
# (vary.engines._graph._Emitter.unfold), which is no convolution work.
_CONV_OPS = frozenset({"Conv", "FusedConv", "NhwcFusedConv"})
_KERNEL_SUFFIX = "_kernel_time"


@contextlib.contextmanager
def _sessions_created(profile_prefix: str | None = None) -> Iterator[list[ort.InferenceSession]]:
    """Every onnxruntime session created in the block; each profiles itself given a prefix."""
    created: list[ort.InferenceSession] = []
    original = ort.InferenceSession

    class Recorded(original):  # type: ignore[misc,valid-type]
        def __init__(
            self, model: Any, sess_options: ort.SessionOptions | None = None, *args: Any, **kw: Any
        ) -> None:
            if profile_prefix:
                sess_options = sess_options or ort.SessionOptions()
                sess_options.enable_profiling = True
                sess_options.profile_file_prefix = profile_prefix
            super().__init__(model, sess_options, *args, **kw)
            created.append(self)

    ort.InferenceSession = Recorded
    try:
        yield created
    finally:
        ort.InferenceSession = original


def _engine(profile_prefix: str | None = None) -> tuple[Any, list[ort.InferenceSession]]:
    """vary's engine, loaded as the server loads it, and the sessions it created."""
    from vary.engines import StyleEngine

    with _sessions_created(profile_prefix) as sessions:
        engine = StyleEngine.from_pretrained()
    return engine, sessions


def _profile(
    sessions: list[ort.InferenceSession], run: Callable[[], object], top: int
) -> dict[str, Any]:
    """Profile ``run()``: the kernels of every model run that started during it."""
    since = time.time_ns()  # onnxruntime's profile clock is the system clock
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    kernels, run_seconds = [], 0.0
    for session in sessions:
        events = json.loads(Path(session.end_profiling()).read_text())
        found, seconds = _measured(events, session.get_profiling_start_time_ns(), since)
        kernels += found
        run_seconds += seconds
    if not kernels:
        raise RuntimeError("the profile holds no model run")
    return {"seconds": wall, "model_run_ms": run_seconds * 1e3, **_summarise(kernels, top)}


def _one_hot(index: int) -> np.ndarray:
    weights = np.zeros(26, dtype=np.float32)
    weights[index % 26] = 1.0
    return weights


def profile_engine(work: Workload, n: int, top: int = 14) -> dict[str, Any]:
    """Profile ``variations(n=n)`` at ``work.size`` after a warm-up, and the original graph run
    ``n`` times (one call per picture, as the plain way does) for comparison."""
    image = np.ascontiguousarray(
        (np.asarray(work.picture, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
    )
    with tempfile.TemporaryDirectory(prefix="vary-bench-") as scratch:
        engine, sessions = _engine(str(Path(scratch) / "ours"))
        engine.variations(work.picture, n=1, seed=SEED)
        ours = _profile(sessions, lambda: engine.variations(work.picture, n=n, seed=SEED), top)
        engine.close()
        plain = _session(onnx.load(str(MODEL_PATH)), str(Path(scratch) / "plain"))

        def run_plain(count: int) -> None:
            for i in range(count):
                plain.run(None, {"image": image, "style_weights": _one_hot(i)})

        run_plain(1)
        plain_graph = _profile([plain], lambda: run_plain(n), top)
    return {"size": work.size, "n": n, "ours": ours, "plain_graph": plain_graph}


def _session(model: onnx.ModelProto, profile_prefix: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _measured(
    events: list[dict[str, Any]], start_ns: int, since_ns: int
) -> tuple[list[dict[str, Any]], float]:
    """The kernel events of the model runs that started at or after ``since_ns``, and the
    seconds those runs took; event times count microseconds from ``start_ns``."""
    windows = [
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "Session"
        and e.get("name") == "model_run"
        and start_ns + e["ts"] * 1000 >= since_ns
    ]
    kernels = [
        e
        for e in events
        if e.get("cat") == "Node"
        and e.get("name", "").endswith(_KERNEL_SUFFIX)
        and any(lo <= e["ts"] <= hi for lo, hi in windows)
    ]
    return kernels, sum(hi - lo for lo, hi in windows) / 1e6


def _conv_flops(event: dict[str, Any]) -> float:
    """FLOPs of one Conv kernel as executed: onnxruntime's NCHWc layout pads channels to its
    block, so this can exceed the graph's count for thin layers."""
    shapes = event["args"]
    output = next(iter(shapes["output_type_shape"][0].values()))
    weight = next(iter(shapes["input_type_shape"][1].values()))
    return 2.0 * math.prod(output) * math.prod(weight[1:])


def _summarise(kernels: list[dict[str, Any]], top: int) -> dict[str, Any]:
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    by_node: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    conv_flops = 0.0
    for event in kernels:
        op = event["args"].get("op_name", "?")
        node = event["name"].removesuffix(_KERNEL_SUFFIX)
        for table, key in ((by_op, op), (by_node, f"{node} ({op})")):
            table[key][0] += event["dur"] / 1e3
            table[key][1] += 1
        if op in _CONV_OPS:
            conv_flops += _conv_flops(event)
    kernel_ms = sum(ms for ms, _ in by_op.values())
    conv_ms = sum(by_op[op][0] for op in _CONV_OPS if op in by_op)

    def rows(table: dict[str, list[float]]) -> list[dict[str, Any]]:
        ranked = sorted(table.items(), key=lambda item: -item[1][0])[:top]
        return [
            {"name": k, "ms": ms, "calls": int(c), "share": ms / kernel_ms} for k, (ms, c) in ranked
        ]

    return {
        "kernel_ms": kernel_ms,
        "conv_ms": conv_ms,
        "conv_gflops_executed": conv_flops / 1e9,
        "conv_kernel_gflops_per_s": conv_flops / conv_ms / 1e6 if conv_ms else None,
        "by_op": rows(by_op),
        "by_node": rows(by_node),
    }


@dataclass(frozen=True)
class Stage:
    name: str
    #: Median milliseconds of one occurrence.
    ms: float
    #: Occurrences in one request of ``n`` variations.
    count: int
    inside_model: bool = False

    @property
    def total_ms(self) -> float:
        return self.ms * self.count

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_ms": self.total_ms}


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _responder(text: str, n: int, size: int) -> Callable[[], bytes]:
    """Build and serialise the response body of ``n`` copies of ``text`` as the server does:
    vary's pydantic response model, as JSON bytes by its ``to_json``. Plain dicts and
    ``json.dumps`` stand in if the API package does not import."""
    try:
        from vary.api import protocol
    except ImportError:  # the API package mid-edit: time the JSON part alone
        body = {"created": 0, "data": [{"b64_json": text, "seed": SEED + i} for i in range(n)]}
        return lambda: _dumps(body)

    def respond() -> bytes:
        items = [protocol.Image(b64_json=text, seed=SEED + i) for i in range(n)]
        answer = protocol.ImagesResponse(created=0, data=items, size=f"{size}x{size}")
        return answer.to_json()

    return respond


def pipeline_stages(work: Workload, n: int, repeats: int = 3) -> list[Stage]:
    """Each step of one ``b64_json`` request of ``n`` variations, timed alone.

    The head runs once per picture; the body once per look, as the engine runs them (side by
    side on onnxruntime), and already mixes back and rounds to 8 bits.
    """
    from vary import imaging
    from vary.engines import style

    size = (work.size, work.size)
    picture = imaging.decode(work.data)
    fitted = imaging.fit(picture, size)
    image_in = style._planes(fitted)
    mixes = np.stack([style.style_mix(SEED + i) for i in range(n)])
    engine, _ = _engine()
    runtime = engine.runtime
    features = runtime.features(image_in)

    def body() -> list[np.ndarray]:
        return list(runtime.pictures(features, mixes, style.DEFAULT_STRENGTH))

    image = Image.fromarray(body()[0])  # also the warm-up
    png = imaging.encode(image, "png")
    text = base64.b64encode(png).decode()

    stages = [
        Stage("decode upload (JPEG)", _median_ms(lambda: imaging.decode(work.data), repeats), 1),
        Stage("fit (crop + Lanczos)", _median_ms(lambda: imaging.fit(picture, size), repeats), 1),
        Stage("to float32 planes, padded", _median_ms(lambda: style._planes(fitted), repeats), 1),
        Stage(
            f"model head ({runtime.name} {runtime.precision})",
            _median_ms(lambda: runtime.features(image_in), 2),
            1,
            inside_model=True,
        ),
        Stage(
            f"model body incl. mix back + uint8, all {n} looks",
            _median_ms(body, 2),
            1,
            inside_model=True,
        ),
        Stage("PNG encode (vary default)", _median_ms(lambda: imaging.encode(image, "png"), 3), n),
        Stage("base64", _median_ms(lambda: base64.b64encode(png).decode(), repeats), n),
        Stage("response model + JSON", _median_ms(_responder(text, n, work.size), repeats), 1),
    ]
    engine.close()
    return stages
