"""From a picture to its variations: the steps the server, the CLI and the Python API share."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import secrets
from collections.abc import Iterator
from typing import IO

from PIL import Image

from . import imaging
from .engines import Controls, Engine, Variation, load_engine
from .errors import InvalidRequestError

__all__ = [
    "AUTO_SIDE",
    "DRAWN_SEEDS",
    "MAX_SEED",
    "MAX_SIDE",
    "MIN_SIDE",
    "ImageInput",
    "check_mask",
    "check_seed",
    "create_variations",
    "draw_seed",
    "load_picture",
    "output_size",
    "vary_image",
]

#: Seeds are drawn below this bound.
DRAWN_SEEDS = 2**31
#: The largest seed of any picture: JavaScript clients read integers exactly up to here.
MAX_SEED = 2**53 - 1
#: Output sides, in pixels.
MIN_SIDE, MAX_SIDE = 64, 2048
#: The longest side of a ``size="auto"`` output.
AUTO_SIDE = 1024

ImageInput = str | os.PathLike[str] | bytes | IO[bytes] | Image.Image

# ASCII digits only: int() would read other scripts' digits too.
_SIZE = re.compile(r"^([0-9]{1,5})x([0-9]{1,5})$")


def draw_seed() -> int:
    """A fresh random seed for a request that did not give one."""
    return secrets.randbelow(DRAWN_SEEDS)


def check_seed(seed: int, n: int) -> None:
    """Refuse a seed whose pictures (``seed`` to ``seed + n - 1``) would leave 0..MAX_SEED,
    so every seed vary returns is one it accepts back."""
    if not 0 <= seed <= MAX_SEED - (n - 1):
        raise InvalidRequestError(
            f"seed must be between 0 and {MAX_SEED - (n - 1)} for n={n}, got {seed}", param="seed"
        )


def output_size(size: str | tuple[int, int], source: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) to make for ``size``: ``"WxH"``, ``(W, H)`` or ``"auto"``.

    ``auto`` keeps the ``source`` picture's aspect ratio with its longest side at
    :data:`AUTO_SIDE`. Sides must lie between :data:`MIN_SIDE` and :data:`MAX_SIDE`.
    """
    if size == "auto":
        width, height = source
        scale = AUTO_SIDE / max(width, height)
        return max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))
    if isinstance(size, str):
        match = _SIZE.match(size)
        if not match:
            raise ValueError(f"size must be 'WxH' or 'auto', got {size!r}")
        size = (int(match[1]), int(match[2]))
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in size):
        raise ValueError(
            f"size sides must be between {MIN_SIDE} and {MAX_SIDE}, got {size[0]}x{size[1]}"
        )
    return size


def check_mask(mask: Image.Image, picture: Image.Image) -> None:
    """Refuse a mask that cannot mean anything for ``picture`` (OpenAI's rules)."""
    if mask.mode != "RGBA":
        raise InvalidRequestError(
            "The mask must have transparency: its fully transparent pixels mark where the "
            "image may change.",
            param="mask",
        )
    if mask.size != picture.size:
        raise InvalidRequestError(
            f"The mask must be the same size as the image: the image is "
            f"{picture.width}x{picture.height}, the mask {mask.width}x{mask.height}.",
            param="mask",
        )


def vary_image(
    engine: Engine,
    picture: Image.Image,
    *,
    n: int,
    size: tuple[int, int],
    seed: int,
    controls: Controls = Controls(),
    fit: imaging.Fit = "cover",
    preserve_color: bool = False,
    mask: Image.Image | None = None,
) -> Iterator[Variation]:
    """Variations of a decoded picture (RGB or RGBA) at exactly ``size``, each yielded as soon
    as the engine has made it; the arguments are checked before this returns.

    The engine sees only colour: the picture's transparency (and the padding of
    ``fit="contain"``) is put back afterwards. ``preserve_color`` keeps the picture's colours
    under the new look; ``mask`` (checked with :func:`check_mask`) limits the change to its
    transparent area.
    """
    check_seed(seed, n)
    colour, alpha = imaging.split_alpha(imaging.fit(picture, size, fit))
    kept = imaging.fit(mask, size, fit) if mask is not None else None
    made = engine.iter_variations(colour, n=n, seed=seed, controls=controls)
    return _finish(made, colour, alpha, kept, preserve_color=preserve_color)


def _finish(
    made: Iterator[Variation],
    colour: Image.Image,
    alpha: Image.Image | None,
    kept: Image.Image | None,
    *,
    preserve_color: bool,
) -> Iterator[Variation]:
    for variation in made:
        image, recipe = variation.image, variation.recipe
        if preserve_color:
            image, recipe = imaging.keep_colours(image, colour), recipe + ", colours kept"
        if kept is not None:
            image, recipe = imaging.apply_mask(colour, image, kept), recipe + ", masked"
        yield dataclasses.replace(variation, image=imaging.merge_alpha(image, alpha), recipe=recipe)


@functools.cache
def _default_engine() -> Engine:
    return load_engine()


def load_picture(image: ImageInput, *, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read a path, bytes, a binary file or a PIL image into a normalised picture."""
    if isinstance(image, Image.Image):
        return imaging.normalise(image)
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, str | os.PathLike):
        with open(image, "rb") as file:
            data = file.read()
    else:
        data = image.read()
    return imaging.decode(data, max_pixels=max_pixels)


def create_variations(
    image: ImageInput,
    *,
    n: int = 1,
    size: str | tuple[int, int] = (1024, 1024),
    seed: int | None = None,
    fit: imaging.Fit = "cover",
    strength: float | None = None,
    style: str | None = None,
    prompt: str | None = None,
    style_image: ImageInput | None = None,
    preserve_color: bool = False,
    mask: ImageInput | None = None,
    engine: Engine | None = None,
) -> list[Image.Image]:
    """Return ``n`` variations of ``image`` as PIL images, each exactly ``size``.

    ``image`` (and ``style_image`` and ``mask``) is a path, bytes, a binary file object or a
    PIL image, in any format and shape vary accepts. ``size`` is ``"WxH"``, ``(W, H)`` or
    ``"auto"`` (the picture's aspect, longest side 1024), sides 64 to 2048; ``fit`` is
    ``"cover"`` (crop), ``"contain"`` (pad, transparent) or ``"stretch"``. The same ``seed``
    gives the same pixels, and variation ``i`` equals the only variation of a call with
    ``seed + i``. ``strength`` (0 to 1), ``style`` (a name or ``"name:0.6,name:0.4"``),
    ``prompt``, ``style_image`` and ``preserve_color`` steer the look; ``mask`` limits the
    change to its transparent pixels. ``engine`` defaults to the built-in style engine, loaded
    on first use and kept.

    >>> import vary
    >>> pictures = vary.create_variations("photo.jpg", n=4, size="512x512", seed=7)
    >>> pictures[0].save("variation-0.png")
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    picture = load_picture(image)
    masking = load_picture(mask) if mask is not None else None
    if masking is not None:
        check_mask(masking, picture)
    controls = Controls(
        strength=strength,
        style=style,
        prompt=prompt,
        style_image=load_picture(style_image).convert("RGB") if style_image is not None else None,
    )
    variations = vary_image(
        engine or _default_engine(),
        picture,
        n=n,
        size=output_size(size, picture.size),
        seed=draw_seed() if seed is None else seed,
        controls=controls,
        fit=fit,
        preserve_color=preserve_color,
        mask=masking,
    )
    return [variation.image for variation in variations]
