"""From what a caller asks (a style name, a blend, words) to style weights, and back to words.

Weights are ``{style id: share}`` over the 26 styles of ``_styles``. The recipe that goes back
to the caller (in OpenAI's ``revised_prompt``) is built here too, so the way a look is asked
for and the way it is described stay in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import InvalidRequestError
from ._styles import STYLES

__all__ = ["describe", "parse_style", "styles_from_prompt"]

_BY_NAME = {style.name: style.id for style in STYLES}
_WORD = re.compile(r"[a-z]+")
# Words that say nothing about a look; without this list "a photo of the sea" would match every
# description that contains "the".
_STOPWORDS = frozenset(
    "a an and as at be but by for from in into is it its like look looking make me more of on "
    "or over picture photo please some style styled than that the this to very with".split()
)
# Prompt-matched styles: at most this many, the strongest matches first.
_MAX_PROMPT_STYLES = 3


def _normalised(weights: Mapping[int, float]) -> dict[int, float]:
    total = sum(weights.values())
    return {style: weight / total for style, weight in weights.items() if weight > 0}


def _style_id(name: str) -> int:
    key = " ".join(name.replace("-", " ").replace("_", " ").lower().split())
    if key.isdigit() and int(key) < len(STYLES):
        return int(key)
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise InvalidRequestError(
        f"Unknown style {name!r}. GET /v1/styles lists the styles, e.g. {STYLES[2].name!r}.",
        param="style",
    )


def parse_style(spec: str) -> dict[int, float]:
    """``"ink wash"`` or ``"ink wash:0.6,woodcut:0.4"`` (names or ids) -> weights summing to 1."""
    weights: dict[int, float] = {}
    for part in spec.split(","):
        name, _, share = part.partition(":")
        if not name.strip():
            continue
        try:
            weight = float(share) if share.strip() else 1.0
        except ValueError:
            weight = -1.0
        if not weight >= 0:  # also catches nan
            raise InvalidRequestError(
                f"Style weights are non-negative numbers, as in 'ink wash:0.6,woodcut:0.4'; "
                f"got {part.strip()!r}.",
                param="style",
            )
        style = _style_id(name)
        weights[style] = weights.get(style, 0.0) + weight
    if sum(weights.values()) <= 0:
        raise InvalidRequestError(
            "Give a style name, or a blend such as 'ink wash:0.6,woodcut:0.4'.", param="style"
        )
    return _normalised(weights)


def _words(text: str) -> set[str]:
    # A crude stem ("swirls" -> "swirl") is enough for the catalogue's plain words.
    return {
        word[:-1] if len(word) > 3 and word.endswith("s") else word
        for word in _WORD.findall(text.lower())
        if word not in _STOPWORDS
    }


_NAME_WORDS = {style.id: _words(style.name) for style in STYLES}
_DESCRIPTION_WORDS = {style.id: _words(style.description) for style in STYLES}


def styles_from_prompt(prompt: str) -> tuple[dict[int, float], list[str]]:
    """Weights for the styles whose names and descriptions share words with ``prompt``.

    A word of a style's name counts three times a word of its description. Returns the weights
    (empty when nothing matched) and the prompt words that matched, for the recipe. Styles that
    are only safe in part of a blend keep to their ``max_weight``, so the shares may sum to
    less than 1.
    """
    words = _words(prompt)
    scores = {
        style: 3 * len(words & _NAME_WORDS[style]) + len(words & _DESCRIPTION_WORDS[style])
        for style in range(len(STYLES))
    }
    best = sorted((s for s in scores if scores[s] > 0), key=lambda s: (-scores[s], s))
    chosen = best[:_MAX_PROMPT_STYLES]
    if not chosen:
        return {}, []
    shares = _normalised({style: float(scores[style]) for style in chosen})
    weights = {style: min(share, STYLES[style].max_weight) for style, share in shares.items()}
    matched = sorted(words & set().union(*(_NAME_WORDS[s] | _DESCRIPTION_WORDS[s] for s in chosen)))
    return weights, matched


def describe(weights: Mapping[int, float], strength: float) -> str:
    """``style "ink wash" 70% + "woodcut" 30%, strength 0.85``."""
    parts = [
        f'"{STYLES[style].name}" {round(share * 100)}%'
        for style, share in sorted(weights.items(), key=lambda item: (-item[1], item[0]))
        if round(share * 100) > 0
    ]
    return f"style {' + '.join(parts)}, strength {strength:g}"
