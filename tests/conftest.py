from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fakes import FakeEngine
from vary.api import create_app
from vary.config import Settings

PHOTOS = Path(__file__).parent / "data" / "photos"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def gradient() -> Image.Image:
    """A small non-square RGB picture with structure in both directions."""
    x = np.linspace(0, 255, 96)[None, :, None]
    y = np.linspace(0, 255, 64)[:, None, None]
    pixels = np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture
def photo_paths() -> list[Path]:
    return sorted(PHOTOS.glob("*.jpg"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_keys=())


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def client(settings: Settings, fake_engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=fake_engine)) as test_client:
        yield test_client
