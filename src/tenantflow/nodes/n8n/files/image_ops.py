"""Edit Image's operations in Pillow, as GraphicsMagick (what n8n uses) does them.

Imported only when an Edit Image node runs, so Pillow stays out of CLI start-up. Every image is checked
before it is decoded and every canvas before it is made: at most :data:`MAX_PIXELS` pixels, and drawing
coordinates within :data:`MAX_COORDINATE`, so one item cannot make the worker decode, allocate or draw
without bound. Colours follow GraphicsMagick: the fourth component of ``#RRGGBBAA`` is opacity (``00`` is
opaque), which is what n8n's defaults (``#ff000000`` draws red) assume. Text uses Pillow's built-in font
at the requested size; fonts on the host are never read. Multi-frame images keep their first frame.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from PIL import (
    Image,
    ImageChops,
    ImageColor,
    ImageDraw,
    ImageFilter,
    ImageFont,
    ImageOps,
    UnidentifiedImageError,
)

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.nodes.n8n.files.image_composite import composite
from tenantflow.nodes.n8n.files.image_info import identify

MAX_PIXELS: Final = 40_000_000
"""Largest image (width × height) read or made: a 40-megapixel RGBA canvas is 160 MB."""
MAX_COORDINATE: Final = 100_000
"""Largest distance from the origin a drawing coordinate may have (Pillow walks every pixel of a line)."""

Color = tuple[int, int, int, int]
Operation = Mapping[str, Any]
_HEX_OPACITY = re.compile(r"#(?:[0-9a-fA-F]{4}|[0-9a-fA-F]{8})")
_SAVE_FORMATS = {"bmp": "BMP", "gif": "GIF", "jpeg": "JPEG", "png": "PNG", "tiff": "TIFF", "tif": "TIFF"}
_SAVE_FORMATS["webp"] = "WEBP"
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def invalid(message: str) -> NodeError:
    return NodeError(message, code=ErrorCode.INVALID_PARAMETER)


def check_canvas(width: float, height: float) -> None:
    if width * height > MAX_PIXELS:
        raise NodeError(
            f"The image would be {int(width)}x{int(height)} pixels; the limit is {MAX_PIXELS:,} pixels",
            code=ErrorCode.LIMIT_EXCEEDED,
            description="Make the image smaller first, or use smaller sizes",
        )


def color(value: Any) -> Color:
    """An n8n colour: ``#rgb``, ``#rrggbb``, ``#rgbo``/``#rrggbboo`` (o: opacity), a CSS name or function."""
    text = str(value).strip()
    if text.lower() in ("transparent", "none"):
        return (0, 0, 0, 0)
    if _HEX_OPACITY.fullmatch(text):
        step = (len(text) - 1) // 4
        red, green, blue, opacity = (
            int(text[1 + i * step : 1 + (i + 1) * step] * (2 // step), 16) for i in range(4)
        )
        return (red, green, blue, 255 - opacity)
    try:
        parsed = ImageColor.getrgb(text)
    except ValueError as exc:
        raise invalid(f'"{value}" is not a colour') from exc
    return (*parsed[:3], parsed[3] if len(parsed) == 4 else 255)


def _coordinate(value: float) -> float:
    if abs(value) > MAX_COORDINATE:
        raise NodeError(
            f"The position {value:g} is too far outside the image",
            code=ErrorCode.LIMIT_EXCEEDED,
            description=f"Positions must lie within ±{MAX_COORDINATE:,}",
        )
    return value


# --- reading and writing ---------------------------------------------------------------------------------


def open_image(data: bytes) -> Image.Image:
    """The image in ``data`` without decoding its pixels (Pillow reads the header only)."""
    try:
        return Image.open(io.BytesIO(data))
    except _READ_ERRORS as exc:
        raise invalid(
            "The file is not an image that can be read (bmp, gif, jpeg, png, tiff, webp ...)"
        ) from exc


def load(data: bytes) -> tuple[Image.Image, str]:
    """The first frame as RGBA, turned as its EXIF orientation says (n8n auto-orients), and its format."""
    image = open_image(data)
    check_canvas(*image.size)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGBA"), str(image.format or "PNG")
    except _READ_ERRORS as exc:
        raise invalid(f"The image could not be decoded: {exc}") from exc


def encode(image: Image.Image, image_format: str, quality: float | None) -> bytes:
    """``image`` in ``image_format`` (a format Pillow cannot write becomes PNG); without transparency, or
    for JPEG and BMP, as RGB."""
    name = _SAVE_FORMATS.get(image_format.lower(), "JPEG" if image_format == "MPO" else image_format.upper())
    Image.init()  # registers every writer: only the common ones are loaded until then
    name = name if name in Image.SAVE else "PNG"
    opaque = image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255
    if opaque or name in ("JPEG", "BMP"):
        image = image.convert("RGB")
    options: dict[str, Any] = {}
    if quality is not None and name in ("JPEG", "WEBP"):
        options["quality"] = max(1, min(100, int(quality)))
    elif quality is not None and name == "PNG":
        options["compress_level"] = max(0, min(9, int(quality) // 10))  # GraphicsMagick: quality/10 is zlib's
    out = io.BytesIO()
    image.save(out, name, **options)
    return out.getvalue()


# --- operations: each takes the current image (None before create) and returns the next -------------------


def _blur(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    sigma = float(op["sigma"])
    if sigma <= 0:
        return image
    return image.convert("RGBa").filter(ImageFilter.GaussianBlur(sigma)).convert("RGBA")


def _border(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    across, down = max(0, int(op["borderWidth"])), max(0, int(op["borderHeight"]))
    check_canvas(image.width + 2 * across, image.height + 2 * down)
    return ImageOps.expand(image, border=(across, down, across, down), fill=color(op["borderColor"]))


def _composite(image: Image.Image, op: Operation, sources: Mapping[str, bytes]) -> Image.Image:
    overlay, _ = load(sources[str(op["dataPropertyNameComposite"])])
    return composite(image, overlay, str(op["operator"]), int(op["positionX"]), int(op["positionY"]))


def _create(_: Image.Image | None, op: Operation, __: Mapping[str, bytes]) -> Image.Image:
    width, height = int(op["width"]), int(op["height"])
    if width < 1 or height < 1:
        raise invalid("The image to create needs a width and a height of at least 1")
    check_canvas(width, height)
    return Image.new("RGBA", (width, height), color(op["backgroundColor"]))


def _crop(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """GraphicsMagick's crop: the part of the area inside the image; a width or height of 0 means the rest."""
    left, top = int(op["positionX"]), int(op["positionY"])
    width, height = int(op["width"]) or image.width - left, int(op["height"]) or image.height - top
    box = (max(0, left), max(0, top), min(image.width, left + width), min(image.height, top + height))
    if box[0] >= box[2] or box[1] >= box[3]:
        raise invalid(
            f"The crop area {width}x{height}+{left}+{top} lies outside the {image.width}x{image.height} image"
        )
    return image.crop(box)


def _draw(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """A line, a circle (centre and a point on it) or a (rounded) rectangle, filled and blended on top."""
    x0, y0, x1, y1 = (
        _coordinate(float(op[key]))
        for key in ("startPositionX", "startPositionY", "endPositionX", "endPositionY")
    )
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    fill = color(op["color"])
    if op["primitive"] == "line":
        pen.line([(x0, y0), (x1, y1)], fill=fill)
    elif op["primitive"] == "circle":
        radius = math.hypot(x1 - x0, y1 - y0)
        pen.ellipse([x0 - radius, y0 - radius, x0 + radius, y0 + radius], fill=fill)
    else:
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        pen.rounded_rectangle(box, radius=max(0.0, float(op.get("cornerRadius") or 0)), fill=fill)
    return Image.alpha_composite(image, layer)


def resize_to(width: int, height: int, target_w: float, target_h: float, option: str) -> tuple[int, int]:
    """The size GraphicsMagick's resize geometry ``WxH<flag>`` gives a ``width`` x ``height`` image."""
    if option == "percent":
        return max(1, int(width * target_w / 100 + 0.5)), max(1, int(height * target_h / 100 + 0.5))
    if option == "ignoreAspectRatio":
        return max(1, int(target_w)), max(1, int(target_h))
    if option == "maximumArea":  # W*H is the most pixels the result may have; smaller images stay
        scale = math.sqrt(target_w * target_h / (width * height))
        return (width, height) if scale >= 1 else (max(1, int(width * scale)), max(1, int(height * scale)))
    scales = [
        s for s in (target_w / width if target_w > 0 else 0, target_h / height if target_h > 0 else 0) if s
    ]
    if not scales:
        raise invalid("Resizing needs a width or a height above 0")
    scale = max(scales) if option == "minimumArea" else min(scales)
    if (option == "onlyIfLarger" and scale >= 1) or (option == "onlyIfSmaller" and scale <= 1):
        return width, height
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def _resize(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    size = resize_to(
        image.width, image.height, float(op["width"]), float(op["height"]), str(op["resizeOption"])
    )
    if size == image.size:
        return image
    check_canvas(*size)
    return image.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")


def _rotate(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """Clockwise by ``rotate`` degrees on a canvas grown to fit; the corners get ``backgroundColor``."""
    degrees = float(op["rotate"]) % 360
    radians = math.radians(degrees)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    check_canvas(image.width * cos + image.height * sin, image.width * sin + image.height * cos)
    fill = color(op["backgroundColor"])
    return image.rotate(-degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def _shear(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """Rows slide along x (the top to the right for a positive angle), then columns along y (the right side
    down), on a canvas grown to fit, as GraphicsMagick shears."""
    kx, ky = -math.tan(math.radians(float(op["degreesX"]))), math.tan(math.radians(float(op["degreesY"])))
    corners = [(x + kx * y, y + ky * (x + kx * y)) for x in (0, image.width) for y in (0, image.height)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    width, height = math.ceil(max(xs) - min(xs)), math.ceil(max(ys) - min(ys))
    check_canvas(width, height)
    tx, ty = -min(xs), -min(ys)
    # The inverse map (output pixel -> input pixel) that Image.transform takes.
    inverse = (1 + kx * ky, -kx, -tx * (1 + kx * ky) + kx * ty, -ky, 1, ky * tx - ty)
    return image.transform(
        (max(1, width), max(1, height)), Image.Transform.AFFINE, inverse, Image.Resampling.BICUBIC
    )


def wrap(text: str, line_length: float) -> str:
    """n8n's line breaking: words go on a line while it stays within ``line_length`` characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            if len(current) + len(word) + 1 > line_length:
                lines.append(current.strip())
                current = f"{word} "
            else:
                current += f"{word} "
        lines.append(current.strip())
    return "\n".join(lines)


_H_ALIGN = {"west": "left", "center": "center", "east": "right"}


def _text(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """Wrapped text, its top-left at the position (v1), or placed by GraphicsMagick gravity (v1.1): the
    position is then an offset from the image's left/centre/right and top/middle/bottom."""
    size = float(op["fontSize"])
    if size <= 0:
        raise invalid("The font size must be above 0")
    content = wrap(str(op["text"]), float(op["lineLength"]))
    font = ImageFont.load_default(size=size)
    pen = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    horizontal, vertical = (
        str(op.get("horizontalAlignment", "west")),
        str(op.get("verticalAlignment", "north")),
    )
    align = _H_ALIGN.get(horizontal, "left")
    width, height = pen.multiline_textbbox((0, 0), content, font=font, align=align)[2:]
    check_canvas(width, height)
    x, y = _coordinate(float(op["positionX"])), _coordinate(float(op["positionY"]))
    left = {"center": (image.width - width) / 2 + x, "east": image.width - width - x}.get(horizontal, x)
    top = {"middle": (image.height - height) / 2 + y, "south": image.height - height - y}.get(vertical, y)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    fill = color(op["fontColor"])
    ImageDraw.Draw(layer).multiline_text((left, top), content, fill=fill, font=font, align=align)
    return Image.alpha_composite(image, layer)


def _transparent(image: Image.Image, op: Operation, _: Mapping[str, bytes]) -> Image.Image:
    """Pixels of exactly the colour ``color`` (whatever their opacity) become fully transparent."""
    target = Image.new("RGB", image.size, color(op["color"])[:3])
    red, green, blue = ImageChops.difference(image.convert("RGB"), target).split()
    matches = ImageChops.lighter(ImageChops.lighter(red, green), blue).point(lambda v: 255 if v == 0 else 0)
    result = image.copy()
    alpha = result.getchannel("A")
    alpha.paste(0, mask=matches)
    result.putalpha(alpha)
    return result


OPERATIONS: dict[str, Callable[[Any, Operation, Mapping[str, bytes]], Image.Image]] = {
    "blur": _blur,
    "border": _border,
    "composite": _composite,
    "create": _create,
    "crop": _crop,
    "draw": _draw,
    "resize": _resize,
    "rotate": _rotate,
    "shear": _shear,
    "text": _text,
    "transparent": _transparent,
}


def render(
    source: bytes | None,
    operations: Sequence[Operation],
    sources: Mapping[str, bytes],
    image_format: str | None,
    quality: float | None,
) -> tuple[bytes, dict[str, Any] | None]:
    """The edited image's file, or for ``information`` the file as it was and what identify tells of it.
    ``sources`` holds the files composite operations name; operations n8n does not know do nothing."""
    if operations[0]["operation"] == "information":
        assert source is not None
        return source, identify(open_image(source), len(source))
    image, own_format = (None, "PNG") if source is None else load(source)
    for op in operations:
        if (step := OPERATIONS.get(str(op["operation"]))) is not None:
            image = step(image, op, sources)
    assert image is not None  # the first operation is create when there is no source
    return encode(image, image_format or own_format, quality), None
