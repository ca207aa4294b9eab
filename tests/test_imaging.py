"""Tests for vary.imaging: sniffing, decoding, limits, fitting, alpha and PNG output.

Every input is built here, in memory, and kept tiny so the whole file runs in a few seconds.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import warnings
import zipfile
import zlib
from typing import Any

import imagecodecs
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile

from conftest import PHOTOS
from vary import imaging
from vary.errors import ImageTooLargeError, InvalidImageError
from vary.imaging import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_BYTES,
    decode,
    encode,
    fit,
    merge_alpha,
    sniff_format,
    split_alpha,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)

# --------------------------------------------------------------------------------------------
# Builders


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _quadrants(size: int = 16) -> Image.Image:
    """Red, green, blue and white quadrants (top-left, top-right, bottom-left, bottom-right)."""
    half = size // 2
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:half, :half], pixels[:half, half:] = RED, GREEN
    pixels[half:, :half], pixels[half:, half:] = BLUE, WHITE
    return Image.fromarray(pixels)


def _palette(pixels: list[list[int]], colours: list[tuple[int, int, int]]) -> Image.Image:
    image = Image.fromarray(np.array(pixels, np.uint8)).convert("P")
    image.putpalette([channel for colour in colours for channel in colour])
    return image


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _png(width: int, height: int, idat: bytes, *, bit_depth: int = 8) -> bytes:
    """A greyscale PNG written chunk by chunk, so its header can say anything."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _grey_png(width: int, height: int) -> bytes:
    return _png(width, height, zlib.compress(bytes(height * (1 + width))))


def _tiff(
    width: int,
    height: int,
    pixels: bytes,
    *,
    samples: int = 1,
    photometric: int = 1,
    extra_samples: int | None = None,
) -> bytes:
    """An uncompressed 8-bit TIFF written by hand, for layouts Pillow does not save."""
    short, long = 3, 4
    tags = [
        (256, long, width),
        (257, long, height),
        (258, short, 8),
        (259, short, 1),
        (262, short, photometric),
        (273, long, 0),  # strip offset, patched below
        (277, short, samples),
        (278, long, height),
        (279, long, len(pixels)),
    ]
    if extra_samples is not None:
        tags.append((338, short, extra_samples))
    data_offset = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == short else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + pixels


def _with_dimensions(fmt: str, width: int, height: int) -> bytes:
    """A small file of ``fmt`` whose header claims ``width`` x ``height``."""
    if fmt == "PNG":
        return _png(width, height, zlib.compress(b"\x00"))
    if fmt == "TIFF":
        return _tiff(width, height, bytes(64))
    data = bytearray(
        _encode(Image.new("RGB", (8, 8)), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    )
    if fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "WEBP":
        bits = struct.unpack("<I", data[21:25])[0] & ~0x0FFFFFFF
        data[21:25] = struct.pack("<I", bits | (width - 1) | (height - 1) << 14)
    return bytes(data)


def _swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red and green primaries are swapped, and not named sRGB."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    entries = {}
    for index in range(struct.unpack(">I", profile[128:132])[0]):
        entry = 132 + 12 * index
        entries[bytes(profile[entry : entry + 4])] = entry
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    profile[red + 4 : red + 12], profile[green + 4 : green + 12] = (
        profile[green + 4 : green + 12],
        profile[red + 4 : red + 12],
    )
    return bytes(profile).replace("sRGB".encode("utf-16-be"), "SWAP".encode("utf-16-be"))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def _assert_pixels(image: Image.Image, expected: object, tolerance: int = 0) -> None:
    """Compare pixel values; the colour of fully transparent pixels does not matter."""
    actual, wanted = _pixels(image), np.array(expected)
    assert actual.shape == wanted.shape
    if image.mode == "RGBA":
        assert np.array_equal(actual[..., 3], wanted[..., 3])
        visible = wanted[..., 3] > 0
        actual, wanted = actual[visible][:, :3], wanted[visible][:, :3]
    assert np.abs(actual - wanted).max(initial=0) <= tolerance


# --------------------------------------------------------------------------------------------
# sniff_format


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),
        ("JPEG", {}),
        ("WEBP", {}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"big_tiff": True}),
    ],
)
def test_sniff_format_recognises_accepted_formats(fmt: str, params: dict[str, object]) -> None:
    assert sniff_format(_encode(_quadrants(), fmt, **params)) == fmt


def _zip_with_png() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("picture.png", _encode(_quadrants(), "PNG"))
    return buffer.getvalue()


NOT_IMAGES = {
    "empty": (b"", "empty"),
    "text": (b"BMW makes cars, not bitmaps.\n", "text"),
    "html": (b"<!DOCTYPE html>\n<html><body>Gateway timeout</body></html>", "HTML"),
    "svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    "zip renamed .png": (_zip_with_png(), "ZIP archive"),
    "json": (b'{"error": {"message": "nope"}}', "JSON"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    "heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    "avif": (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "AVIF"),
    "xml": (b"\xef\xbb\xbf<?xml version='1.0'?><rss version='2.0'/>", "XML"),
}


@pytest.mark.parametrize(("data", "hint"), NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_sniff_format_rejects_non_images(data: bytes, hint: str) -> None:
    assert sniff_format(data) is None


@pytest.mark.parametrize(("data", "hint"), NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_decode_names_accepted_formats_and_what_it_got(data: bytes, hint: str) -> None:
    with pytest.raises(InvalidImageError) as caught:
        decode(data)
    assert type(caught.value) is InvalidImageError
    assert caught.value.param == "image"
    assert caught.value.code == "invalid_image"
    assert "PNG, JPEG, WEBP, GIF, BMP, TIFF" in caught.value.message
    assert hint in caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(256),
        b"\x00\x01\x02\x03 valid UTF-8, but binary",
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",  # MP4
    ],
    ids=["noise", "control characters", "other ISO media"],
)
def test_decode_gives_no_hint_for_unknown_binary(data: bytes) -> None:
    with pytest.raises(InvalidImageError) as caught:
        decode(data)
    assert "looks like" not in caught.value.message
    assert "PNG, JPEG, WEBP, GIF, BMP, TIFF" in caught.value.message


# --------------------------------------------------------------------------------------------
# decode: formats, frames, modes


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("PNG", {}, 0),
        ("JPEG", {"quality": 95}, 8),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 16),
        ("GIF", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
    ],
)
def test_decode_each_format(fmt: str, params: dict[str, object], tolerance: int) -> None:
    image = decode(_encode(_quadrants(), fmt, **params))
    assert (image.mode, image.size) == ("RGB", (16, 16))
    corners = [image.getpixel(xy) for xy in [(3, 3), (12, 3), (3, 12), (12, 12)]]
    assert np.abs(np.array(corners) - np.array([RED, GREEN, BLUE, WHITE])).max() <= tolerance
    if tolerance == 0:
        assert np.array_equal(_pixels(image), _pixels(_quadrants()))


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("GIF", {"duration": 100}, 0),
        ("WEBP", {"duration": 100, "lossless": True}, 0),
        ("PNG", {"duration": 100}, 0),  # APNG
        ("MPO", {}, 3),  # a multi-picture JPEG, as some cameras write
    ],
)
def test_decode_takes_the_first_frame(fmt: str, params: dict[str, object], tolerance: int) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE, GREEN)]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], **params)
    with Image.open(io.BytesIO(data)) as reread:
        assert reread.n_frames == 3
    image = decode(data)
    assert image.mode == "RGB"
    _assert_pixels(image, np.asarray(frames[0]), tolerance)


def _image(mode: str, pixels: object) -> Image.Image:
    image = Image.fromarray(np.array(pixels))
    assert image.mode == mode
    return image


def _samples(mode: str, dtype: str, values: list[float]) -> Image.Image:
    return _image(mode, np.array([values], dtype))


def _grey(values: list[int]) -> list[list[list[int]]]:
    return [[[value] * 3 for value in values]]


def _rgba_image(pixels: list[list[tuple[int, int, int, int]]]) -> Image.Image:
    return _image("RGBA", np.array(pixels, np.uint8))


def _with_alpha(image: Image.Image, alpha: list[int]) -> Image.Image:
    image.putalpha(_image("L", np.array([alpha], np.uint8)))
    return image


def _with_transparency(image: Image.Image, key: object) -> bytes:
    return _encode(image, "PNG", transparency=key)


def _cms(image: Image.Image, mode: str) -> Image.Image:
    srgb, target = ImageCms.createProfile("sRGB"), ImageCms.createProfile(mode)
    return ImageCms.ImageCmsTransform(
        ImageCms.ImageCmsProfile(srgb), ImageCms.ImageCmsProfile(target), "RGB", mode
    ).apply(image)


_RED_BLUE = [(255, 0, 0), (0, 0, 255)]
_I16 = [0, 128 * 257, 65535, 1000]

MODE_CASES = {
    "1 png": (
        _encode(_image("1", np.array([[False, True, True]])), "PNG"),
        "RGB",
        _grey([0, 255, 255]),
        0,
    ),
    "L png white stays white": (
        _encode(_image("L", np.array([[0, 77, 255]], np.uint8)), "PNG"),
        "RGB",
        _grey([0, 77, 255]),
        0,
    ),
    "L png colour key": (
        _with_transparency(_image("L", np.array([[0, 77, 255]], np.uint8)), 77),
        "RGBA",
        [[[0, 0, 0, 255], [77, 77, 77, 0], [255, 255, 255, 255]]],
        0,
    ),
    "P png": (_encode(_palette([[0, 1]], _RED_BLUE), "PNG"), "RGB", [_RED_BLUE], 0),
    "P png transparency": (
        _encode(_palette([[0, 1]], _RED_BLUE), "PNG", transparency=1),
        "RGBA",
        [[[255, 0, 0, 255], [0, 0, 255, 0]]],
        0,
    ),
    "P png unused transparency is opaque": (
        _encode(_palette([[0, 0]], _RED_BLUE), "PNG", transparency=1),
        "RGB",
        [[RED, RED]],
        0,
    ),
    "P gif transparency": (
        _encode(_palette([[0, 1]], _RED_BLUE), "GIF", transparency=1),
        "RGBA",
        [[[255, 0, 0, 255], [0, 0, 255, 0]]],
        0,
    ),
    "PA tiff": (
        _encode(_with_alpha(_palette([[0, 1]], _RED_BLUE).convert("PA"), [128, 255]), "TIFF"),
        "RGBA",
        [[[255, 0, 0, 128], [0, 0, 255, 255]]],
        0,
    ),
    "LA png": (
        _encode(_image("LA", np.array([[[100, 128], [50, 255]]], np.uint8)), "PNG"),
        "RGBA",
        [[[100, 100, 100, 128], [50, 50, 50, 255]]],
        0,
    ),
    "La tiff (premultiplied)": (
        _tiff(2, 1, bytes([50, 128, 50, 255]), samples=2, extra_samples=1),
        "RGBA",
        [[[100, 100, 100, 128], [50, 50, 50, 255]]],
        1,
    ),
    "LA png opaque": (
        _encode(_image("LA", np.array([[[100, 255], [50, 255]]], np.uint8)), "PNG"),
        "RGB",
        _grey([100, 50]),
        0,
    ),
    "RGB png colour key": (
        _with_transparency(_image("RGB", np.array([[RED, BLUE]], np.uint8)), BLUE),
        "RGBA",
        [[[255, 0, 0, 255], [0, 0, 255, 0]]],
        0,
    ),
    "RGBA png": (
        _encode(_rgba_image([[(10, 20, 30, 0), (40, 50, 60, 128), (70, 80, 90, 255)]]), "PNG"),
        "RGBA",
        [[[10, 20, 30, 0], [40, 50, 60, 128], [70, 80, 90, 255]]],
        0,
    ),
    "RGBA png opaque": (
        _encode(_rgba_image([[(10, 20, 30, 255), (40, 50, 60, 255)]]), "PNG"),
        "RGB",
        [[[10, 20, 30], [40, 50, 60]]],
        0,
    ),
    "RGBA webp": (
        _encode(_rgba_image([[(10, 20, 30, 0), (40, 50, 60, 128)]]), "WEBP", lossless=True),
        "RGBA",
        [[[10, 20, 30, 0], [40, 50, 60, 128]]],
        0,
    ),
    "RGBa tiff (premultiplied)": (
        _tiff(1, 1, bytes([100, 50, 25, 128]), samples=4, photometric=2, extra_samples=1),
        "RGBA",
        [[[199, 100, 50, 128]]],
        1,
    ),
    "I;16 png full range": (
        _encode(_samples("I;16", "<u2", _I16), "PNG"),
        "RGB",
        _grey([0, 128, 255, 4]),
        0,
    ),
    "I;16 png colour key": (
        _with_transparency(_samples("I;16", "<u2", _I16), 1000),
        "RGBA",
        [[[0, 0, 0, 255], [128, 128, 128, 255], [255, 255, 255, 255], [4, 4, 4, 0]]],
        0,
    ),
    "I;16B tiff": (
        _encode(_samples("I;16B", ">u2", _I16), "TIFF"),
        "RGB",
        _grey([0, 128, 255, 4]),
        0,
    ),
    "I tiff 16-bit values": (
        _encode(_samples("I", "<i4", _I16), "TIFF"),
        "RGB",
        _grey([0, 128, 255, 4]),
        0,
    ),
    "I tiff signed values": (
        _encode(_samples("I", "<i4", [-1000, 0, 1000]), "TIFF"),
        "RGB",
        _grey([0, 128, 255]),
        0,
    ),
    "F tiff 0..1": (
        _encode(_samples("F", "<f4", [0.0, 0.5, 1.0]), "TIFF"),
        "RGB",
        _grey([0, 128, 255]),
        0,
    ),
    "F tiff other range": (
        _encode(_samples("F", "<f4", [-2.0, 0.0, 2.0]), "TIFF"),
        "RGB",
        _grey([0, 128, 255]),
        0,
    ),
    "F tiff constant": (
        _encode(_samples("F", "<f4", [5.0, 5.0]), "TIFF"),
        "RGB",
        _grey([0, 0]),
        0,
    ),
    "F tiff not a number": (
        _encode(_samples("F", "<f4", [float("nan"), 0.0, 1.0]), "TIFF"),
        "RGB",
        _grey([0, 0, 255]),
        0,
    ),
    # Pillow writes CMYK JPEGs with an Adobe marker and inverted ink values.
    "CMYK jpeg (Adobe inverted)": (
        _encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95),
        "RGB",
        [[RED] * 8] * 8,
        3,
    ),
    "CMYK jpeg with a profile for another colour space": (
        _encode(
            Image.new("CMYK", (8, 8), (0, 255, 255, 0)),
            "JPEG",
            quality=95,
            icc_profile=_swapped_primaries_profile(),
        ),
        "RGB",
        [[RED] * 8] * 8,
        3,
    ),
    "CMYK tiff": (
        _encode(_image("RGB", np.array([[RED, WHITE]], np.uint8)).convert("CMYK"), "TIFF"),
        "RGB",
        [[RED, WHITE]],
        0,
    ),
    "YCbCr tiff": (
        _encode(_image("RGB", np.array([[RED, BLUE, WHITE]], np.uint8)).convert("YCbCr"), "TIFF"),
        "RGB",
        [[RED, BLUE, WHITE]],
        2,
    ),
    "LAB tiff": (
        _encode(_cms(_image("RGB", np.array([[RED, (128, 128, 128)]], np.uint8)), "LAB"), "TIFF"),
        "RGB",
        [[RED, (128, 128, 128)]],
        6,
    ),
}


@pytest.mark.parametrize(
    ("data", "mode", "expected", "tolerance"), MODE_CASES.values(), ids=MODE_CASES.keys()
)
def test_decode_normalises_every_mode(
    data: bytes, mode: str, expected: object, tolerance: int
) -> None:
    image = decode(data)
    assert image.mode == mode
    _assert_pixels(image, expected, tolerance)


@pytest.mark.parametrize(
    ("mode", "pixels", "expected_mode", "expected", "tolerance"),
    [
        ("HSV", np.array([[[0, 255, 255], [0, 0, 255]]], np.uint8), "RGB", [[RED, WHITE]], 0),
        ("RGBa", np.array([[[100, 50, 25, 128]]], np.uint8), "RGBA", [[[199, 100, 50, 128]]], 1),
        ("RGBX", np.array([[[1, 2, 3, 0]]], np.uint8), "RGB", [[[1, 2, 3]]], 0),
        ("I;16L", np.array([_I16], "<u2"), "RGB", _grey([0, 128, 255, 4]), 0),
        ("I;16N", np.array([_I16], "=u2"), "RGB", _grey([0, 128, 255, 4]), 0),
    ],
)
def test_normalise_modes_no_accepted_format_yields(
    mode: str, pixels: np.ndarray, expected_mode: str, expected: object, tolerance: int
) -> None:
    # Pillow reads none of these modes from PNG, JPEG, WebP, GIF, BMP or TIFF, so the
    # conversion step is checked on its own.
    image = Image.frombytes(mode, (pixels.shape[1], pixels.shape[0]), pixels.tobytes())
    normalised = imaging.normalise(image)
    assert normalised.mode == expected_mode
    _assert_pixels(normalised, expected, tolerance)


# --------------------------------------------------------------------------------------------
# decode: EXIF orientation and colour profiles

# Where the stored top-left corner ends up on the upright picture, from the EXIF definition of
# each orientation (which visual edges the stored 0th row and 0th column are), and whether the
# width and height swap.
ORIENTATIONS = [
    (1, "top", "left", False),
    (2, "top", "right", False),
    (3, "bottom", "right", False),
    (4, "bottom", "left", False),
    (5, "top", "left", True),
    (6, "top", "right", True),
    (7, "bottom", "right", True),
    (8, "bottom", "left", True),
]


def _marked(orientation: int, fmt: str = "JPEG") -> bytes:
    """A 48x24 white picture with a red marker in its stored top-left corner."""
    stored = Image.new("RGB", (48, 24), WHITE)
    stored.paste(RED, (0, 0, 12, 12))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return _encode(stored, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))


def _assert_marker(image: Image.Image, vertical: str, horizontal: str, swapped: bool) -> None:
    assert image.size == ((24, 48) if swapped else (48, 24))
    width, height = image.size
    x = 5 if horizontal == "left" else width - 6
    y = 5 if vertical == "top" else height - 6
    assert np.abs(np.subtract(image.getpixel((x, y)), RED)).max() <= 8
    assert np.abs(np.subtract(image.getpixel((width - 1 - x, height - 1 - y)), WHITE)).max() <= 8


@pytest.mark.parametrize(("orientation", "vertical", "horizontal", "swapped"), ORIENTATIONS)
def test_decode_applies_exif_orientation(
    orientation: int, vertical: str, horizontal: str, swapped: bool
) -> None:
    _assert_marker(decode(_marked(orientation)), vertical, horizontal, swapped)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_decode_applies_exif_orientation_in_other_formats(fmt: str) -> None:
    _assert_marker(decode(_marked(6, fmt)), "top", "right", True)


# Pillow reports a corrupt EXIF block with a UserWarning while opening a JPEG; only an error
# filter like this suite's turns that into a failure, so it is ignored here.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00garbage",
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # first IFD far past the end
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01",  # IFD cut short
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01"
        + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x09\x00\x00\x00\x00\x00\x00",
    ],
    ids=["garbage", "bad offset", "truncated ifd", "orientation 9"],
)
def test_decode_survives_broken_exif(exif: bytes) -> None:
    image = decode(_encode(_quadrants(), "JPEG", quality=95, exif=exif))
    assert (image.mode, image.size) == ("RGB", (16, 16))
    assert np.abs(np.subtract(image.getpixel((3, 3)), RED)).max() <= 8


@pytest.mark.parametrize(("mode", "colour"), [("RGB", RED), ("RGBA", (*RED, 128))])
def test_decode_converts_icc_profile_to_srgb(mode: str, colour: tuple[int, ...]) -> None:
    data = _encode(Image.new(mode, (4, 4), colour), "PNG", icc_profile=_swapped_primaries_profile())
    image = decode(data)
    assert image.mode == mode
    _assert_pixels(image, np.full((4, 4, len(mode)), (*GREEN, 128)[: len(mode)]), 1)


@pytest.mark.parametrize(
    "profile",
    [
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
        b"not a profile",
    ],
    ids=["sRGB", "wrong colour space", "unreadable"],
)
def test_decode_keeps_pixels_when_profile_is_srgb_or_unusable(profile: bytes) -> None:
    colour = (200, 100, 50)
    image = decode(_encode(Image.new("RGB", (4, 4), colour), "PNG", icc_profile=profile))
    assert image.mode == "RGB"
    _assert_pixels(image, np.full((4, 4, 3), colour))


# --------------------------------------------------------------------------------------------
# Limits


def test_decode_refuses_more_bytes_than_max_bytes() -> None:
    data = _encode(_quadrants(), "PNG")
    assert decode(data, max_bytes=len(data)).size == (16, 16)
    with pytest.raises(ImageTooLargeError) as caught:
        decode(data, max_bytes=len(data) - 1)
    assert (caught.value.param, caught.value.code) == ("image", "image_too_large")


def test_decode_states_the_byte_limit_in_mb() -> None:
    with pytest.raises(ImageTooLargeError, match=r"\b20 MB\b"):
        decode(bytes(DEFAULT_MAX_BYTES + 1))


def test_decode_honours_max_pixels_exactly() -> None:
    data = _encode(Image.new("RGB", (10, 10)), "PNG")
    assert decode(data, max_pixels=100).size == (10, 10)
    with pytest.raises(ImageTooLargeError, match="10x10"):
        decode(data, max_pixels=99)


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A real 30000x30000 1-bit PNG (900 megapixels) of about 100 KB."""
    width = height = 30_000
    compressor = zlib.compressobj(9)
    rows = bytes((1 + width // 8) * 1000)  # a thousand rows of zeros, filter byte included
    idat = b"".join(compressor.compress(rows) for _ in range(height // 1000))
    return _png(width, height, idat + compressor.flush(), bit_depth=1)


def test_decode_refuses_a_huge_picture_before_decoding_it(huge_png: bytes) -> None:
    assert len(huge_png) < 500_000
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="30000x30000") as caught:
        decode(huge_png)
    assert time.perf_counter() - start < 1.0
    assert caught.value.param == "image"


# 10000x10000 is between Pillow's bomb warning and bomb error thresholds, 16384x16384 above both.
@pytest.mark.parametrize("dimensions", [(10_000, 10_000), (16_384, 16_384)])
@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_decode_refuses_huge_headers_without_pillow_warnings(
    fmt: str, dimensions: tuple[int, int]
) -> None:
    data = _with_dimensions(fmt, *dimensions)
    assert sniff_format(data) == fmt
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError):
            decode(data)
    assert caught == []


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_decode_reads_the_patched_dimensions(fmt: str) -> None:
    with pytest.raises(ImageTooLargeError, match="1000x700"):
        decode(_with_dimensions(fmt, 1000, 700), max_pixels=699_999)


# 64 pixels: over twice Pillow's limit (it raises), or just over it (it warns).
@pytest.mark.parametrize("pillow_limit", [10, 40])
def test_decode_reports_pillow_bomb_check_as_too_large(
    monkeypatch: pytest.MonkeyPatch, pillow_limit: int
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageTooLargeError):
            decode(_encode(Image.new("RGB", (8, 8)), "TIFF"))


def test_decode_leaves_global_settings_alone(huge_png: bytes) -> None:
    def settings() -> object:
        return Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)

    before = settings()
    decode(_encode(_quadrants(), "JPEG"))
    for data in (
        huge_png,
        _with_dimensions("GIF", 10_000, 10_000),
        _half(_encode(_quadrants(), "PNG")),
    ):
        with pytest.raises(InvalidImageError):
            decode(data)
    assert settings() == before


# --------------------------------------------------------------------------------------------
# Broken input


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_idat() -> bytes:
    rng = np.random.default_rng(0)
    rows = b"".join(b"\x00" + rng.bytes(64) for _ in range(64))
    idat = bytearray(zlib.compress(rows))
    idat[100:110] = b"\xff" * 10
    return _png(64, 64, bytes(idat))  # the chunk CRC is right: only the deflate stream is bad


_NOISE = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)

BROKEN = {
    "empty": b"",
    "text": b"hello",
    "truncated png": _half(_encode(Image.fromarray(_NOISE), "PNG")),
    "truncated jpeg": _half(_encode(Image.fromarray(_NOISE), "JPEG")),
    "truncated progressive jpeg": _half(_encode(Image.fromarray(_NOISE), "JPEG", progressive=True)),
    "truncated gif": _half(_encode(Image.fromarray(_NOISE), "GIF")),
    "truncated bmp": _half(_encode(Image.fromarray(_NOISE), "BMP")),
    "truncated tiff": _half(_encode(Image.fromarray(_NOISE), "TIFF")),
    "truncated webp": _half(_encode(Image.fromarray(_NOISE), "WEBP")),
    "png signature then noise": b"\x89PNG\r\n\x1a\n" + np.random.default_rng(2).bytes(500),
    "png corrupt idat": _corrupt_idat(),
    "png width 0": _grey_png(0, 8),
    "png height 0": _grey_png(8, 0),
    "jpeg width 0": _with_dimensions("JPEG", 0, 8),
    "bmp width 0": _with_dimensions("BMP", 0, 8),
    "tiff width 0": _with_dimensions("TIFF", 0, 8),
    "jpeg signature only": b"\xff\xd8\xff",
    "gif signature only": b"GIF89a",
    "bmp header only": b"BM" + bytes(12) + struct.pack("<I", 40),
    "tiff ifd past the end": b"II*\x00" + struct.pack("<I", 1000),
    "webp riff header only": b"RIFF\x04\x00\x00\x00WEBP",
}


@pytest.mark.parametrize("data", BROKEN.values(), ids=BROKEN.keys())
def test_decode_rejects_broken_images(data: bytes) -> None:
    with pytest.raises(InvalidImageError) as caught:
        decode(data)
    assert type(caught.value) is InvalidImageError
    assert (caught.value.param, caught.value.code) == ("image", "invalid_image")


@pytest.mark.parametrize(
    ("width", "height"), [(2**31 - 1, 1), (2**32 - 1, 2**32 - 1), (1, 2**31 - 1)]
)
def test_decode_refuses_absurd_png_dimensions(width: int, height: int) -> None:
    with pytest.raises(ImageTooLargeError):
        decode(_png(width, height, zlib.compress(b"\x00")))


# --------------------------------------------------------------------------------------------
# fit


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("size", [(64, 64), (250, 130), (130, 250), (1024, 1024)])
@pytest.mark.parametrize("source", [(100, 100), (300, 100), (100, 300), (40, 30)])
def test_fit_gives_exactly_the_requested_size(
    source: tuple[int, int], size: tuple[int, int], mode: str
) -> None:
    fitted = fit(Image.new(mode, source, (10, 200, 30, 255)[: len(mode)]), size)
    assert (fitted.mode, fitted.size) == (mode, size)
    assert fitted.getpixel((size[0] // 2, size[1] // 2)) == (10, 200, 30, 255)[: len(mode)]


def _banded(size: tuple[int, int], sides: bool, band: int) -> Image.Image:
    """Blue, with red bands of ``band`` pixels on the left and right (or top and bottom)."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[...] = BLUE
    if sides:
        pixels[:, :band], pixels[:, -band:] = RED, RED
    else:
        pixels[:band], pixels[-band:] = RED, RED
    return Image.fromarray(pixels)


# The red bands reach the edges of the centred crop (within a pixel for the odd sizes).
@pytest.mark.parametrize(
    ("source", "sides", "band", "size"),
    [
        ((300, 100), True, 100, (64, 64)),
        ((100, 300), False, 100, (64, 64)),
        ((300, 100), True, 100, (256, 256)),
        ((120, 120), False, 30, (100, 50)),
        ((120, 120), True, 30, (50, 100)),
        ((301, 97), True, 98, (33, 31)),
    ],
)
def test_fit_crops_the_centre(
    source: tuple[int, int], sides: bool, band: int, size: tuple[int, int]
) -> None:
    fitted = fit(_banded(source, sides, band), size)
    assert fitted.size == size
    assert (_pixels(fitted) == BLUE).all()


def test_fit_upscales_a_small_picture() -> None:
    fitted = fit(_quadrants(40).resize((40, 30)), (250, 130))
    assert fitted.size == (250, 130)
    corners = [fitted.getpixel(xy) for xy in [(20, 20), (230, 20), (20, 110), (230, 110)]]
    assert np.abs(np.array(corners) - np.array([RED, GREEN, BLUE, WHITE])).max() <= 2


@pytest.mark.parametrize("size", [(20, 10), (30, 30), (7, 5), (80, 40)])
def test_fit_keeps_alpha_geometry_without_dark_fringes(size: tuple[int, int]) -> None:
    pixels = np.zeros((20, 40, 4), np.uint8)
    pixels[:, 20:] = 255  # left half transparent black, right half opaque white
    fitted = np.asarray(fit(Image.fromarray(pixels), size))
    alpha, rgb = fitted[..., 3], fitted[..., :3]
    quarter = max(1, size[0] // 4)
    assert (alpha[:, :quarter] == 0).all()
    assert (alpha[:, -quarter:] == 255).all()
    assert (rgb[alpha > 0] == 255).all()


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
@pytest.mark.parametrize(
    ("source", "size"),
    [
        ((512, 512), (1024, 1024)),  # the benchmark's upscale
        ((3000, 2000), (1024, 1000)),  # a phone photo, down by almost 3x
        ((700, 1000), (600, 900)),  # band edges on multiples of 6, off the even split
        ((512, 512), (1000, 1000)),
        ((334, 333), (1024, 1024)),  # 334 and 1024 share only 2: two bands at most
    ],
)
def test_resizing_in_bands_of_columns_gives_the_pixels_of_one_resize(
    parts: int, mode: str, source, size, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imaging, "_PARTS", parts)
    workers, handed = imaging._workers, []

    class Workers:
        def submit(self, *args: Any) -> Any:
            handed.append(args)
            return workers.submit(*args)

    monkeypatch.setattr(imaging, "_workers", Workers())
    rng = np.random.default_rng(5)
    smooth = Image.fromarray(rng.integers(0, 256, (40, 60, 4), dtype=np.uint8))
    image = smooth.resize(source, Image.Resampling.BICUBIC).convert(mode)
    whole = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    assert np.array_equal(np.asarray(fit(image, size, "stretch")), np.asarray(whole))
    assert handed  # the bands after the first were resampled on a worker thread


def test_resizing_in_bands_reads_a_picture_not_yet_read_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(imaging, "_PARTS", 2)
    rng = np.random.default_rng(6)
    smooth = Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    data = _encode(smooth.resize((512, 512), Image.Resampling.BICUBIC), "PNG")
    with Image.open(io.BytesIO(data)) as lazy, Image.open(io.BytesIO(data)) as reference:
        banded = fit(lazy, (1024, 1024), "stretch")
        whole = reference.resize((1024, 1024), Image.Resampling.LANCZOS, reducing_gap=3.0)
    assert np.array_equal(np.asarray(banded), np.asarray(whole))


@pytest.mark.parametrize(
    ("source", "size"),
    [
        ((511, 300), (1024, 1024)),  # no band edge on a whole source column
        ((7000, 7000), (1024, 1024)),  # shrunk by block averages first
        ((64, 64), (128, 128)),  # too small to be worth a thread
    ],
)
def test_resizing_stays_whole_where_bands_would_not_pay_or_would_change_pixels(
    source, size, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imaging, "_PARTS", 2)
    assert imaging._column_bands(Image.new("RGB", source), size) == [(0, size[0])]


def test_fit_rejects_an_empty_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        fit(_quadrants(), (0, 10))


# --------------------------------------------------------------------------------------------
# Alpha and PNG output


def _noise(mode: str, seed: int = 3) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (9, 13, len(mode)), dtype=np.uint8))


def test_split_and_merge_alpha_round_trip() -> None:
    image = _noise("RGBA")
    rgb, alpha = split_alpha(image)
    assert rgb.mode == "RGB"
    assert alpha is not None
    assert alpha.mode == "L"
    assert np.array_equal(np.asarray(rgb), np.asarray(image)[..., :3])
    assert np.array_equal(np.asarray(alpha), np.asarray(image)[..., 3])
    merged = merge_alpha(rgb, alpha)
    assert merged.mode == "RGBA"
    assert np.array_equal(np.asarray(merged), np.asarray(image))


def test_split_alpha_of_rgb_has_no_alpha() -> None:
    image = _noise("RGB")
    assert split_alpha(image) == (image, None)
    assert merge_alpha(image, None) is image


def test_split_alpha_rejects_other_modes() -> None:
    with pytest.raises(ValueError, match="RGBA"):
        split_alpha(Image.new("L", (4, 4)))


def test_merge_alpha_resizes_the_alpha() -> None:
    alpha = np.zeros((20, 40), np.uint8)
    alpha[:, 20:] = 255
    merged = merge_alpha(Image.new("RGB", (20, 10), WHITE), Image.fromarray(alpha))
    assert (merged.mode, merged.size) == ("RGBA", (20, 10))
    merged_alpha = np.asarray(merged)[..., 3]
    assert (merged_alpha[:, :6] == 0).all()
    assert (merged_alpha[:, 14:] == 255).all()


PNG_WRITERS = ["isal", "imagecodecs", "pillow"]


def _use_png_writer(writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``writer`` the one that writes (the ones before it in PNG_WRITERS are missing)."""
    for missing, module in zip(PNG_WRITERS, ["_isal", "_imagecodecs"], strict=False):
        if missing == writer:
            return
        monkeypatch.setattr(imaging, module, None)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("writer", PNG_WRITERS)
@pytest.mark.parametrize("compression", [None, 0, 50, 100])
def test_encode_png_round_trips_exactly(
    mode: str, writer: str, compression: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_png_writer(writer, monkeypatch)
    image = _noise(mode)
    data = encode(image, "png", compression)
    assert sniff_format(data) == "PNG"
    decoded = decode(data)
    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), np.asarray(image))


@pytest.mark.parametrize("writer", PNG_WRITERS)
def test_more_png_compression_gives_smaller_files(writer: str, monkeypatch: pytest.MonkeyPatch):
    _use_png_writer(writer, monkeypatch)
    smooth = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1)), "L").convert("RGB")
    sizes = [len(encode(smooth, "png", level)) for level in (0, 50, 100)]
    assert sizes[0] > sizes[1] >= sizes[2]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (300, 200)])
def test_the_default_png_is_read_back_exactly_by_libpng_and_pillow(mode: str, size):
    assert imaging._isal is not None  # the writer under test
    image = _noise("RGBA").resize(size).convert(mode)
    data = encode(image, "png")
    pixels = np.asarray(image)
    assert np.array_equal(imagecodecs.png_decode(data), pixels)
    with Image.open(io.BytesIO(data)) as read:
        read.load()  # Pillow checks every chunk's CRC as it reads
        assert (read.mode, read.format) == (mode, "PNG")
        assert np.array_equal(np.asarray(read), pixels)


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("size", [(7, 3), (300, 200)])
def test_the_default_png_deflated_in_parts_is_one_valid_stream(parts: int, size, monkeypatch):
    """Rows deflated in parts, the later ones on another thread, still join into one zlib
    stream whose Adler-32 (checked by zlib) covers every byte, read back exactly."""
    monkeypatch.setattr(imaging, "_PARTS", parts)
    monkeypatch.setattr(imaging, "_DEFLATE_PART_BYTES", 1)
    threads = []
    deflate_part = imaging._deflate_part

    def spy(rows: np.ndarray, last: bool) -> bytes:
        threads.append(threading.get_ident())
        return deflate_part(rows, last)

    monkeypatch.setattr(imaging, "_deflate_part", spy)
    image = _noise("RGB").resize(size)
    data = encode(image, "png")
    assert len(threads) == parts
    assert threading.get_ident() in threads
    assert len(set(threads)) > 1
    (idat,) = [payload for kind, payload in _png_chunks(data) if kind == b"IDAT"]
    rows = zlib.decompress(idat)  # raises on a wrong Adler-32 or a stream cut short
    assert len(rows) == size[1] * (1 + 3 * size[0])
    assert np.array_equal(imagecodecs.png_decode(data), np.asarray(image))
    with Image.open(io.BytesIO(data)) as read:
        assert np.array_equal(np.asarray(read), np.asarray(image))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def test_the_default_png_stays_near_libpng_size_on_a_variation():
    """The Up filter and run-length deflate cost some size against libpng's Paeth filter: on
    a photo-like picture, no more than a tenth."""
    photo = Image.open(PHOTOS / "astronaut.jpg").convert("RGB").resize((256, 256))
    fast = len(encode(photo, "png"))
    libpng = imagecodecs.png_encode(
        np.asarray(photo),
        level=6,
        strategy=imagecodecs.PNG.STRATEGY.RLE,
        filter=imagecodecs.PNG.FILTER.PAETH,
    )
    assert fast <= 1.1 * len(libpng)


def test_normalise_turns_a_picture_in_memory_upright_and_leaves_it_alone():
    picture = Image.new("L", (40, 20), 0)
    picture.paste(255, (0, 0, 10, 10))
    exif = picture.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    picture.info["exif"] = exif.tobytes()
    upright = imaging.normalise(picture)
    assert (upright.mode, upright.size) == ("RGB", (20, 40))
    assert upright.getpixel((15, 5)) == (255, 255, 255)
    assert (picture.mode, picture.size) == ("L", (40, 20))
