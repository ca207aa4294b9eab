"""The small routes: health, models, the OpenAPI document."""

from __future__ import annotations


def test_health_names_the_loaded_model(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": "vary-style"}


def test_models_lists_the_loaded_engine_in_openai_shape(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    (model,) = body["data"]
    assert model["id"] == "vary-style"
    assert model["object"] == "model"
    assert isinstance(model["created"], int)
    assert model["owned_by"] == "vary"


def test_openapi_describes_the_multipart_fields(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/images/variations"]["post"]
    schema_ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) >= {"image", "model", "n", "size", "response_format", "user"}
    assert schema["required"] == ["image"]
    assert "400" in operation["responses"]


def test_root_leads_a_browser_to_the_docs(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"


def test_openapi_promises_no_422(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
