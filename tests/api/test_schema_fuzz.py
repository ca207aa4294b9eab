"""Schema fuzzing: schemathesis drives every operation of the app's own OpenAPI document, in
process, with the FakeEngine. Whatever it sends, no answer is a 5xx and every error comes in
OpenAI's envelope.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from conftest import png_bytes
from fakes import FakeEngine
from vary.api import create_app
from vary.api.protocol import CreateImageEditRequest, CreateImageVariationRequest
from vary.config import Settings

# Not created until the first request starts the app; removed when the module is done.
DATA_DIR = Path(tempfile.gettempdir()) / f"vary-schema-fuzz-{os.getpid()}"
APP = create_app(Settings(data_dir=DATA_DIR, api_keys=()), engine=FakeEngine())
SERVED = APP.openapi()  # what GET /openapi.json serves, as a test below checks
FORMS = {
    "/v1/images/variations": CreateImageVariationRequest,
    "/v1/images/edits": CreateImageEditRequest,
}
UPLOADS = {"image", "image[]", "mask", "style_image"}
# Transparent in one corner: a valid image, mask and style_image at once, of the same size.
PICTURE = Image.new("RGBA", (8, 8), (200, 40, 40, 255))
PICTURE.putpixel((0, 0), (0, 0, 0, 0))
PNG = png_bytes(PICTURE)
# Valid output sizes, the extreme aspect ratios among them.
SIZES = ["64x64", "2048x64", "64x2048", "auto"]


def _form_name(document: dict[str, Any], path: str) -> str:
    """The name of the component schema of the multipart form that ``path`` takes."""
    content = document["paths"][path]["post"]["requestBody"]["content"]
    reference: str = content["multipart/form-data"]["schema"]["$ref"]
    return reference.rsplit("/", 1)[-1]


def _drop_null(property_schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {"type": "null"}]`` becomes X, with the property's own keywords."""
    if "anyOf" not in property_schema:
        return property_schema
    options = [option for option in property_schema["anyOf"] if option != {"type": "null"}]
    kept = options[0] if len(options) == 1 else {"anyOf": options}
    return kept | {key: value for key, value in property_schema.items() if key != "anyOf"}


def _without_null(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the ``null`` alternative of every form field dropped.

    A multipart form cannot carry a null: an optional field is one left out. schemathesis
    (4.32) would send null as the text ``null``, and it picks file parts from a property's own
    keywords, so ``anyOf: [binary, null]`` (FastAPI's ``UploadFile | None``) would always go
    out as a text part: no mask, style_image or edit image would ever be a file.
    """
    schemas = dict(document["components"]["schemas"])
    for path in FORMS:
        name = _form_name(document, path)
        properties = {key: _drop_null(value) for key, value in schemas[name]["properties"].items()}
        schemas[name] = schemas[name] | {"properties": properties}
    return document | {"components": document["components"] | {"schemas": schemas}}


schema = schemathesis.openapi.from_dict(_without_null(SERVED))
schema.app = APP


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Some of the time, a real picture in every upload and a model and size the server serves.

    Random bytes are refused at decoding, and a random model or size before it; the fields
    checked after decoding (size, seed with n, fit, the mask, the output format) and the engine
    are only reached with a picture, a known model and a valid size.
    """
    if not isinstance(body, dict) or not UPLOADS & body.keys():
        return st.just(body)
    pictures = body | {
        name: [PNG] if isinstance(value, list) else PNG
        for name, value in body.items()
        if name in UPLOADS
    }
    served = st.sampled_from(SIZES).map(lambda size: pictures | {"model": "dall-e-2", "size": size})
    return st.just(body) | st.just(pictures) | served


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app():
    yield
    asgi.shutdown_lifespans()  # schemathesis starts it on the first request and keeps it
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.mark.parametrize(("path", "model"), FORMS.items())
def test_the_document_describes_every_form_field(client, path, model):
    assert client.get("/openapi.json").json() == SERVED
    fields = {field.alias or name for name, field in model.model_fields.items()}
    assert set(SERVED["components"]["schemas"][_form_name(SERVED, path)]["properties"]) == fields
    assert {"400", "404", "413"} <= set(SERVED["paths"][path]["post"]["responses"])


@schema.parametrize()
@settings(max_examples=80, deadline=None)
def test_no_server_errors_and_every_error_in_openai_envelope(case):
    response = case.call_and_validate(checks=[not_a_server_error])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert body["error"]["message"], body
