"""vary: a self-hosted, drop-in replacement for OpenAI's image variations API.

For embedding, the public API is small::

    import vary

    pictures = vary.create_variations("photo.jpg", n=4, size="512x512", seed=7)
    engine = vary.load_engine()  # load once, then pass engine=engine to reuse it

Errors are in :mod:`vary.errors`; the server is :func:`vary.api.create_app`.
"""

from ._pipeline import create_variations
from ._version import __version__
from .engines import Engine, StyleEngine, load_engine
from .errors import VaryError

__all__ = ["Engine", "StyleEngine", "VaryError", "__version__", "create_variations", "load_engine"]
