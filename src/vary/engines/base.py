"""The interface every engine implements.

An engine turns one picture into variations of it. It knows nothing of HTTP, files or formats:
it takes a decoded RGB picture that is already at the output size and returns RGB pictures of
that same size, so the server, the CLI and the Python API all drive it the same way.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Self

from PIL import Image

__all__ = ["Controls", "Engine", "Variation"]


@dataclass(frozen=True, kw_only=True)
class Controls:
    """What a caller may ask of the look, beside the picture, ``n`` and the seed.

    Every field is optional; an engine uses what it understands and says in each variation's
    recipe what it did with it.
    """

    #: 0 gives the input back, 1 the full look; ``None`` is the engine's default.
    strength: float | None = None
    #: A style by name, or a blend such as ``"ink wash:0.6,woodcut:0.4"``.
    style: str | None = None
    #: Words that steer the look.
    prompt: str | None = None
    #: A picture whose look the variations should take.
    style_image: Image.Image | None = None

    def __post_init__(self) -> None:
        if self.strength is not None and not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")


@dataclass(frozen=True)
class Variation:
    """One picture an engine made, with the seed that makes it again and how it was made."""

    image: Image.Image
    seed: int
    #: Human-readable, e.g. ``style "ink wash" 70% + "woodcut" 30%, strength 0.85``.
    recipe: str


class Engine(abc.ABC):
    """Makes variations of a picture.

    Subclasses set ``model_id`` (the id clients send as ``model``) and implement
    :meth:`from_pretrained` and :meth:`variations`. An engine is loaded once and then called
    from worker threads, one call at a time unless it says otherwise through
    ``max_concurrency``.
    """

    model_id: ClassVar[str]
    #: How many calls may run at once (an engine may set it when it loads). Engines that use
    #: every core per call keep this at 1.
    max_concurrency: int = 1

    @classmethod
    @abc.abstractmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        runtime: str = "auto",
        precision: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Load the engine from ``path``, or from where it ships by default; never downloads.

        ``threads`` caps the threads one call uses (default: one per core). ``runtime`` and
        ``precision`` pick what runs the network (``"auto"``: the engine chooses for this
        machine); an engine raises ``ValueError`` for a choice it does not offer.
        ``cache_dir`` is where the engine may keep what it compiles, between starts.
        """

    @abc.abstractmethod
    def variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> list[Variation]:
        """Return ``n`` variations of ``image``, each an RGB picture of exactly ``image.size``.

        ``image`` is an RGB picture at the requested output size. Variation ``i`` must depend
        only on the picture, the controls and ``seed + i``, so the same seed gives the same
        pixels and one variation of a batch can be made again alone. Bad controls raise
        :class:`vary.errors.InvalidRequestError` naming the field.
        """

    def iter_variations(
        self, image: Image.Image, *, n: int, seed: int, controls: Controls = Controls()
    ) -> Iterator[Variation]:
        """The variations of :meth:`variations`, each yielded as soon as it is made, so that a
        caller can encode one while the engine makes the next. This default makes them all
        first; an engine that makes them one by one overrides it."""
        yield from self.variations(image, n=n, seed=seed, controls=controls)

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing to release
        """Release what the engine holds. The engine is not used afterwards."""
