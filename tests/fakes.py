"""Test doubles: an engine that is instant and deterministic, for tests of everything around it."""

from __future__ import annotations

import os
from typing import Self

import numpy as np
from PIL import Image

from vary.engines import Controls, Engine, Variation


class FakeEngine(Engine):
    """Shifts the colours of the input by an amount drawn from each variation's seed, scaled by
    the strength (1 when not given), and records every call."""

    model_id = "vary-style"

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int], int, int, Controls]] = []

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        runtime: str = "auto",
        precision: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        if (runtime, precision) != ("auto", "auto"):
            raise ValueError("the fake engine runs on numpy only")
        return cls()

    def variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> list[Variation]:
        self.calls.append((image.size, n, seed, controls))
        strength = 1.0 if controls.strength is None else controls.strength
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64)
        results = []
        for i in range(n):
            shift = np.random.default_rng(seed + i).integers(1, 255, size=3)
            shifted = (pixels + np.rint(shift * strength).astype(np.int64)) % 256
            recipe = f"fake shift {shift.tolist()}, strength {strength:g}"
            results.append(Variation(Image.fromarray(shifted.astype(np.uint8)), seed + i, recipe))
        return results
