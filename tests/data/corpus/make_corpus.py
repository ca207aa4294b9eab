"""Regrow the hostile-input corpus: ``python tests/data/corpus/make_corpus.py``.

Every file is built here from fixed seeds, mostly byte by byte, so the corpus can be rebuilt and
reviewed; Pillow only encodes the few valid pictures that are then cut or patched. Each file stays
under 64 KB. README.md, next to this script, says what each file is and what vary must answer;
the tests read that table, so a new file needs a new row there.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent
MAX_FILE_BYTES = 64 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _noise(size: int = 48, seed: int = 0) -> Image.Image:
    """An RGB picture of random pixels: it compresses badly, so a cut lands inside the pixels."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# --- PNG, chunk by chunk ---------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _ihdr(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0))


def _png(width: int, height: int, idat: bytes, *, extra: bytes = b"", bit_depth: int = 8) -> bytes:
    """A greyscale PNG whose header says whatever it is told, around ``idat``."""
    return (
        PNG_SIGNATURE
        + _ihdr(width, height, bit_depth)
        + extra
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _grey_rows(width: int, height: int) -> bytes:
    return zlib.compress(bytes(height * (1 + width)), 9)


def one_pixel_png() -> bytes:
    return _png(1, 1, _grey_rows(1, 1))


def png_bad_crc() -> bytes:
    # The IHDR checksum is the one Pillow checks before anything else.
    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", header, crc=0xDEADBEEF) + _chunk(b"IDAT", _grey_rows(8, 8))
    return PNG_SIGNATURE + body + _chunk(b"IEND", b"")


def png_bad_zlib() -> bytes:
    rng = random.Random(1)
    rows = b"".join(b"\x00" + rng.randbytes(64) for _ in range(64))
    idat = bytearray(zlib.compress(rows))
    idat[100:110] = b"\xff" * 10  # the chunk's CRC covers the damage: only deflate can tell
    return _png(64, 64, bytes(idat))


def png_signature_noise() -> bytes:
    return PNG_SIGNATURE + random.Random(2).randbytes(2000)


def png_bomb_header() -> bytes:
    """30000x30000 (900 megapixels) in the header, a few bytes of pixels behind it."""
    return _png(30_000, 30_000, zlib.compress(b"\x00" * 1000))


def png_bomb_complete() -> bytes:
    """A complete, valid 1-bit 20000x20000 PNG (400 megapixels): 50 MB of zero rows deflated."""
    width = height = 20_000
    row = bytes(1 + width // 8)  # the filter byte, then 2500 bytes of 8 pixels each
    compressor = zlib.compressobj(9)
    block = row * 1000
    idat = b"".join(compressor.compress(block) for _ in range(height // 1000))
    return _png(width, height, idat + compressor.flush(), bit_depth=1)


def png_zero_width() -> bytes:
    return _png(0, 8, _grey_rows(0, 8))


def png_max_width() -> bytes:
    return _png(2**31 - 1, 1, zlib.compress(b"\x00" * 64))


def png_text_bomb() -> bytes:
    """An 8x8 PNG carrying a zTXt chunk that inflates to 32 MB of text."""
    text = zlib.compress(b"A" * (32 * 1024 * 1024), 9)
    return _png(8, 8, _grey_rows(8, 8), extra=_chunk(b"zTXt", b"Comment\x00\x00" + text))


def apng_frame_bomb() -> bytes:
    """An APNG whose only frame is 60000x60000 inside an 8x8 canvas."""
    actl = _chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 60_000, 60_000, 0, 0, 1, 1, 0, 0))
    return _png(8, 8, _grey_rows(8, 8), extra=actl + fctl)


# --- other formats ----------------------------------------------------------------------------


def _gif(frame_width: int, frame_height: int) -> bytes:
    """A 16x16 logical screen holding one frame of the given size, with a few bytes of LZW data."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x80, 0, 0) + bytes(6)  # 2-colour table
    frame = b"," + struct.pack("<HHHHB", 0, 0, frame_width, frame_height, 0)
    lzw = b"\x02" + b"\x02\x4c\x01\x00"  # minimum code size 2, one tiny sub-block, terminator
    return screen + frame + lzw + b";"


def gif_bomb() -> bytes:
    """A 65535x65535 frame: over Pillow's own bomb limit too."""
    return _gif(65_535, 65_535)


def gif_frame_over_limit() -> bytes:
    """A 7000x7000 frame (49 megapixels): over vary's limit, under Pillow's bomb warning."""
    return _gif(7_000, 7_000)


def _tiff(width: int, height: int, pixels: bytes, *, next_ifd: int = 0) -> bytes:
    """An uncompressed 8-bit greyscale TIFF written tag by tag."""
    short, long = 3, 4
    tags = [
        (256, long, width),
        (257, long, height),
        (258, short, 8),
        (259, short, 1),
        (262, short, 1),
        (273, long, 0),  # the strip offset, filled in below
        (277, short, 1),
        (278, long, height),
        (279, long, len(pixels)),
    ]
    data_offset = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == short else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd) + pixels


def tiff_huge() -> bytes:
    return _tiff(100_000, 100_000, bytes(64))


def tiff_ifd_loop() -> bytes:
    """A valid 8x8 TIFF whose next-IFD pointer points back at its own IFD."""
    return _tiff(8, 8, bytes(64), next_ifd=8)


def _bmp(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (8, 8), "red"), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def bmp_negative_height() -> bytes:
    return _bmp(8, -(2**31))


def bmp_huge_height() -> bytes:
    return _bmp(8, 2**31 - 1)


def webp_truncated() -> bytes:
    return _half(_encode(_noise(), "WEBP", quality=90))


def truncated_png() -> bytes:
    return _half(_encode(_noise(), "PNG"))


def truncated_jpeg() -> bytes:
    return _half(_encode(_noise(), "JPEG", quality=90))


def _jpeg_with_app1(payload: bytes) -> bytes:
    jpeg = _encode(_noise(16, seed=3), "JPEG", quality=90)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]  # right after SOI, where EXIF lives


def jpeg_corrupt_exif() -> bytes:
    return _jpeg_with_app1(b"Exif\x00\x00" + random.Random(4).randbytes(300))


def jpeg_exif_bad_ifd() -> bytes:
    """EXIF whose IFD claims 65535 entries and whose orientation is 99."""
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 65_535)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, 99, 0)
    return _jpeg_with_app1(b"Exif\x00\x00" + tiff)


def jpeg_huge_sof() -> bytes:
    data = bytearray(_encode(Image.new("RGB", (8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_500, 65_500)
    return bytes(data)


# --- not pictures -----------------------------------------------------------------------------


def plain_text() -> bytes:
    return b"This is not a picture.\nIt is a text file with a .png name.\n"


def html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><body><img src='cat.png'></body></html>\n"


def svg_drawing() -> bytes:
    return (
        b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'>"
        b"<circle cx='32' cy='32' r='30' fill='red'/></svg>\n"
    )


def zip_archive() -> bytes:
    """A ZIP with a real PNG inside: the name and the first member say PNG, the bytes do not."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("inside.png", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, one_pixel_png())
    return buffer.getvalue()


def pdf_document() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def heic_header() -> bytes:
    return struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(64)


#: File name -> how to build it. README.md has one row per name.
CORPUS: dict[str, Callable[[], bytes]] = {
    "empty.png": lambda: b"",
    "text.png": plain_text,
    "page.html": html_page,
    "drawing.svg": svg_drawing,
    "archive.png": zip_archive,
    "document.pdf": pdf_document,
    "photo.heic": heic_header,
    "truncated.png": truncated_png,
    "truncated.jpg": truncated_jpeg,
    "png_bad_crc.png": png_bad_crc,
    "png_bad_zlib.png": png_bad_zlib,
    "png_signature_noise.png": png_signature_noise,
    "png_bomb_header.png": png_bomb_header,
    "png_bomb_complete.png": png_bomb_complete,
    "png_zero_width.png": png_zero_width,
    "png_max_width.png": png_max_width,
    "png_text_bomb.png": png_text_bomb,
    "apng_frame_bomb.png": apng_frame_bomb,
    "gif_bomb.gif": gif_bomb,
    "gif_frame_over_limit.gif": gif_frame_over_limit,
    "tiff_huge.tif": tiff_huge,
    "tiff_ifd_loop.tif": tiff_ifd_loop,
    "bmp_negative_height.bmp": bmp_negative_height,
    "bmp_huge_height.bmp": bmp_huge_height,
    "webp_truncated.webp": webp_truncated,
    "jpeg_corrupt_exif.jpg": jpeg_corrupt_exif,
    "jpeg_exif_bad_ifd.jpg": jpeg_exif_bad_ifd,
    "jpeg_huge_sof.jpg": jpeg_huge_sof,
    "one_pixel.png": one_pixel_png,
}


def main(directory: Path = HERE) -> None:
    for name, build in CORPUS.items():
        data = build()
        if len(data) >= MAX_FILE_BYTES:
            sys.exit(f"{name} is {len(data):,} bytes, over the corpus' {MAX_FILE_BYTES:,}")
        (directory / name).write_bytes(data)
        print(f"{len(data):>7,}  {name}")


if __name__ == "__main__":
    main()
