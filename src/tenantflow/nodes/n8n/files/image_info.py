"""Edit Image's ``information``: what GraphicsMagick's ``identify -verbose`` tells, under its key names.

n8n returns gm's parse of that output: the verbose keys (``Format``, ``Geometry``, ``Type``, ``Depth``,
``Resolution``, ``Filesize`` ...) plus gm's helpers ``format``, ``size {width, height}`` and ``depth``.
This gives those that come from the file's header; pixel statistics and signatures are left out, so the
pixels are never decoded (like ``identify -ping``).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

_DESCRIPTIONS = {
    "BMP": "Microsoft Windows bitmap image",
    "GIF": "CompuServe graphics interchange format",
    "JPEG": "Joint Photographic Experts Group JFIF format",
    "PNG": "Portable Network Graphics",
    "TIFF": "Tagged Image File Format",
    "WEBP": "WebP Image Format",
}
_TYPES = {
    "1": "bilevel",
    "L": "grayscale",
    "LA": "grayscale with transparency",
    "P": "palette",
    "PA": "palette with transparency",
    "RGB": "true color",
    "RGBA": "true color with transparency",
    "CMYK": "color separated",
}
_CHANNELS = {
    "1": ("Gray",),
    "L": ("Gray",),
    "LA": ("Gray", "Opacity"),
    "CMYK": ("Cyan", "Magenta", "Yellow", "Black"),
}
_DEPTHS = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32}
_ORIENTATIONS = (
    "TopLeft",
    "TopRight",
    "BottomRight",
    "BottomLeft",
    "LeftTop",
    "RightTop",
    "RightBottom",
    "LeftBottom",
)
"""EXIF orientations 1 to 8."""
_TIFF_COMPRESSION = {
    "raw": "None",
    "tiff_lzw": "LZW",
    "tiff_deflate": "Zip",
    "tiff_adobe_deflate": "Zip",
    "jpeg": "JPEG",
    "packbits": "RLE",
    "group3": "Fax",
    "group4": "Group4",
}
_COMPRESSION = {"PNG": "Zip", "JPEG": "JPEG", "GIF": "LZW", "BMP": "None", "WEBP": "WebP"}


def file_size(size: int) -> str:
    """GraphicsMagick's size text: ``517``, ``1.2Ki``, ``3.4Mi``."""
    units = ("", "Ki", "Mi", "Gi")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.1f}{units[unit]}" if unit else str(size)


def identify(image: Image.Image, size: int) -> dict[str, Any]:
    """The identify fields of an opened (not decoded) image whose file is ``size`` bytes."""
    image_format = "JPEG" if image.format == "MPO" else str(image.format or "Unknown")
    width, height = image.size
    mode = "PA" if image.mode == "P" and "transparency" in image.info else image.mode
    depth = _DEPTHS.get(mode, 8)
    channels = _CHANNELS.get(
        mode, ("Red", "Green", "Blue", "Opacity") if "A" in mode else ("Red", "Green", "Blue")
    )
    info: dict[str, Any] = {
        "Format": f"{image_format} ({_DESCRIPTIONS.get(image_format, image.format_description)})",
        "format": image_format,
        "Geometry": f"{width}x{height}",
        "size": {"width": width, "height": height},
        "Class": "PseudoClass" if mode in ("1", "P", "PA") else "DirectClass",
        "Type": _TYPES.get(mode, mode),
        "Depth": f"{depth} bits-per-pixel component",
        "depth": depth,
        "Channel Depths": {channel: f"{depth} bits" for channel in channels},
    }
    if dpi := image.info.get("dpi"):
        info["Resolution"] = f"{float(dpi[0]):g}x{float(dpi[1]):g} pixels/inch"
    info["Filesize"] = file_size(size)
    progressive = any(image.info.get(key) for key in ("interlace", "progressive", "progression"))
    info["Interlace"] = "Line" if progressive else "No"
    orientation = image.getexif().get(0x0112)
    names = dict(enumerate(_ORIENTATIONS, start=1))
    info["Orientation"] = names.get(orientation, "Unknown") if isinstance(orientation, int) else "Unknown"
    compression = _TIFF_COMPRESSION.get(str(image.info.get("compression")), "None")
    info["Compression"] = (
        compression if image_format == "TIFF" else _COMPRESSION.get(image_format, "Undefined")
    )
    if image_format == "GIF" and "loop" in image.info:
        info["Iterations"] = str(image.info["loop"])
    return info
