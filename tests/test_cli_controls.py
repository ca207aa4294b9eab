"""The ``vary`` command's look controls, edits and style list, run as a user runs them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import PHOTOS, png_bytes
from test_cli import vary

PHOTO = PHOTOS / "cat.jpg"
REFERENCE = PHOTOS / "rocket.jpg"


def test_every_look_control_at_once(tmp_path):
    run = vary(
        PHOTO, "--style", "ink wash", "--strength", "0.6", "--seed", "7",
        "--style-image", REFERENCE, "--preserve-color", "--size", "auto", "--format", "webp",
        "-o", tmp_path, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (path,) = run.stdout.split()
    assert path == str(tmp_path / "cat-7.webp")
    with Image.open(path) as picture:
        assert picture.format == "WEBP"
        with Image.open(PHOTO) as photo:  # auto: the photo's aspect, long side 1024
            assert picture.size == (1024, round(photo.height * 1024 / photo.width))


def test_named_style_strength_and_seed_reproduce(tmp_path):
    def make(out: str) -> bytes:
        run = vary(
            PHOTO, "--style", "woodcut", "--strength", "0.5", "--seed", "3", "--size", "128x96",
            "--fit", "contain", "-o", out, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return (tmp_path / run.stdout.strip()).read_bytes()

    first, again = make("a"), make("b")
    assert first == again
    with Image.open(tmp_path / "a" / "cat-3.png") as picture:
        assert (picture.size, picture.mode) == ((128, 96), "RGBA")  # contain pads: transparent


def test_edit_changes_only_the_masked_area(tmp_path):
    with Image.open(PHOTO) as opened:
        photo = opened.convert("RGB").resize((128, 128))
    (tmp_path / "photo.png").write_bytes(png_bytes(photo))
    mask = Image.new("RGBA", (128, 128), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (64, 0, 128, 128))
    (tmp_path / "mask.png").write_bytes(png_bytes(mask))
    run = vary(
        "edit", "photo.png", "--mask", "mask.png", "--prompt", "woodcut", "--size", "128x128",
        "--seed", "1", "-o", "out", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with Image.open(tmp_path / run.stdout.strip()) as written:
        out = np.asarray(written.convert("RGB"), dtype=int)
    before = np.asarray(photo, dtype=int)
    assert np.array_equal(out[:, :64], before[:, :64])
    assert np.abs(out[:, 72:] - before[:, 72:]).mean() > 10


def test_edit_needs_a_prompt_and_a_matching_mask(tmp_path):
    (tmp_path / "photo.png").write_bytes(png_bytes(Image.new("RGB", (64, 64))))
    (tmp_path / "mask.png").write_bytes(png_bytes(Image.new("RGBA", (32, 32))))
    no_prompt = vary("edit", "photo.png", cwd=tmp_path)
    assert no_prompt.returncode == 2
    assert "--prompt" in no_prompt.stderr
    wrong = vary("edit", "photo.png", "--mask", "mask.png", "--prompt", "x", cwd=tmp_path)
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("vary: error: The mask must be the same size")
    assert "Traceback" not in wrong.stderr


def test_unknown_style_is_one_clear_line(tmp_path):
    run = vary(PHOTO, "--style", "no such style", "--size", "64x64", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.count("\n") <= 2  # the progress line, then the error
    assert "vary: error: Unknown style 'no such style'" in run.stderr


def test_styles_lists_all_26_and_draws_a_sheet(tmp_path):
    run = vary("styles", "--sheet", "sheet.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line[:2].strip().isdigit()]
    assert len(rows) == 26
    assert any("ink wash" in row and "*" in row for row in rows)
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.width > 1000
        assert sheet.height > 800
