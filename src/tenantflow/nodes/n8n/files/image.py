"""n8n's Edit Image node: blur, border, composite, create, crop, draw, information, resize, rotate, shear,
text and transparent, one at a time or as a multi-step list, on an item's image file.

Parameters are read here, as n8n reads them (numbers may be numeric strings; colours, sizes and defaults
per operation); :mod:`.image_ops` does the Pillow work in a thread, imported only when the node runs. The
edited file replaces ``dataPropertyName`` (or goes to ``options.destinationKey``) keeping the entry's other
fields, as n8n merges its metadata. Text is drawn in Pillow's built-in font: the ``font`` option, a path
to a font on n8n's host, is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.files.binary import binary_bytes, prepare_binary

_DEFAULTS: dict[str, dict[str, Any]] = {
    "blur": {"blur": 5, "sigma": 2},
    "border": {"borderWidth": 10, "borderHeight": 10, "borderColor": "#000000"},
    "composite": {"dataPropertyNameComposite": "", "operator": "Over", "positionX": 0, "positionY": 0},
    "create": {"backgroundColor": "#ffffff00", "width": 50, "height": 50},
    "crop": {"width": 500, "height": 500, "positionX": 0, "positionY": 0},
    "draw": {
        "primitive": "rectangle",
        "color": "#ff000000",
        "startPositionX": 50,
        "startPositionY": 50,
        "endPositionX": 250,
        "endPositionY": 250,
        "cornerRadius": 0,
    },
    "information": {},
    "resize": {"width": 500, "height": 500, "resizeOption": "maximumArea"},
    "rotate": {"rotate": 0, "backgroundColor": "#ffffffff"},
    "shear": {"degreesX": 0, "degreesY": 0},
    "text": {
        "text": "",
        "fontSize": 18,
        "fontColor": "#000000",
        "positionX": 50,
        "positionY": 50,
        "lineLength": 80,
        "horizontalAlignment": "center",
        "verticalAlignment": "middle",
    },
    "transparent": {"color": "#ff0000"},
}
"""Each operation's parameters with n8n's defaults (``width`` is 50 to create, 500 to crop or resize)."""

_NUMERIC = {
    "blur": ("blur", "sigma"),
    "border": ("borderWidth", "borderHeight"),
    "composite": ("positionX", "positionY"),
    "create": ("width", "height"),
    "crop": ("width", "height", "positionX", "positionY"),
    "draw": ("startPositionX", "startPositionY", "endPositionX", "endPositionY", "cornerRadius"),
    "resize": ("width", "height"),
    "rotate": ("rotate",),
    "shear": ("degreesX", "degreesY"),
    "text": ("fontSize", "positionX", "positionY", "lineLength"),
}
_FORMATS = ("bmp", "gif", "jpeg", "png", "tiff", "tif", "webp")
_OPERATORS = (
    *("Add", "Atop", "Bumpmap", "Copy", "CopyBlack", "CopyBlue", "CopyCyan", "CopyGreen", "CopyMagenta"),
    *("CopyOpacity", "CopyRed", "CopyYellow", "Difference", "Divide", "In", "Minus", "Multiply", "Out"),
    *("Over", "Plus", "Subtract", "Xor"),
)
_NUMBER_OR_TEXT = {"type": ["number", "string"]}

_SCHEMA = object_schema(
    {
        "operation": one_of(*_DEFAULTS, "multiStep"),
        "dataPropertyName": STRING,
        "operations": {"type": "object"},
        "primitive": one_of("circle", "line", "rectangle"),
        "resizeOption": one_of(
            "ignoreAspectRatio", "maximumArea", "minimumArea", "onlyIfLarger", "onlyIfSmaller", "percent"
        ),
        "operator": one_of(*_OPERATORS),
        "horizontalAlignment": one_of("west", "center", "east"),
        "verticalAlignment": one_of("north", "middle", "south"),
        **{name: _NUMBER_OR_TEXT for names in _NUMERIC.values() for name in names},
        **{name: STRING for name in ("backgroundColor", "color", "borderColor", "fontColor", "text")},
        "dataPropertyNameComposite": STRING,
        "options": object_schema(
            {
                "format": one_of(*_FORMATS),
                "quality": _NUMBER_OR_TEXT,
                "fileName": STRING,
                "destinationKey": STRING,
            }
        ),
    }
)


def _number(value: Any, name: str) -> float:
    """n8n's ``parseNumericParameter``: a number, or a string that is one."""
    if isinstance(value, str) and value.strip():
        with contextlib.suppress(ValueError):
            value = float(value)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise NodeError(f'The value of "{name}" must be a number', code=ErrorCode.INVALID_PARAMETER)
    return float(value)


def _checked(operation: dict[str, Any], version: float) -> dict[str, Any]:
    """One operation with its defaults filled in and its numbers parsed; v1 writes text from the top-left."""
    name = str(operation.get("operation", ""))
    checked = {**_DEFAULTS.get(name, {}), **operation}
    for key in _NUMERIC.get(name, ()):
        if key != "cornerRadius" or checked.get("primitive") == "rectangle":
            checked[key] = _number(checked[key], key)
    if name == "text" and version < 1.1:
        checked.update(horizontalAlignment="west", verticalAlignment="north")
    return checked


class EditImage(NodeType):
    """``Edit Image``: edits an item's image, or creates one, or returns its information."""

    type = "n8n-nodes-base.editImage"
    versions = (1, 1.1)
    display_name = "Edit Image"
    description = "Edits an image like blur, resize or adding border and text"
    aliases = ("editImage",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [[await self._edit(ctx, item, index) for index, item in enumerate(first_input(inputs))]]

    def _operations(self, ctx: NodeContext, operation: str, index: int) -> list[dict[str, Any]]:
        if operation == "multiStep":
            collection = ctx.param("operations", index, {})
            steps = collection.get("operations") if isinstance(collection, dict) else None
            listed = [dict(step) for step in steps or [] if isinstance(step, dict)]
        else:
            defaults = _DEFAULTS.get(operation)
            if defaults is None:
                raise NodeError(
                    f'The operation "{operation}" is not supported', code=ErrorCode.INVALID_PARAMETER
                )
            listed = [
                {"operation": operation, **{key: ctx.param(key, index, d) for key, d in defaults.items()}}
            ]
        if not listed:
            raise NodeError("Multi Step has no operations", code=ErrorCode.INVALID_PARAMETER)
        return [_checked(step, ctx.node.type_version) for step in listed]

    async def _edit(self, ctx: NodeContext, item: Item, index: int) -> Item:
        operation = str(ctx.param("operation", index, "border"))
        name = ctx.param("dataPropertyName", index, "data")
        name = name if isinstance(name, str) else "data"
        given = ctx.param("options", index, {})
        options = dict(given) if isinstance(given, dict) else {}
        destination = str(options.get("destinationKey") or name)
        steps = self._operations(ctx, operation, index)
        source = None if steps[0]["operation"] == "create" else binary_bytes(item, name, index)
        overlays = {
            str(step["dataPropertyNameComposite"]): binary_bytes(
                item, str(step["dataPropertyNameComposite"]), index
            )
            for step in steps
            if step["operation"] == "composite"
        }
        if any(step["operation"] == "create" for step in steps) and not options.get("format"):
            options["format"] = "png"
        image_format = options.get("format")
        if image_format is not None and image_format not in _FORMATS:
            raise NodeError(
                f"Invalid image format: {image_format}. Valid formats are: {', '.join(_FORMATS)}",
                code=ErrorCode.INVALID_PARAMETER,
            )
        quality = _number(options["quality"], "quality") if options.get("quality") is not None else None

        from tenantflow.nodes.n8n.files.image_ops import render  # Pillow loads only when an image is edited

        def work() -> tuple[dict[str, Any], dict[str, Any] | None]:
            data, info = render(source, steps, overlays, image_format, quality)
            return prepare_binary(data), info

        prepared, info = await asyncio.to_thread(work)
        binary = dict(item.get("binary") or {})
        meta = copy.deepcopy(binary[destination]) if isinstance(binary.get(destination), dict) else {}
        meta.setdefault("data", "")
        meta.setdefault("mimeType", "")
        if image_format is not None:
            meta.update(fileExtension=image_format, mimeType=f"image/{image_format}")
            if "." in str(meta.get("fileName") or ""):
                meta["fileName"] = str(meta["fileName"]).rsplit(".", 1)[0] + f".{image_format}"
        if "fileName" in options:
            meta["fileName"] = options["fileName"]
        binary[destination] = {**meta, **prepared}
        json = info if info is not None else item.get("json", {})
        return {"json": json, "binary": binary, "pairedItem": {"item": index}}


NODE_TYPES: list[type[NodeType]] = [EditImage]
