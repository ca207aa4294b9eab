"""Test doubles: an engine that is instant and deterministic, for tests of everything around it."""

from __future__ import annotations

import os
from typing import Self

import numpy as np
from PIL import Image

from vary.engines import Engine


class FakeEngine(Engine):
    """Shifts the colours of the input by an amount drawn from each variation's seed."""

    model_id = "vary-style"

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int], int, int]] = []

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, *, threads: int | None = None
    ) -> Self:
        return cls()

    def variations(self, image: Image.Image, *, n: int, seed: int) -> list[Image.Image]:
        self.calls.append((image.size, n, seed))
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64)
        shifts = [np.random.default_rng(seed + i).integers(1, 255, size=3) for i in range(n)]
        return [Image.fromarray(((pixels + shift) % 256).astype(np.uint8)) for shift in shifts]
