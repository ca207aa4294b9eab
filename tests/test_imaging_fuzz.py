"""Fuzzing intake: whatever the bytes, ``vary.imaging.decode`` returns a clean picture within the
pixel limit or raises InvalidImageError (ImageTooLargeError is one), never anything else.

The inputs are random bytes and valid small files of every accepted format, mutated: bits
flipped, cut short, bytes spliced in or overwritten, ranges repeated, header-sized fields set to
extremes. Bounded (200 examples in all) so the file runs in seconds.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from vary.errors import InvalidImageError
from vary.imaging import decode

# Small, so that a header mutated to claim a large picture is refused rather than decoded slowly.
MAX_PIXELS = 1_000_000
SIDE = 16


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _seeds() -> dict[str, bytes]:
    """One small valid file per format and per decoding path worth reaching."""
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize((SIDE, SIDE)))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turned
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return {
        "png rgba": _encode(rgba, "PNG"),
        "png palette": _encode(rgb.convert("P"), "PNG"),
        "png 16-bit grey": _encode(rgb.convert("I;16"), "PNG"),
        "png with icc": _encode(rgb, "PNG", icc_profile=srgb),
        "jpeg": _encode(rgb, "JPEG", quality=80),
        "jpeg progressive with exif": _encode(rgb, "JPEG", progressive=True, exif=exif),
        "jpeg cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "gif animated": _encode(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb]),
        "webp lossy": _encode(rgb, "WEBP", quality=70),
        "webp lossless rgba": _encode(rgba, "WEBP", lossless=True),
        "bmp": _encode(rgb, "BMP"),
        "tiff": _encode(rgb, "TIFF"),
        "tiff lzw rgba": _encode(rgba, "TIFF", compression="tiff_lzw"),
    }


SEEDS = _seeds()
# Values a dimension, offset or length field goes wrong with.
EXTREMES = [b"\x00\x00", b"\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff"]

Mutation = Callable[[bytearray, st.DrawFn], None]


def _position(data: bytearray, draw: st.DrawFn) -> int:
    return draw(st.integers(0, max(0, len(data) - 1)))


def _flip(data: bytearray, draw: st.DrawFn) -> None:
    if data:
        data[_position(data, draw)] ^= 1 << draw(st.integers(0, 7))


def _truncate(data: bytearray, draw: st.DrawFn) -> None:
    del data[draw(st.integers(0, len(data))) :]


def _splice(data: bytearray, draw: st.DrawFn) -> None:
    at = draw(st.integers(0, len(data)))
    data[at:at] = draw(st.binary(min_size=1, max_size=64))


def _overwrite(data: bytearray, draw: st.DrawFn) -> None:
    at = _position(data, draw)
    value = draw(st.sampled_from(EXTREMES) | st.binary(min_size=1, max_size=16))
    data[at : at + len(value)] = value


def _header_field(data: bytearray, draw: st.DrawFn) -> None:
    # Every format keeps its dimensions and first offsets in its first 64 bytes.
    at = draw(st.integers(0, min(len(data), 64)))
    value = draw(st.sampled_from(EXTREMES))
    data[at : at + len(value)] = value


def _repeat(data: bytearray, draw: st.DrawFn) -> None:
    start = _position(data, draw)
    end = draw(st.integers(start, min(len(data), start + 256)))
    data[end:end] = data[start:end] * draw(st.integers(1, 8))


MUTATIONS: list[Mutation] = [_flip, _truncate, _splice, _overwrite, _header_field, _repeat]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(list(SEEDS.values()))))
    for _ in range(draw(st.integers(1, 4))):
        draw(st.sampled_from(MUTATIONS))(data, draw)
    return bytes(data)


def assert_decodes_cleanly_or_refuses(data: bytes) -> None:
    # Warnings are recorded rather than raised (pytest would raise them), so decode runs as it
    # does in the server, where a Pillow warning does not stop decoding.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            picture = decode(data, max_pixels=MAX_PIXELS)
        except InvalidImageError:
            picture = None
    assert all("PIL" in warning.filename for warning in caught), [str(w) for w in caught]
    if picture is not None:
        assert picture.mode in {"RGB", "RGBA"}
        assert 1 <= picture.width * picture.height <= MAX_PIXELS
        picture.tobytes()  # the pixels are really there


def test_every_seed_decodes():
    for name, data in SEEDS.items():
        assert decode(data).size == (SIDE, SIDE), name


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2048) | st.sampled_from([b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00"]))
def test_random_bytes_never_escape_as_another_error(data):
    assert_decodes_cleanly_or_refuses(data)


@settings(max_examples=150, deadline=None)
@given(mutated_files())
def test_mutated_files_never_escape_as_another_error(data):
    assert_decodes_cleanly_or_refuses(data)
