from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image

from fakes import FakeEngine
from vary.api import create_app
from vary.config import Settings

PHOTOS = Path(__file__).parent / "data" / "photos"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def post_variation(
    client: TestClient,
    picture: Image.Image,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Response:
    """POST ``picture`` for variations, as the official client uploads it (256x256 unless
    ``fields`` say otherwise)."""
    return client.post(
        "/v1/images/variations",
        files={"image": ("upload", png_bytes(picture), "application/octet-stream")},
        data={"size": "256x256", **fields},
        headers=headers or {},
    )


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
