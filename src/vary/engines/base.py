"""The interface every engine implements.

An engine turns one picture into variations of it. It knows nothing of HTTP, files or formats:
it takes a decoded RGB picture that is already at the output size and returns RGB pictures of
that same size, so the server, the CLI and the Python API all drive it the same way.
"""

from __future__ import annotations

import abc
import os
from typing import ClassVar, Self

from PIL import Image

__all__ = ["Engine"]


class Engine(abc.ABC):
    """Makes variations of a picture.

    Subclasses set ``model_id`` (the id clients send as ``model``) and implement
    :meth:`from_pretrained` and :meth:`variations`. An engine is loaded once and then called
    from worker threads, one call at a time unless it says otherwise through
    ``max_concurrency``.
    """

    model_id: ClassVar[str]
    #: How many calls may run at once. Engines that use every core per call keep this at 1.
    max_concurrency: ClassVar[int] = 1

    @classmethod
    @abc.abstractmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, *, threads: int | None = None
    ) -> Self:
        """Load the engine from ``path``, or from where it ships by default; never downloads.

        ``threads`` caps the threads one call uses (default: one per core).
        """

    @abc.abstractmethod
    def variations(self, image: Image.Image, *, n: int, seed: int) -> list[Image.Image]:
        """Return ``n`` RGB variations of ``image``, each exactly ``image.size``.

        ``image`` is an RGB picture at the requested output size. Variation ``i`` must depend
        only on the picture and on ``seed + i``, so the same seed gives the same pixels and one
        variation of a batch can be made again alone.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing to release
        """Release what the engine holds. The engine is not used afterwards."""
