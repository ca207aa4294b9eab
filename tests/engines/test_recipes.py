"""Style names, blends and prompts to weights, and weights back to words."""

from __future__ import annotations

import pytest

from vary.engines._recipes import describe, parse_style, styles_from_prompt
from vary.engines._styles import STYLES
from vary.errors import InvalidRequestError

BY_NAME = {style.name: style.id for style in STYLES}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ink wash", {BY_NAME["ink wash"]: 1.0}),
        ("Ink-Wash", {BY_NAME["ink wash"]: 1.0}),
        ("  ink_wash ", {BY_NAME["ink wash"]: 1.0}),
        ("ink wash:0.6,woodcut:0.4", {BY_NAME["ink wash"]: 0.6, BY_NAME["woodcut"]: 0.4}),
        ("ink wash:3,woodcut:1", {BY_NAME["ink wash"]: 0.75, BY_NAME["woodcut"]: 0.25}),
        ("2:1,2:1", {2: 1.0}),
        ("5", {5: 1.0}),
        ("ink wash,", {BY_NAME["ink wash"]: 1.0}),
    ],
)
def test_parse_style(spec, expected):
    assert parse_style(spec) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no such style", "Unknown style"),
        ("26", "Unknown style"),
        ("ink wash:-1", "non-negative"),
        ("ink wash:abc", "non-negative"),
        ("ink wash:nan", "non-negative"),
        ("ink wash:0", "Give a style"),
        (",", "Give a style"),
    ],
)
def test_parse_style_refuses_nonsense_naming_the_field(spec, fragment):
    with pytest.raises(InvalidRequestError, match=fragment) as caught:
        parse_style(spec)
    assert caught.value.param == "style"


def test_prompt_with_a_style_name_picks_that_style_first():
    for style in STYLES:
        weights, matched = styles_from_prompt(f"make it {style.name} please")
        assert matched
        if style.max_weight < 1:  # an unsafe style is kept to its share
            assert weights[style.id] == pytest.approx(style.max_weight), style.name
        else:
            assert max(weights, key=weights.__getitem__) == style.id, style.name


def test_prompt_words_from_descriptions_count():
    weights, matched = styles_from_prompt("something with crimson")
    assert weights
    assert "crimson" in matched
    assert all("crimson" in STYLES[s].description + STYLES[s].name for s in weights)


def test_prompt_keeps_unsafe_styles_to_their_max_weight():
    unsafe = next(style for style in STYLES if style.max_weight < 1)
    weights, _ = styles_from_prompt(unsafe.name)
    assert weights[unsafe.id] <= unsafe.max_weight


@pytest.mark.parametrize("prompt", ["", "the a of", "zzz qqq", "1234"])
def test_prompt_without_style_words_matches_nothing(prompt):
    assert styles_from_prompt(prompt) == ({}, [])


def test_describe_lists_styles_by_share_then_strength():
    ink, wood = BY_NAME["ink wash"], BY_NAME["woodcut"]
    assert describe({wood: 0.3, ink: 0.7}, 0.85) == (
        'style "ink wash" 70% + "woodcut" 30%, strength 0.85'
    )
    assert describe({ink: 0.999, wood: 0.001}, 1.0) == 'style "ink wash" 100%, strength 1'
