"""Choosing and loading the runtime that runs the style network."""

from __future__ import annotations

import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from PIL import Image

from vary.engines import StyleEngine, _runtime, choose_runtime
from vary.engines._package import packaged_models
from vary.engines.style import MODEL_FILE, style_mix
from vary.errors import EngineError

openvino = importlib.import_module("openvino")
NATIVE_BF16 = _runtime.has_native_bf16(openvino)


@pytest.fixture
def without_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def import_module(name: str, package: str | None = None):
        if name == "openvino":
            raise ImportError("No module named 'openvino'")
        return real(name, package)

    monkeypatch.setattr(_runtime.importlib, "import_module", import_module)


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runtime, "has_native_bf16", lambda module: True)


@pytest.fixture
def avx2_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runtime, "has_native_bf16", lambda module: False)


def test_auto_runs_onnxruntime_in_fp32_without_native_bf16(avx2_cpu):
    assert choose_runtime() == ("onnxruntime", "fp32")
    assert choose_runtime("auto", "fp32") == ("onnxruntime", "fp32")


def test_auto_runs_openvino_in_bf16_where_the_cpu_has_it(bf16_cpu):
    assert choose_runtime() == ("openvino", "bf16")
    assert choose_runtime("auto", "bf16") == ("openvino", "bf16")
    assert choose_runtime("openvino", "fp32") == ("openvino", "fp32")
    # Asking for fp32 with auto keeps the runtime measured fastest in fp32.
    assert choose_runtime("auto", "fp32") == ("onnxruntime", "fp32")


def test_named_runtimes(avx2_cpu):
    assert choose_runtime("onnxruntime") == ("onnxruntime", "fp32")
    assert choose_runtime("openvino") == ("openvino", "fp32")
    assert choose_runtime("openvino", "fp32") == ("openvino", "fp32")


def test_bf16_without_native_bf16_is_refused(avx2_cpu):
    with pytest.raises(EngineError, match="no native bf16"):
        choose_runtime("openvino", "bf16")
    with pytest.raises(EngineError, match="no native bf16"):
        choose_runtime("auto", "bf16")


def test_bf16_on_onnxruntime_is_refused():
    with pytest.raises(EngineError, match="OpenVINO only"):
        choose_runtime("onnxruntime", "bf16")


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="runtime must be one of auto, onnxruntime, openvino"):
        choose_runtime("tensorrt")
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        choose_runtime("auto", "fp16")


def test_without_openvino_auto_falls_back_and_openvino_names_the_extra(without_openvino):
    assert choose_runtime() == ("onnxruntime", "fp32")
    with pytest.raises(ImportError, match=r"pip install 'vary\[openvino\]'"):
        choose_runtime("openvino")
    with pytest.raises(ImportError, match=r"vary\[openvino\]"):
        StyleEngine.from_pretrained(precision="bf16")


def test_this_machine_reports_what_it_has():
    # auto follows the CPU: bf16 on OpenVINO where it is native, else onnxruntime fp32.
    expected = ("openvino", "bf16") if NATIVE_BF16 else ("onnxruntime", "fp32")
    assert choose_runtime() == expected


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_engine_runs_on_the_runtime_asked_for(name, tmp_path):
    engine = StyleEngine.from_pretrained(runtime=name, precision="fp32", cache_dir=tmp_path)
    assert (engine.runtime.name, engine.runtime.precision) == (name, "fp32")
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (66, 90, 3), np.uint8))
    first, again = (engine.variations(picture, n=2, seed=11) for _ in range(2))
    assert [v.image.size for v in first] == [(90, 66)] * 2
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))


def test_both_runtimes_give_nearly_the_same_pixels():
    picture = Image.fromarray(np.random.default_rng(2).integers(0, 256, (128, 128, 3), np.uint8))
    looks = [
        np.asarray(
            StyleEngine.from_pretrained(runtime=name).variations(picture, n=1, seed=4)[0].image,
            dtype=int,
        )
        for name in ("onnxruntime", "openvino")
    ]
    assert np.abs(looks[0] - looks[1]).max() <= 1


def test_openvino_keeps_compiled_graphs_in_the_cache_dir(tmp_path):
    engine = StyleEngine.from_pretrained(runtime="openvino", precision="fp32", cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # graphs compile for the sizes they meet
    engine.variations(Image.new("RGB", (64, 64)), n=1, seed=0)
    assert any(tmp_path.iterdir())


def test_openvino_gives_the_same_pixels_after_a_size_is_compiled_again():
    engine = StyleEngine.from_pretrained(runtime="openvino", precision="fp32")
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 96, 3), np.uint8))
    first = engine.variations(picture, n=2, seed=5)
    # Other sizes push this one out of the compiled sizes; it compiles again when it returns.
    for size in [(64, 64), (72, 64), (80, 64)]:
        engine.variations(picture.resize(size), n=1, seed=5)
    again = engine.variations(picture, n=2, seed=5)
    assert [a.image.tobytes() for a in first] == [b.image.tobytes() for b in again]


@pytest.fixture(scope="module")
def onnxruntimes() -> tuple[_runtime.OnnxRuntime, _runtime.OnnxRuntime]:
    """onnxruntime with two lanes, and with one thread (so one lane)."""
    model = onnx.load(str(packaged_models() / MODEL_FILE))
    return _runtime.OnnxRuntime(model, threads=2), _runtime.OnnxRuntime(model, threads=1)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_onnxruntime_lanes_give_each_look_in_order_and_unchanged(onnxruntimes, count):
    lanes, one_lane = onnxruntimes
    image = np.random.default_rng(count).random((1, 3, 64, 72), dtype=np.float32)
    mixes = np.stack([style_mix(seed) for seed in range(count)])
    got, want = (
        list(runtime.pictures(runtime.features(image), mixes, 0.8)) for runtime in (lanes, one_lane)
    )
    assert len(got) == len(want) == count
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_onnxruntime_leaves_looks_not_yet_started_when_the_caller_stops(
    onnxruntimes, monkeypatch: pytest.MonkeyPatch
):
    lanes, _ = onnxruntimes
    image = np.random.default_rng(0).random((1, 3, 64, 72), dtype=np.float32)
    features = lanes.features(image)
    runs = []
    real_run = lanes._run

    def counted(sessions, feeds, *, share=False):
        runs.append(share)
        return real_run(sessions, feeds, share=share)

    monkeypatch.setattr(lanes, "_run", counted)
    pictures = lanes.pictures(features, np.stack([style_mix(seed) for seed in range(8)]), 0.8)
    next(pictures)
    pictures.close()
    # The first look, the one beside it, and perhaps the next each lane took: not all eight.
    assert 2 <= len(runs) <= 4
    assert all(runs)  # side by side, one core each


def test_onnxruntime_threads_stop_spinning_when_a_run_ends(onnxruntimes):
    """Spinning on after a run would take a core from what comes next (the looks after the
    head, the encoding after a look)."""
    lanes, one_lane = onnxruntimes
    sessions = [
        session
        for runtime in (lanes, one_lane)
        for graph in (runtime._head, runtime._body)
        for session in graph.values()
    ]
    assert len(sessions) == 8
    for session in sessions:
        options = session.get_session_options()
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_cores_go_all_to_a_run_alone_and_one_each_to_runs_that_meet():
    cores = _runtime._Cores(2)
    with cores.take() as alone:
        assert alone == 2
    with cores.take(share=True) as first, cores.take() as second:
        assert (first, second) == (1, 1)
    # Runs that were waiting while one had every core: each takes one, as the other waits too.
    taken: list[int] = []
    with cores.take() as everything:
        assert everything == 2
        waiting = [threading.Thread(target=_take_and_note, args=(cores, taken)) for _ in range(2)]
        for thread in waiting:
            thread.start()
        time.sleep(0.2)
    for thread in waiting:
        thread.join(timeout=10)
    assert taken == [1, 1]


def _take_and_note(cores: _runtime._Cores, taken: list[int]) -> None:
    with cores.take() as count:
        taken.append(count)
        time.sleep(0.1)


def test_overlapping_calls_give_the_pixels_of_calls_alone():
    engine = StyleEngine.from_pretrained(runtime="onnxruntime")
    assert engine.max_concurrency == engine.runtime._cores.count
    picture = Image.fromarray(np.random.default_rng(4).integers(0, 256, (96, 128, 3), np.uint8))
    alone = [engine.variations(picture, n=3, seed=seed) for seed in (1, 50)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda seed: engine.variations(picture, n=3, seed=seed), (1, 50)))
    for a, b in zip(alone, together, strict=True):
        assert [v.image.tobytes() for v in a] == [v.image.tobytes() for v in b]
