"""What the package exports is deliberate: each __all__ names exactly the public objects."""

from __future__ import annotations

import importlib
import inspect

import pytest

import vary

MODULES = [
    "vary",
    "vary.errors",
    "vary.config",
    "vary.imaging",
    "vary.engines",
    "vary.engines.base",
    "vary.engines.style",
    "vary.api",
    "vary.api.protocol",
]


def test_top_level_api():
    assert set(vary.__all__) == {
        "Engine",
        "StyleEngine",
        "VaryError",
        "__version__",
        "create_variations",
        "load_engine",
    }
    assert vary.__version__.count(".") == 2


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_public_definitions_are_listed(name):
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, item) for item in exported)
    defined_here = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined_here <= exported, defined_here - exported


def test_every_error_derives_from_vary_error():
    import vary.errors as errors

    for item in errors.__all__:
        assert issubclass(getattr(errors, item), errors.VaryError)
