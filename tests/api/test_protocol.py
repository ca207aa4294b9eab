"""The wire models: what a response looks like as JSON."""

from __future__ import annotations

import base64

import pytest
from pydantic import TypeAdapter

from vary.api.protocol import Image, ImagesResponse

_ENCODER = TypeAdapter(ImagesResponse)
_PICTURE = base64.b64encode(bytes(range(256)) * 40).decode()


@pytest.mark.parametrize(
    "data",
    [
        [Image(b64_json=_PICTURE, seed=1), Image(b64_json=_PICTURE[:-4], seed=2)],
        # A recipe can hold quotes and even the text the pictures are spliced at.
        [Image(b64_json=_PICTURE, revised_prompt='ink "b64_json":"" \\ "wash"', seed=3)],
        [Image(url="http://127.0.0.1/files/a.png?sig=x", seed=4)],
        [Image(b64_json="", seed=5), Image(url="http://x/y", b64_json=_PICTURE)],
        [],
        # Not base64: the encoder escapes these as they need.
        [Image(b64_json='quote " backslash \\ newline \n', seed=6)],
        [Image(b64_json="café", seed=7), Image(b64_json=_PICTURE)],
    ],
)
def test_to_json_gives_the_encoders_own_bytes(data: list[Image]) -> None:
    answer = ImagesResponse(created=1_700_000_000, data=data, size="64x64", output_format="png")
    assert answer.to_json() == _ENCODER.dump_json(answer, exclude_none=True)
