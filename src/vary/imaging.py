"""Image intake and output: turn uploaded bytes into a clean picture, and a picture into PNG bytes.

:func:`decode` accepts PNG, JPEG, WebP, GIF, BMP and TIFF, recognised by their magic bytes only,
enforces the byte and pixel limits before any pixel is decoded, and returns an upright, 8-bit,
sRGB "RGB" picture ("RGBA" when it has real transparency). :func:`fit`, :func:`split_alpha`,
:func:`merge_alpha` and :func:`encode` prepare a picture for an engine and ship the result.
This module needs no model and knows no HTTP.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import io
import itertools
import math
import os
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Literal, TypeVar, get_args

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    ImageFilter,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from vary.errors import ImageTooLargeError, InvalidImageError

_imagecodecs: Any
try:
    _imagecodecs = importlib.import_module("imagecodecs")
except ImportError:  # Pillow writes PNG instead, at about half the speed.
    _imagecodecs = None
_isal: Any
try:
    _isal = importlib.import_module("isal.isal_zlib")
except ImportError:  # libpng (or Pillow) writes the default PNG, at a quarter of the speed.
    _isal = None

#: How many parts of one picture are resized or deflated at once: one per core, up to four.
_PARTS = min(4, os.cpu_count() or 1)
_workers = ThreadPoolExecutor(max(1, _PARTS - 1), thread_name_prefix="vary-imaging")
_Made = TypeVar("_Made")


def _side_by_side(work: Callable[..., _Made], parts: Sequence[tuple[Any, ...]]) -> list[_Made]:
    """``work(*part)`` for each of ``parts``, in order: the first on this thread while the
    worker threads do the others (Pillow and ISA-L release the GIL)."""
    later = [_workers.submit(work, *part) for part in parts[1:]]
    return [work(*parts[0]), *(future.result() for future in later)]


__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "FITS",
    "OUTPUT_FORMATS",
    "Fit",
    "OutputFormat",
    "apply_mask",
    "decode",
    "encode",
    "fit",
    "keep_colours",
    "merge_alpha",
    "normalise",
    "sniff_format",
    "split_alpha",
]

ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
Fit = Literal["cover", "contain", "stretch"]
FITS: tuple[Fit, ...] = get_args(Fit)
OutputFormat = Literal["png", "jpeg", "webp"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)
# "BM" alone is too weak a signature (text can start with it), so BMP also needs a DIB header
# size that Pillow reads.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

# Each format is opened with its own plugin class: Image.open would first run Pillow's
# process-wide decompression bomb check, which warns (or raises) before our usually lower limit
# gets to refuse the picture.
_OPENERS: dict[str, Callable[[IO[bytes]], ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.jpeg_factory,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
}

_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16B", "I;16L", "I;16N"})
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_MB = 1024 * 1024


def sniff_format(data: bytes) -> str | None:
    """Return the format of ``data`` from its magic bytes (one of ACCEPTED_FORMATS), or None."""
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM") and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    return None


def decode(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an upload into a loaded, upright, 8-bit sRGB "RGB" or "RGBA" picture.

    Raises ImageTooLargeError over ``max_bytes`` or ``max_pixels`` (checked from the header,
    before decoding), and InvalidImageError for anything that is not an accepted format or does
    not decode. Animated pictures give their first frame.
    """
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The image is over the {max_bytes / _MB:g} MB limit ({len(data):,} bytes)."
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImageError(_not_accepted_message(data))
    try:
        with io.BytesIO(data) as buffer:
            image = _OPENERS[fmt](buffer)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"The picture is {width}x{height} ({width * height:,} pixels), over the "
                    f"limit of {max_pixels:,} pixels."
                )
            image.load()
            _apply_orientation(image)
            return _normalise(image)
    except (InvalidImageError, MemoryError):
        raise  # ours already, or the server's fault rather than the upload's
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError("The picture is too large to decode.") from exc
    except Exception as exc:  # Pillow's plugins raise many, undocumented types on bad input.
        detail = str(exc) or type(exc).__name__
        raise InvalidImageError(f"The image is not a valid {fmt} file: {detail}") from exc


def fit(image: Image.Image, size: tuple[int, int], mode: Fit = "cover") -> Image.Image:
    """Bring ``image`` to exactly ``size`` (width, height).

    ``cover`` centre-crops to the size's aspect ratio, ``stretch`` resizes as it is, and
    ``contain`` fits the whole picture inside and pads the rest: the padding is transparent
    ("RGBA"), over a blurred, covering copy of the picture, so what lies under it (all a JPEG
    shows) continues the picture rather than a flat colour.
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size}")
    if mode == "stretch":
        return _resize(image, size)
    if mode == "contain":
        return _contain(image, size)
    if mode != "cover":
        raise ValueError(f"fit must be one of {FITS}, got {mode!r}")
    source_width, source_height = image.size
    # Crop first: a crop box handed to resize would still let the filter read a few pixels
    # beyond it, so what lies outside the crop would bleed into the edges.
    if source_width * height > source_height * width:
        crop = round(source_height * width / height)
        left = (source_width - crop) // 2
        image = image.crop((left, 0, left + crop, source_height))
    elif source_width * height < source_height * width:
        crop = round(source_width * height / width)
        top = (source_height - crop) // 2
        image = image.crop((0, top, source_width, top + crop))
    return _resize(image, size)


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos, in bands of output columns resampled side by side (Pillow releases the GIL):
    12-20 ms instead of 18-37 from 512x512 to 1024x1024 on two cores, the same pixels (tested)."""
    bands = _column_bands(image, size)
    if len(bands) == 1:
        # Pillow premultiplies RGBA while resampling: transparent pixels bleed no dark edges.
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
    width, height = size
    image.load()  # here, once: a picture still to be read must not be read by two threads

    def band(first: int, end: int) -> Image.Image:
        box = (image.width * first // width, 0, image.width * end // width, image.height)
        return image.resize((end - first, height), Image.Resampling.LANCZOS, box=box)

    result = Image.new(image.mode, size)
    for (first, _), made in zip(bands, _side_by_side(band, bands), strict=True):
        result.paste(made, (first, 0))
    return result


_REDUCING_GAP = 3.0
_BANDED_MODES = ("L", "LA", "RGB", "RGBA")
# Below this many output pixels, a band is not worth a thread.
_BANDED_PIXELS = 1 << 18


def _column_bands(image: Image.Image, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Up to :data:`_PARTS` bands of output columns, as (first, end), that resample to the
    pixels of the whole: each band's source columns start on a whole column (band edges are
    multiples of ``width / gcd(source width, width)``, the closest to even bands). Bands of
    rows would not do: Pillow's first pass gave other pixels for a band of rows."""
    width, height = size
    if (
        image.mode not in _BANDED_MODES
        or width * height < _BANDED_PIXELS
        # Shrinking 6x or more, Pillow first averages blocks, on a grid a band would shift.
        or image.width >= 2 * _REDUCING_GAP * width
        or image.height >= 2 * _REDUCING_GAP * height
    ):
        return [(0, width)]
    step = width // math.gcd(image.width, width)
    edges = {step * round(width * part / _PARTS / step) for part in range(_PARTS + 1)}
    return list(itertools.pairwise(sorted(edges)))


def _contain(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    width, height = size
    scale = min(width / image.width, height / image.height)
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if inner == size:
        return _resize(image, size)
    offset = ((width - inner[0]) // 2, (height - inner[1]) // 2)
    picture = _resize(image.convert("RGBA"), inner)
    result = fit(image.convert("RGB"), size, "cover").filter(
        ImageFilter.GaussianBlur(max(width, height) / 40)
    )
    result.paste(picture.convert("RGB"), offset)
    alpha = Image.new("L", size, 0)
    alpha.paste(picture.getchannel("A"), offset)
    result.putalpha(alpha)
    return result


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Split an RGB or RGBA picture into its RGB picture and its "L" alpha (None for RGB)."""
    if image.mode == "RGB":
        return image, None
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    raise ValueError(f"expected an RGB or RGBA picture, got mode {image.mode}")


def merge_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Return ``rgb`` with ``alpha`` as its alpha channel (resized to fit), or ``rgb`` if None."""
    if alpha is None:
        return rgb
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.LANCZOS)
    merged = rgb.convert("RGBA")
    merged.putalpha(alpha)
    return merged


def encode(image: Image.Image, fmt: OutputFormat = "png", compression: int | None = None) -> bytes:
    """Encode ``image`` for a response, at settings chosen for speed on the request path.

    ``compression`` (0-100, as OpenAI names it) is the zlib effort for PNG (0: none, 100: most)
    and the quality loss for JPEG and WebP (0: best quality, 100: smallest). JPEG has no alpha:
    a transparent picture is laid over white.
    """
    if compression is not None and not 0 <= compression <= 100:
        raise ValueError(f"compression must be between 0 and 100, got {compression}")
    if fmt == "png":
        return _png(image, compression)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image.save(buffer, format="JPEG", quality=_quality(compression, 90))
    elif fmt == "webp":
        # method 0 is WebP's fastest encoder; the quality, not the method, sets the size.
        image.save(buffer, format="WEBP", quality=_quality(compression, 90), method=0)
    else:
        raise ValueError(f"format must be one of {OUTPUT_FORMATS}, got {fmt!r}")
    return buffer.getvalue()


def _png(image: Image.Image, compression: int | None) -> bytes:
    """PNG at zlib level ``compression * 9 / 100``; by default, fast rather than small.

    The default is :func:`_fast_png`: on a 1024x1024 variation, 15 ms for 2.27 MB (9 ms in two
    parts on two cores), where zlib-ng's run-length deflate took 22-34 ms for 2.26 MB, libpng
    (Paeth filter, zlib's run-length strategy, through ``imagecodecs``) 46 ms for 2.16 MB and
    Pillow 211 ms at its own default. An explicit ``compression`` is written by libpng with the
    Paeth filter and zlib's default strategy, so that more effort does give smaller files;
    without ``imagecodecs``, by Pillow.
    """
    if compression is None and _isal is not None and image.mode in _PNG_COLOUR_TYPES:
        return _fast_png(np.asarray(image), _PNG_COLOUR_TYPES[image.mode])
    level = 6 if compression is None else round(compression * 9 / 100)
    strategy = zlib.Z_RLE if compression is None else zlib.Z_DEFAULT_STRATEGY
    if _imagecodecs is None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=level, compress_type=strategy)
        return buffer.getvalue()
    png = _imagecodecs.PNG
    return bytes(
        _imagecodecs.png_encode(
            np.asarray(image),
            level=level,
            strategy=png.STRATEGY.RLE if compression is None else png.STRATEGY.DEFAULT,
            filter=png.FILTER.PAETH,
        )
    )


# PNG's colour type for each 8-bit mode.
_PNG_COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_UP = 2


def _fast_png(pixels: np.ndarray, colour_type: int) -> bytes:
    """8-bit ``pixels`` [h, w] or [h, w, channels] as a PNG: every row "Up"-filtered (each
    byte less the one above it, one vectorised subtraction) and deflated by :func:`_deflate`."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = _PNG_UP
    filtered[0, 1:] = rows[0]  # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", _deflate(filtered)),
            _chunk(b"IEND", b""),
        ]
    )


#: A picture's rows are deflated in parts of at least this many bytes, the parts after the
#: first on worker threads (ISA-L releases the GIL): 9 ms instead of 15 for a 1024x1024
#: picture on two idle cores. Most of a request's pictures are encoded while the engine makes
#: the next, but the last one (the only one, at n=1) is not.
_DEFLATE_PART_BYTES = 1 << 18
# ISA-L's level 1: its level 0 wrote files half as large again, for 10% less time.
_DEFLATE_LEVEL = 1
# zlib's header for a 32 KiB window at a fast level (the header's check bits included).
_ZLIB_HEADER = b"\x78\x01"


def _deflate(rows: np.ndarray) -> bytes:
    """``rows`` [h, n] as one zlib stream, deflated by ISA-L in parts side by side, as pigz
    does: each part but the last ends on a sync flush (an empty, non-final stored block that
    leaves it on a byte boundary), so the parts join into one deflate stream; the zlib header
    and the Adler-32 of all the bytes wrap them."""
    count = max(1, min(_PARTS, len(rows), rows.nbytes // _DEFLATE_PART_BYTES))
    parts = [(part, index == count - 1) for index, part in enumerate(np.array_split(rows, count))]
    deflated = _side_by_side(_deflate_part, parts)
    checksum = struct.pack(">I", _isal.adler32(rows))
    return b"".join([_ZLIB_HEADER, *deflated, checksum])


def _deflate_part(rows: np.ndarray, last: bool) -> bytes:
    # Raw deflate (negative window bits): no header or checksum of its own.
    deflate = _isal.compressobj(_DEFLATE_LEVEL, _isal.DEFLATED, -15)
    flush = _isal.Z_FINISH if last else _isal.Z_SYNC_FLUSH
    deflated: bytes = deflate.compress(rows) + deflate.flush(flush)
    return deflated


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = _isal.crc32(payload, _isal.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _quality(compression: int | None, default: int) -> int:
    return default if compression is None else max(1, 100 - compression)


def keep_colours(result: Image.Image, original: Image.Image) -> Image.Image:
    """``result``'s brightness with ``original``'s colour (both RGB, the same size)."""
    luma = result.convert("YCbCr").getchannel("Y")
    _, blue, red = original.convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, blue, red)).convert("RGB")


def apply_mask(original: Image.Image, changed: Image.Image, mask: Image.Image) -> Image.Image:
    """Keep ``original`` where ``mask`` is opaque and take ``changed`` where it is transparent.

    OpenAI's meaning: the mask's alpha is 0 where the picture may change. Kept pixels stay
    exactly as they were; inside the changed area the blend ramps up over a few pixels from its
    edge, so there is no hard seam. All three pictures have the same size.
    """
    keep = np.asarray(mask.getchannel("A"), dtype=np.float32) / 255.0
    # Blurring the keep map and using it only where change is allowed softens the inside of the
    # edge and leaves every kept pixel alone.
    radius = max(1.0, min(mask.size) / 256)
    near_kept = np.asarray(
        mask.getchannel("A").filter(ImageFilter.GaussianBlur(radius * 2)), dtype=np.float32
    )
    change = (1.0 - keep) * (1.0 - near_kept / 255.0)
    change = change[..., None]
    before = np.asarray(original, dtype=np.float32)
    after = np.asarray(changed.convert(original.mode), dtype=np.float32)
    mixed = before + change * (after - before)
    return Image.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8), original.mode)


def _not_accepted_message(data: bytes) -> str:
    accepted = ", ".join(ACCEPTED_FORMATS)
    if not data:
        return f"The image is empty. Accepted formats: {accepted}."
    kind = _looks_like(data)
    hint = f" (it looks like {kind})" if kind else ""
    return f"The image is not in an accepted format{hint}. Accepted formats: {accepted}."


def _looks_like(data: bytes) -> str | None:
    """Name what ``data`` seems to be instead of an image, when that is cheap to tell."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a ZIP archive"
    if data.startswith(b"%PDF-"):
        return "a PDF document"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"):
            return "HEIC"
        return None
    try:
        # Not final: the cut at 1024 bytes may split a character.
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:1024])
    except UnicodeDecodeError:
        return None
    if _CONTROL_CHARS.search(text):
        return None
    head = text.lstrip("\ufeff \t\r\n").lower()
    if head.startswith(("<!doctype html", "<html")):
        return "HTML"
    if "<svg" in head:
        return "SVG"
    if head.startswith("<?xml"):
        return "XML"
    if head.startswith(("{", "[")):
        return "JSON"
    return "text"


def _apply_orientation(image: ImageFile.ImageFile) -> None:
    """Turn ``image`` upright in place from its EXIF orientation."""
    # EXIF is metadata: whatever is wrong with it, the pixels are still good.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)


def normalise(image: Image.Image) -> Image.Image:
    """Turn a picture already in memory upright, 8-bit sRGB "RGB" or "RGBA", as decode would.

    ``image`` itself is left as it is.
    """
    with contextlib.suppress(Exception):  # broken EXIF: the pixels are still good
        image = ImageOps.exif_transpose(image)
    return _normalise(image)


def _normalise(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit sRGB "RGB", or "RGBA" when the picture has real transparency."""
    icc_profile = image.info.get("icc_profile")
    if image.mode in _HIGH_DEPTH_MODES:
        image = _to_8bit(image)
    elif image.mode == "La":
        image = image.convert("LA")  # Pillow un-premultiplies "La" only into "LA"
    if icc_profile and image.mode == "CMYK":
        # A CMYK profile describes the inks, so it can only be applied before leaving CMYK.
        image, icc_profile = _to_srgb(image, icc_profile), None
    image = _to_rgb_or_rgba(image)
    return _to_srgb(image, icc_profile) if icc_profile else image


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit or float greyscale picture to "L" ("LA" with a colour key).

    16-bit samples are divided by 257. 32-bit integers that fit in 16 bits (how PNG and TIFF
    often carry them) are too, floats in 0..1 are multiplied by 255, and any other range is
    stretched from its minimum and maximum: nothing is clipped.
    """
    samples = np.nan_to_num(
        np.array(image, dtype=np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0
    )
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        low, high = float(samples.min()), float(samples.max())
        nominal = 65535.0 if image.mode == "I" else 1.0
        if low >= 0 and high <= nominal:
            low, high = 0.0, nominal
    scale = 255 / (high - low) if high > low else 0.0
    grey = Image.fromarray(np.rint((samples - low) * scale).astype(np.uint8))
    key = image.info.get("transparency")
    if isinstance(key, int):  # a PNG tRNS colour key on 16-bit greyscale
        grey.putalpha(Image.fromarray(np.where(samples == key, 0, 255).astype(np.uint8)))
    return grey


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Convert to "RGBA" if some pixel is not fully opaque, otherwise to "RGB"."""
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            return rgba
        return rgba.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    """Convert ``image`` from its ICC profile to sRGB, or keep its pixels if that fails."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "srgb" in (profile.profile.profile_description or "").lower():
            return image
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.ImageCmsTransform(profile, srgb, image.mode, output_mode).apply(image)
    except (OSError, ValueError):  # an unreadable profile, or one for another colour space
        return image
