"""The real ``vary`` command, run as a user runs it: a subprocess of the installed script."""

from __future__ import annotations

import itertools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import PHOTOS
from layout import MIN_SCORE, layout_similarity
from live import VARY, free_port
from vary._version import __version__

PHOTO = PHOTOS / "cat.jpg"  # non-square, so the crop is exercised too


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str  # as written: the progress bar's carriage returns are kept


def vary(*args: str | Path, cwd: Path, timeout: float = 300) -> Run:
    if not VARY.is_file():
        pytest.fail(f"{VARY} not found: run `make install`", pytrace=False)
    done = subprocess.run(
        [str(VARY), *map(str, args)], cwd=cwd, capture_output=True, timeout=timeout, check=False
    )
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def pngs(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.png"))}


@pytest.fixture(scope="module")
def seed_5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """``vary cat.jpg -n 3 --size 256x256 -o DIR --seed 5``, run once for the module."""
    out = tmp_path_factory.mktemp("seed-5") / "out"  # does not exist yet: vary creates it
    run = vary(PHOTO, "-n", "3", "--size", "256x256", "-o", out, "--seed", "5", cwd=out.parent)
    assert run.returncode == 0, run.stderr
    return run, out


def test_version(tmp_path):
    run = vary("--version", cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, f"vary {__version__}\n", "")


def test_writes_n_pngs_and_prints_exactly_their_paths(seed_5):
    run, out = seed_5
    expected = [out / f"cat-{seed}.png" for seed in (5, 6, 7)]
    assert run.stdout == "".join(f"{path}\n" for path in expected)
    assert sorted(out.iterdir()) == expected
    pictures = [Image.open(path) for path in expected]
    fitted = ImageOps.fit(Image.open(PHOTO), (256, 256))
    for picture in pictures:
        assert (picture.format, picture.size, picture.mode) == ("PNG", (256, 256), "RGB")
        assert layout_similarity(fitted, picture) >= MIN_SCORE
    for a, b in itertools.combinations(pictures, 2):
        assert np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean() > 5


def test_progress_bar_counts_to_n_on_stderr(seed_5):
    run, _ = seed_5
    # One line, rewritten in place: "\r[####....] i/3 ...", with a newline only at the end.
    assert run.stderr.endswith("\n"), repr(run.stderr)
    updates = run.stderr.removesuffix("\n").split("\r")
    assert updates[0] == "", repr(run.stderr)
    bars = [re.fullmatch(r"\[(#*)(\.*)\] (\d+)/3 \w+", update) for update in updates[1:]]
    assert None not in bars, repr(run.stderr)
    filled, empty, done = zip(*((len(b[1]), len(b[2]), int(b[3])) for b in bars if b), strict=True)
    assert done == (0, 1, 2, 3)
    assert len({f + e for f, e in zip(filled, empty, strict=True)}) == 1, "one bar width"
    assert list(filled) == sorted(filled)
    assert (filled[0], empty[-1]) == (0, 0), "from empty to full"


@pytest.mark.parametrize("command", [(), ("create",)], ids=["short form", "vary create"])
def test_same_seed_gives_the_same_files(seed_5, tmp_path, command):
    _, first = seed_5
    args = (*command, PHOTO, "-n", "3", "--size", "256x256", "-o", tmp_path, "--seed", "5")
    run = vary(*args, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert pngs(tmp_path) == pngs(first)


def test_different_seeds_differ_and_seed_plus_i_is_variation_i(seed_5, tmp_path):
    _, first = seed_5
    run = vary(PHOTO, "--size", "256x256", "-o", tmp_path, "--seed", "6", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"{tmp_path / 'cat-6.png'}\n"
    made = (tmp_path / "cat-6.png").read_bytes()
    assert made == (first / "cat-6.png").read_bytes()
    assert made != (first / "cat-5.png").read_bytes()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing file", "No such file or directory"),
        ("text file", "not in an accepted format"),
        ("directory", "Is a directory"),
        ("output is a file", "File exists"),
    ],
)
def test_failures_are_one_line_without_traceback(tmp_path, case, fragment):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    image, out = {
        "missing file": (tmp_path / "nothing.jpg", tmp_path / "out"),
        "text file": (text, tmp_path / "out"),
        "directory": (tmp_path, tmp_path / "out"),
        "output is a file": (PHOTO, text),
    }[case]
    run = vary(image, "--size", "256x256", "-o", out, cwd=tmp_path)
    assert run.returncode not in {0, 2}, run.stderr  # 2 is a usage error
    assert run.stdout == ""
    line, newline, rest = run.stderr.partition("\n")
    assert (newline, rest) == ("\n", ""), run.stderr
    assert line.startswith("vary: error: ")
    assert fragment in line
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize(
    "args",
    [("-n", "11"), ("-n", "0"), ("-n", "abc"), ("--size", "big"), ("--size", "4096x4096")],
)
def test_bad_options_are_usage_errors(tmp_path, args):
    option, value = args
    run = vary(PHOTO, option, value, "-o", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.startswith("usage: vary create")
    last = run.stderr.splitlines()[-1]
    assert last.startswith(f"vary create: error: argument {option}: "), run.stderr
    assert value in last
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_serve_help_lists_its_options(tmp_path):
    run = vary("serve", "--help", cwd=tmp_path)
    assert run.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--api-key", "--url-ttl", "VARY_API_KEYS"):
        assert option in run.stdout


@pytest.mark.parametrize("case", ["negative seed", "zero url-ttl"])
def test_out_of_range_numbers_are_usage_errors(tmp_path, case):
    args: tuple[str | Path, ...] = {
        "negative seed": (PHOTO, "--seed", "-1", "--size", "64x64", "-o", tmp_path),
        # A free port and a scratch data dir keep a server that wrongly starts harmless, and the
        # timeout stops it.
        "zero url-ttl": (
            "serve",
            "--url-ttl",
            "0",
            "--port",
            str(free_port()),
            "--data-dir",
            tmp_path,
        ),
    }[case]
    run = vary(*args, cwd=tmp_path, timeout=60)
    assert "Traceback" not in run.stderr
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1].startswith("vary ")
