"""Edit Image's composite: one image over another with one of GraphicsMagick's compose operators.

Only the area the overlay covers changes, as in GraphicsMagick. The Porter-Duff operators (Over, In, Out,
Atop, Xor) work on the opacity of both images; the arithmetic ones (Add, Plus, Minus, Subtract,
Difference, Multiply, Divide, Bumpmap) on the colour channels, the image keeping its own opacity; the Copy
operators replace the area or one of its channels (Cyan, Magenta and Yellow are the Red, Green and Blue
channels of an RGB image). CopyBlack needs CMYK images and is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageChops, ImageMath

from tenantflow.engine.errors import ErrorCode, NodeError

Blend = Callable[[Image.Image, Image.Image], Image.Image]


def _with_alpha(colours: Image.Image, alpha: Image.Image) -> Image.Image:
    out = colours.convert("RGBA")
    out.putalpha(alpha)
    return out


def _colour_math(combine: Callable[[Image.Image, Image.Image], Image.Image]) -> Blend:
    """An arithmetic operator on the colour channels; the image keeps its opacity."""

    def blend(image: Image.Image, overlay: Image.Image) -> Image.Image:
        return _with_alpha(combine(image.convert("RGB"), overlay.convert("RGB")), image.getchannel("A"))

    return blend


def _copy_channel(band: int) -> Blend:
    def blend(image: Image.Image, overlay: Image.Image) -> Image.Image:
        bands = list(image.split())
        bands[band] = overlay.getchannel(band)
        return Image.merge("RGBA", bands)

    return blend


def _copy_opacity(image: Image.Image, overlay: Image.Image) -> Image.Image:
    """The overlay's opacity becomes the image's; an opaque overlay gives its greyscale instead."""
    alpha = overlay.getchannel("A")
    transparent = alpha.getextrema() != (255, 255)
    return _with_alpha(image, alpha if transparent else overlay.convert("L"))


def _xor(image: Image.Image, overlay: Image.Image) -> Image.Image:
    """Each image where the other is not: weights ``αs(1-αd)`` and ``αd(1-αs)``."""
    under, over = image.getchannel("A"), overlay.getchannel("A")
    weight_over = ImageMath.lambda_eval(lambda a: a["s"] * (255 - a["d"]), s=over, d=under)
    weight_under = ImageMath.lambda_eval(lambda a: a["d"] * (255 - a["s"]), s=over, d=under)
    bands = [
        ImageMath.lambda_eval(
            lambda a: (a["s"] * a["ws"] + a["d"] * a["wd"]) / (a["ws"] + a["wd"]),
            s=overlay.getchannel(band),
            d=image.getchannel(band),
            ws=weight_over,
            wd=weight_under,
        ).convert("L")
        for band in range(3)
    ]
    alpha = ImageMath.lambda_eval(lambda a: (a["ws"] + a["wd"]) / 255, ws=weight_over, wd=weight_under)
    return Image.merge("RGBA", [*bands, alpha.convert("L")])


def _divide(image: Image.Image, overlay: Image.Image) -> Image.Image:
    bands = [
        ImageMath.lambda_eval(lambda a: a["d"] * 256 / (a["s"] + 1), d=d, s=s).convert("L")
        for d, s in zip(image.split(), overlay.split(), strict=True)
    ]
    return Image.merge("RGB", bands)


OPERATORS: dict[str, Blend] = {
    "Over": Image.alpha_composite,
    "In": lambda image, overlay: _with_alpha(
        overlay, ImageChops.multiply(overlay.getchannel("A"), image.getchannel("A"))
    ),
    "Out": lambda image, overlay: _with_alpha(
        overlay, ImageChops.multiply(overlay.getchannel("A"), ImageChops.invert(image.getchannel("A")))
    ),
    "Atop": lambda image, overlay: _with_alpha(Image.alpha_composite(image, overlay), image.getchannel("A")),
    "Xor": _xor,
    "Copy": lambda _, overlay: overlay,
    "CopyRed": _copy_channel(0),
    "CopyCyan": _copy_channel(0),
    "CopyGreen": _copy_channel(1),
    "CopyMagenta": _copy_channel(1),
    "CopyBlue": _copy_channel(2),
    "CopyYellow": _copy_channel(2),
    "CopyOpacity": _copy_opacity,
    "Add": _colour_math(ImageChops.add_modulo),
    "Plus": _colour_math(ImageChops.add),
    "Minus": _colour_math(lambda image, overlay: ImageChops.subtract(overlay, image)),
    "Subtract": _colour_math(ImageChops.subtract_modulo),
    "Difference": _colour_math(ImageChops.difference),
    "Multiply": _colour_math(ImageChops.multiply),
    "Divide": _colour_math(_divide),
    "Bumpmap": _colour_math(
        lambda image, overlay: ImageChops.multiply(image, overlay.convert("L").convert("RGB"))
    ),
}
"""GraphicsMagick's operators, each blending an area of the image (RGBA) with the same-sized overlay."""


def composite(image: Image.Image, overlay: Image.Image, operator: str, left: int, top: int) -> Image.Image:
    """``image`` with ``overlay`` blended in with its top-left corner at (``left``, ``top``)."""
    blend = OPERATORS.get(operator)
    if blend is None:
        raise NodeError(
            f'The composite operator "{operator}" is not supported',
            code=ErrorCode.INVALID_PARAMETER,
            description="CopyBlack needs CMYK images; use another operator",
        )
    box = (
        max(0, left),
        max(0, top),
        min(image.width, left + overlay.width),
        min(image.height, top + overlay.height),
    )
    if box[0] >= box[2] or box[1] >= box[3]:
        return image
    area = image.crop(box)
    cover = overlay.crop((box[0] - left, box[1] - top, box[2] - left, box[3] - top))
    result = image.copy()
    result.paste(blend(area, cover), box[:2])
    return result
