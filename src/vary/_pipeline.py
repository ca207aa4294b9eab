"""From a picture to its variations: the steps the server, the CLI and the Python API share."""

from __future__ import annotations

import functools
import os
import re
import secrets
from typing import IO

from PIL import Image

from . import imaging
from .engines import Engine, load_engine

__all__ = ["MAX_SEED", "ImageInput", "create_variations", "draw_seed", "parse_size", "vary_image"]

#: Seeds are drawn below this bound; any non-negative int is accepted.
MAX_SEED = 2**31 - 1

ImageInput = str | os.PathLike[str] | bytes | IO[bytes] | Image.Image

_SIZE = re.compile(r"^(\d+)x(\d+)$")


def draw_seed() -> int:
    """A fresh random seed for a request that did not give one."""
    return secrets.randbelow(MAX_SEED)


def parse_size(size: str | tuple[int, int]) -> tuple[int, int]:
    """``"512x512"`` or ``(512, 512)`` -> ``(512, 512)`` (width, height)."""
    if isinstance(size, str):
        match = _SIZE.match(size)
        if not match:
            raise ValueError(f"size must look like '1024x1024', got {size!r}")
        size = (int(match[1]), int(match[2]))
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    return width, height


def vary_image(
    engine: Engine, image: Image.Image, *, n: int, size: tuple[int, int], seed: int
) -> list[Image.Image]:
    """Variations of a decoded picture (RGB or RGBA) at exactly ``size``.

    The picture is centre-cropped to the size; a transparent input gives outputs with the same
    transparency, since the engine sees only colour and the alpha is put back afterwards.
    """
    colour, alpha = imaging.split_alpha(imaging.fit(image, size))
    return [imaging.merge_alpha(out, alpha) for out in engine.variations(colour, n=n, seed=seed)]


@functools.cache
def _default_engine() -> Engine:
    return load_engine()


def _decode(image: ImageInput) -> Image.Image:
    if isinstance(image, Image.Image):
        return imaging.normalise(image)
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, str | os.PathLike):
        with open(image, "rb") as file:
            data = file.read()
    else:
        data = image.read()
    return imaging.decode(data)


def create_variations(
    image: ImageInput,
    *,
    n: int = 1,
    size: str | tuple[int, int] = (1024, 1024),
    seed: int | None = None,
    engine: Engine | None = None,
) -> list[Image.Image]:
    """Return ``n`` variations of ``image`` as PIL images, each exactly ``size``.

    ``image`` is a path, bytes, a binary file object or a PIL image, in any format and shape vary
    accepts. The same ``seed`` gives the same pixels, and variation ``i`` equals the only
    variation of a call with ``seed + i``. ``engine`` defaults to the built-in style engine,
    loaded on first use and kept.

    >>> import vary
    >>> pictures = vary.create_variations("photo.jpg", n=4, size="512x512", seed=7)
    >>> pictures[0].save("variation-0.png")
    """
    if not 1 <= n <= 10:
        raise ValueError(f"n must be between 1 and 10, got {n}")
    picture = _decode(image)
    return vary_image(
        engine or _default_engine(),
        picture,
        n=n,
        size=parse_size(size),
        seed=draw_seed() if seed is None else seed,
    )
