"""Every file of the hostile-upload corpus gets the answer tests/data/corpus/README.md lists.

Never a 5xx; a 4xx in OpenAI's envelope naming `image`; a 413 decided from the header alone.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import ImageFile

CORPUS = Path(__file__).parents[1] / "data" / "corpus"
MAX_FILE_BYTES = 64 * 1024
# Pillow warns about this file's EXIF while it opens it, and pytest makes warnings errors: see
# "Found" in the corpus README.
_MARKS = {
    "jpeg_exif_bad_ifd.jpg": pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
}


@dataclass(frozen=True)
class Expected:
    file: str
    status: int
    param: str | None
    code: str | None


def _table() -> list[Expected]:
    """The README's rows: | `file` | what it is | status | param | code |."""
    rows = []
    for line in (CORPUS / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            file, _, status, param, code = (cell.strip() for cell in line.strip("|").split("|"))
            rows.append(Expected(file.strip("`"), int(status), param or None, code or None))
    return rows


TABLE = _table()


def _builders() -> set[str]:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.CORPUS)


def test_the_table_the_files_and_the_builders_agree():
    listed = {row.file for row in TABLE}
    on_disk = {path.name for path in CORPUS.iterdir()} - {"README.md", "make_corpus.py"}
    assert len(listed) == len(TABLE), "a file is listed twice"
    assert listed == on_disk == _builders()
    assert all((CORPUS / name).stat().st_size < MAX_FILE_BYTES for name in on_disk)


@pytest.fixture
def pixel_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every picture whose pixels Pillow decodes."""
    loads: list[str] = []
    load = ImageFile.ImageFile.load

    def recording_load(image: ImageFile.ImageFile) -> object:
        loads.append(f"{image.format} {image.size}")
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loads


@pytest.mark.parametrize(
    "expected", [pytest.param(row, id=row.file, marks=_MARKS.get(row.file, ())) for row in TABLE]
)
def test_each_corpus_file_gets_its_listed_answer(client, fake_engine, pixel_loads, expected):
    data = (CORPUS / expected.file).read_bytes()
    response = client.post(
        "/v1/images/variations",
        files={"image": (expected.file, data, "application/octet-stream")},
        data={"size": "64x64"},
    )
    assert response.status_code == expected.status, response.text
    if expected.status == 200:
        assert len(response.json()["data"]) == 1
        assert len(fake_engine.calls) == 1
        assert pixel_loads, "the spy saw no decoding, so it would not see a bomb's either"
        return
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error = body["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        expected.param,
        expected.code,
    )
    assert error["message"]
    assert fake_engine.calls == []
    if expected.status == 413:
        assert pixel_loads == [], "a bomb must be refused from its header"
