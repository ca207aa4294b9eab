"""What one output picture costs to encode: vary's default PNG, Pillow, and the fast PNG writers
on PyPI.

vary depends on Pillow, isal (ISA-L) and imagecodecs; the others are measured when they happen to
be installed (``fpng``, ``fpng-py-fix``, ``opencv-python-headless``) and listed as missing
otherwise. Every encoder runs once per round, interleaved with the others; lossless ones are
checked to decode back to the same pixels.
"""

from __future__ import annotations

import importlib
import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .machine import version_of

__all__ = ["Encoder", "available_encoders", "measure_encoders"]

Encode = Callable[[Image.Image], bytes]


@dataclass(frozen=True)
class Encoder:
    name: str
    #: The PyPI distribution that provides it.
    distribution: str
    lossless: bool
    encode: Encode


def _pillow(fmt: str, **options: Any) -> Encode:
    def encode(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue()

    return encode


def _pillow_encoders() -> list[Encoder]:
    from vary import imaging

    return [
        # What a variation is sent as by default (ISA-L; see vary.imaging._png).
        Encoder("vary default PNG (Up filter, ISA-L level 1)", "isal", True, imaging.encode),
        Encoder("Pillow PNG, default (level 6)", "pillow", True, _pillow("PNG")),
        Encoder("Pillow PNG, level 1", "pillow", True, _pillow("PNG", compress_level=1)),
        Encoder("Pillow JPEG q90", "pillow", False, _pillow("JPEG", quality=90)),
        Encoder("Pillow WebP q90 method 0", "pillow", False, _pillow("WEBP", quality=90, method=0)),
    ]


def _fpng(module: Any) -> Encode:
    return lambda image: bytes(module.from_pil(image))


def _fpng_py_fix(module: Any) -> Encode:
    def encode(image: Image.Image) -> bytes:
        return bytes(module.fpng_encode_image_to_memory(image.tobytes(), *image.size, 3))

    return encode


def _imagecodecs_png(module: Any) -> Encode:
    png = module.PNG
    return lambda image: bytes(
        module.png_encode(
            np.asarray(image),
            level=1,
            strategy=png.STRATEGY.RLE,
            filter=png.FILTER.SUB,
        )
    )


def _imagecodecs_spng(module: Any) -> Encode:
    return lambda image: bytes(module.spng_encode(np.asarray(image), level=1))


def _opencv_png(module: Any) -> Encode:
    options = [
        module.IMWRITE_PNG_COMPRESSION,
        1,
        module.IMWRITE_PNG_STRATEGY,
        module.IMWRITE_PNG_STRATEGY_RLE,
    ]

    def encode(image: Image.Image) -> bytes:
        bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
        ok, data = module.imencode(".png", bgr, options)
        if not ok:
            raise RuntimeError("cv2.imencode failed")
        return bytes(data.tobytes())

    return encode


# (name, distribution, module, how to build the encoder from the module)
_OPTIONAL: tuple[tuple[str, str, str, Callable[[Any], Encode]], ...] = (
    ("fpng (py-fpng-nb)", "fpng", "fpng", _fpng),
    ("fpng_py_fix", "fpng-py-fix", "fpng_py_fix", _fpng_py_fix),
    ("imagecodecs PNG level 1 RLE SUB", "imagecodecs", "imagecodecs", _imagecodecs_png),
    ("imagecodecs SPNG level 1", "imagecodecs", "imagecodecs", _imagecodecs_spng),
    ("OpenCV PNG level 1 RLE (incl. RGB->BGR)", "opencv-python-headless", "cv2", _opencv_png),
)


def available_encoders() -> tuple[list[Encoder], list[dict[str, str]]]:
    """The encoders that can run here, and why the others cannot."""
    encoders = _pillow_encoders()
    missing = []
    for name, distribution, module_name, build in _OPTIONAL:
        try:
            module = importlib.import_module(module_name)
            encoders.append(Encoder(name, distribution, True, build(module)))
        except Exception as exc:  # an optional package may be absent or broken in any way
            missing.append({"name": name, "distribution": distribution, "reason": repr(exc)})
    return encoders, missing


def _round_trips(encoder: Encoder, data: bytes, image: Image.Image) -> bool:
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    if decoded.size != image.size:
        return False
    return not encoder.lossless or np.array_equal(np.asarray(decoded.convert("RGB")), image)


def measure_encoders(image: Image.Image, rounds: int = 7) -> dict[str, Any]:
    """Median ms and bytes of each encoder on ``image``, interleaved over ``rounds``."""
    encoders, missing = available_encoders()
    outputs: dict[str, bytes] = {}
    working: list[Encoder] = []
    for encoder in encoders:
        try:
            outputs[encoder.name] = encoder.encode(image)
            working.append(encoder)
        except Exception as exc:  # report a broken encoder, measure the others
            missing.append(
                {"name": encoder.name, "distribution": encoder.distribution, "reason": repr(exc)}
            )
    times: dict[str, list[float]] = {encoder.name: [] for encoder in working}
    for _ in range(rounds):
        for encoder in working:
            started = time.perf_counter()
            encoder.encode(image)
            times[encoder.name].append(time.perf_counter() - started)
    rows = [
        {
            "name": encoder.name,
            "distribution": encoder.distribution,
            "version": version_of(encoder.distribution),
            "lossless": encoder.lossless,
            "ms": statistics.median(times[encoder.name]) * 1e3,
            "bytes": len(outputs[encoder.name]),
            "decodes_ok": _round_trips(encoder, outputs[encoder.name], image),
        }
        for encoder in working
    ]
    return {"size": list(image.size), "rounds": rounds, "encoders": rows, "missing": missing}
