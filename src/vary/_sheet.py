"""A contact sheet of the named styles, so a person can see them side by side."""

from __future__ import annotations

import importlib.resources

from PIL import Image, ImageDraw

from . import imaging
from .engines import StyleEngine
from .engines._styles import STYLES

__all__ = ["sample_picture", "style_sheet"]

_COLUMNS = 6
_LABEL = 18
_GAP = 6


def sample_picture() -> Image.Image:
    """The photo that ships with vary (a cat, CC0), for sheets made without a picture."""
    data = (importlib.resources.files("vary") / "_data" / "sample.jpg").read_bytes()
    return imaging.decode(data)


def style_sheet(engine: StyleEngine, picture: Image.Image, *, tile: int = 192) -> Image.Image:
    """Every style on ``picture`` (squared to ``tile`` px), labelled ``id name``; default-pool
    styles are marked with ``*``. The first tile is the picture itself."""
    square = imaging.fit(imaging.split_alpha(picture)[0], (tile, tile))
    tiles = [("original", square)] + [
        (f"{s.id} {s.name}{' *' if s.in_default_pool else ''}", engine.stylize(square, {s.id: 1.0}))
        for s in STYLES
    ]
    rows = -(-len(tiles) // _COLUMNS)
    width = _COLUMNS * (tile + _GAP) + _GAP
    height = rows * (tile + _LABEL + _GAP) + _GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, image) in enumerate(tiles):
        row, column = divmod(index, _COLUMNS)
        x, y = _GAP + column * (tile + _GAP), _GAP + row * (tile + _LABEL + _GAP)
        draw.text((x + 2, y + 3), label, fill="black")
        sheet.paste(image, (x, y + _LABEL))
    return sheet
