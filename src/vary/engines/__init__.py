"""Engines, and the registry that maps model ids to them.

``model`` in a request names an engine by its id (``GET /v1/models`` lists them); ``dall-e-2``,
the only model of OpenAI's variations endpoint, is an alias of the default engine so that code
written for OpenAI works unchanged.
"""

from __future__ import annotations

import os

from ..errors import ModelNotFoundError
from ._runtime import PRECISIONS, RUNTIMES, choose_runtime
from .base import Controls, Engine, Variation
from .style import StyleEngine

__all__ = [
    "ALIASES",
    "DEFAULT_MODEL",
    "ENGINES",
    "PRECISIONS",
    "RUNTIMES",
    "Controls",
    "Engine",
    "StyleEngine",
    "Variation",
    "choose_runtime",
    "load_engine",
    "resolve_model",
]

ENGINES: dict[str, type[Engine]] = {StyleEngine.model_id: StyleEngine}
DEFAULT_MODEL = StyleEngine.model_id
ALIASES = {"dall-e-2": DEFAULT_MODEL}


def resolve_model(model: str | None) -> str:
    """Return the engine id that ``model`` names (``None`` is the default engine)."""
    if model is None:
        return DEFAULT_MODEL
    model_id = ALIASES.get(model, model)
    if model_id not in ENGINES:
        raise ModelNotFoundError(
            f"The model '{model}' does not exist or you do not have access to it."
        )
    return model_id


def load_engine(
    model: str | None = None,
    *,
    threads: int | None = None,
    runtime: str = "auto",
    precision: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
) -> Engine:
    """Load the engine that ``model`` names (default: the style engine) from where it ships.

    ``runtime`` and ``precision`` are explained in :meth:`Engine.from_pretrained`.
    """
    return ENGINES[resolve_model(model)].from_pretrained(
        threads=threads, runtime=runtime, precision=precision, cache_dir=cache_dir
    )
