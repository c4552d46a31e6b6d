"""Edit Image node: every operation read back with Pillow (sizes, pixels at chosen points, formats), the
information fields, n8n's parameter shapes (real exports' included) and the refusals of oversize work."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tenantflow.engine.errors import NodeError
from tenantflow.engine.sdk import Item
from tenantflow.nodes.n8n.files.binary import prepare_binary
from tenantflow.nodes.n8n.files.image_ops import MAX_PIXELS, color, wrap
from tests.nodes.harness import run_with_items

EDIT = "n8n-nodes-base.editImage"
RED, BLUE, WHITE, GREEN = (255, 0, 0, 255), (0, 0, 255, 255), (255, 255, 255, 255), (0, 255, 0, 255)
REAL_EXPORTS = Path(__file__).resolve().parents[5] / "shared" / "n8n-realworld" / "workflows"

pytestmark = pytest.mark.anyio


def _halves(width: int = 40, height: int = 20) -> Image.Image:
    """Red on the left half, blue on the right."""
    image = Image.new("RGBA", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def _file(image: Image.Image, image_format: str = "PNG", **save: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **save)
    return out.getvalue()


def _item(data: bytes, name: str = "pic.png", **json_fields: Any) -> Item:
    return {"json": json_fields, "binary": {"data": prepare_binary(data, name)}}


async def _edit(parameters: dict[str, Any], item: Item | None = None, version: float = 1) -> Item:
    source = item if item is not None else _item(_file(_halves()))
    [[out]] = await run_with_items(EDIT, parameters, [[source]], version=version)
    return out


def _image(item: Item, key: str = "data") -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(item["binary"][key]["data"])))
    image.load()
    return image


def _rgba(image: Image.Image, *points: tuple[int, int]) -> list[tuple[int, ...]]:
    rgba = image.convert("RGBA")
    return [tuple(rgba.getpixel(point)) for point in points]  # type: ignore[arg-type]


async def test_create_makes_a_png_canvas_with_opacity_colours_as_graphicsmagick_reads_them() -> None:
    out = await _edit(
        {"operation": "create", "width": 30, "height": 20, "backgroundColor": "#00ff0000"}, {"json": {}}
    )
    image = _image(out)
    assert (image.format, image.size) == ("PNG", (30, 20))
    assert _rgba(image, (0, 0), (29, 19)) == [GREEN, GREEN]  # the fourth pair is opacity: 00 is opaque
    meta = out["binary"]["data"]
    assert (meta["mimeType"], meta["fileExtension"], meta["fileType"]) == ("image/png", "png", "image")
    default = _image(await _edit({"operation": "create"}, {"json": {}}))
    assert default.size == (50, 50) and _rgba(default, (25, 25)) == [WHITE]
    assert color("#ff000080") == (255, 0, 0, 127) and color("#f00f") == (255, 0, 0, 0)
    assert color("transparent") == (0, 0, 0, 0) and color("rgb(1, 2, 3)") == (1, 2, 3, 255)


async def test_blur_mixes_colours_across_the_edge_only() -> None:
    image = _image(await _edit({"operation": "blur", "blur": 5, "sigma": 2}))
    assert image.size == (40, 20)
    [edge, far_left, far_right] = _rgba(image, (20, 10), (2, 10), (37, 10))
    assert 0 < edge[0] < 255 and 0 < edge[2] < 255
    assert far_left == RED and far_right == BLUE


async def test_border_grows_the_canvas_by_width_and_height_on_each_side() -> None:
    image = _image(
        await _edit({"operation": "border", "borderWidth": 3, "borderHeight": 2, "borderColor": "#00ff00"})
    )
    assert image.size == (46, 24)
    assert _rgba(image, (0, 0), (2, 12), (3, 2), (45, 23), (42, 21)) == [GREEN, GREEN, RED, GREEN, BLUE]


async def test_composite_puts_the_second_image_at_the_position_with_the_operator() -> None:
    base = _file(Image.new("RGBA", (20, 20), WHITE))
    stamp = prepare_binary(_file(Image.new("RGBA", (5, 5), RED)), "stamp.png")
    item = {"json": {}, "binary": {"data": prepare_binary(base, "base.png"), "stamp": stamp}}
    parameters = {
        "operation": "composite",
        "dataPropertyNameComposite": "stamp",
        "positionX": 4,
        "positionY": 6,
    }
    over = await _edit(parameters, item)
    assert _rgba(_image(over), (4, 6), (8, 10), (3, 6), (9, 10)) == [RED, RED, WHITE, WHITE]
    assert over["binary"]["stamp"] == stamp  # the other files go on untouched
    clipped = _image(await _edit({**parameters, "positionX": -3, "positionY": 17}, item))
    assert _rgba(clipped, (0, 19), (1, 17), (2, 16)) == [RED, RED, WHITE]
    multiplied = _image(await _edit({**parameters, "operator": "Multiply"}, item))
    assert _rgba(multiplied, (5, 7)) == [RED]
    difference = _image(await _edit({**parameters, "operator": "Difference"}, item))
    assert _rgba(difference, (5, 7), (0, 0)) == [(0, 255, 255, 255), WHITE]
    cut = _image(await _edit({**parameters, "operator": "CopyOpacity"}, item))
    assert _rgba(cut, (5, 7))[0][3] == 76  # the red stamp's greyscale is the new opacity
    with pytest.raises(NodeError, match='operator "CopyBlack" is not supported'):
        await _edit({**parameters, "operator": "CopyBlack"}, item)


async def test_porter_duff_operators_use_both_opacities() -> None:
    half = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    half.paste(BLUE, (0, 0, 5, 10))
    item = {
        "json": {},
        "binary": {
            "data": prepare_binary(_file(half), "a.png"),
            "top": prepare_binary(_file(_halves(10, 10)), "b.png"),
        },
    }
    parameters = {"operation": "composite", "dataPropertyNameComposite": "top"}
    points = ((1, 1), (8, 1))  # under the image's blue / its transparent half
    results = {
        operator: _rgba(_image(await _edit({**parameters, "operator": operator}, item)), *points)
        for operator in ("In", "Out", "Atop", "Xor")
    }
    assert results["In"][0] == RED and results["In"][1][3] == 0
    assert results["Out"][0][3] == 0 and results["Out"][1] == BLUE
    assert results["Atop"][0] == RED and results["Atop"][1][3] == 0
    assert results["Xor"][0][3] == 0 and results["Xor"][1] == BLUE


async def test_crop_keeps_the_area_as_a_real_export_gives_it_by_expressions() -> None:
    box = {"xmin": 15, "ymin": 3, "xmax": 25, "ymax": 8}
    item = _item(_file(_halves().convert("RGB"), "JPEG", quality=95), "photo.jpg", box=box, label="cat dog")
    [node] = [
        n
        for n in json.loads(
            (
                REAL_EXPORTS / "Zie619__n8n-workflows__0532_Splitout_Elasticsearch_Create_Webhook.json"
            ).read_text()
        )["nodes"]
        if n["type"] == EDIT
    ]
    out = await _edit(node["parameters"], item)
    image = _image(out)
    assert (image.format, image.size) == ("JPEG", (10, 5))
    left, right = _rgba(image, (1, 2), (8, 2))
    assert left[0] > 200 > left[2] and right[2] > 200 > right[0]
    meta = out["binary"]["data"]
    assert (meta["fileName"], meta["mimeType"], meta["fileExtension"]) == (
        "photo-cat%20dog-0.jpg",
        "image/jpeg",
        "jpg",
    )
    with pytest.raises(NodeError, match="lies outside"):
        await _edit({"operation": "crop", "width": 5, "height": 5, "positionX": 50, "positionY": 0})


async def test_draw_fills_rectangles_circles_and_lines_blended_on_top() -> None:
    white = _item(_file(Image.new("RGBA", (30, 30), WHITE)))
    square = _image(
        await _edit(
            {
                "operation": "draw",
                "startPositionX": 2,
                "startPositionY": 2,
                "endPositionX": 8,
                "endPositionY": 6,
            },
            white,
        )
    )
    assert _rgba(square, (5, 4), (2, 2), (8, 6), (9, 9)) == [RED, RED, RED, WHITE]  # default colour: red
    rounded = _image(
        await _edit(
            {
                "operation": "draw",
                "startPositionX": 2,
                "startPositionY": 2,
                "endPositionX": 20,
                "endPositionY": 20,
                "cornerRadius": 6,
            },
            white,
        )
    )
    assert _rgba(rounded, (2, 2), (11, 2), (11, 11)) == [WHITE, RED, RED]
    circle = _image(
        await _edit(
            {
                "operation": "draw",
                "primitive": "circle",
                "color": "#0000ff80",
                "startPositionX": 15,
                "startPositionY": 15,
                "endPositionX": 20,
                "endPositionY": 15,
            },
            white,
        )
    )
    [centre, outside] = _rgba(circle, (15, 15), (15, 8))
    assert 120 < centre[0] < 135 and centre[2] == 255 and outside == WHITE  # half-opaque blue over white
    line = _image(
        await _edit(
            {
                "operation": "draw",
                "primitive": "line",
                "startPositionX": 0,
                "startPositionY": 10,
                "endPositionX": 29,
                "endPositionY": 10,
            },
            white,
        )
    )
    assert _rgba(line, (0, 10), (29, 10), (15, 12)) == [RED, RED, WHITE]


@pytest.mark.parametrize(
    ("option", "width", "height", "size"),
    [
        ("ignoreAspectRatio", 10, 10, (10, 10)),
        ("maximumArea", 20, 10, (20, 10)),  # W*H is the most pixels: 800 -> 200 halves each side
        ("maximumArea", 100, 100, (40, 20)),  # already within
        ("minimumArea", 10, 10, (20, 10)),  # both sides at least 10
        ("onlyIfLarger", 20, 20, (20, 10)),
        ("onlyIfLarger", 100, 100, (40, 20)),
        ("onlyIfSmaller", 80, 80, (80, 40)),
        ("onlyIfSmaller", 20, 20, (40, 20)),
        ("percent", 50, 25, (20, 5)),
    ],
)
async def test_resize_follows_graphicsmagick_geometry(
    option: str, width: int, height: int, size: tuple[int, int]
) -> None:
    image = _image(
        await _edit({"operation": "resize", "resizeOption": option, "width": width, "height": height})
    )
    assert image.size == size
    assert _rgba(image, (0, 0))[0][0] > 200 and _rgba(image, (size[0] - 1, 0))[0][2] > 200


async def test_rotate_turns_clockwise_and_fills_corners() -> None:
    turned = _image(await _edit({"operation": "rotate", "rotate": 90}))
    assert turned.size == (20, 40)
    assert _rgba(turned, (10, 5), (10, 35)) == [RED, BLUE]  # the left (red) half is now on top
    tilted = _image(await _edit({"operation": "rotate", "rotate": 45, "backgroundColor": "#00ff00"}))
    assert tilted.size == (44, 44) and _rgba(tilted, (0, 0)) == [GREEN]  # 40x20 turned fits in 42.4 square
    clear = _image(await _edit({"operation": "rotate", "rotate": 30}))  # default: fully transparent white
    assert clear.mode == "RGBA" and _rgba(clear, (0, 0))[0][3] == 0


async def test_shear_slides_rows_on_a_grown_canvas() -> None:
    sheared = _image(await _edit({"operation": "shear", "degreesX": 45}, _item(_file(_halves(20, 10)))))
    assert sheared.size == (30, 10)
    [top_left, bottom_left] = _rgba(sheared, (1, 0), (1, 9))
    assert top_left[3] == 0 and bottom_left == RED  # the top row moved right
    tall = _image(await _edit({"operation": "shear", "degreesY": 45}, _item(_file(_halves(20, 10)))))
    assert tall.size == (20, 30)


def _dark(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in ``box`` are dark (drawn text on white)."""
    area = image.convert("L").crop(box)
    return sum(1 for value in area.tobytes() if value < 128)


async def test_text_is_drawn_in_the_built_in_font_where_v1_and_v1_1_put_it() -> None:
    canvas = _item(_file(Image.new("RGB", (300, 100), WHITE)))
    parameters = {"operation": "text", "text": "Hello", "fontSize": 30, "positionX": 10, "positionY": 10}
    top_left = _image(await _edit(parameters, canvas))
    assert _dark(top_left, (10, 10, 100, 50)) > 50 and _dark(top_left, (150, 0, 300, 100)) == 0
    centred = _image(await _edit({**parameters, "positionX": 0, "positionY": 0}, canvas, version=1.1))
    assert _dark(centred, (110, 30, 190, 70)) > 50 and _dark(centred, (0, 0, 100, 100)) == 0
    right = _image(
        await _edit(
            {**parameters, "horizontalAlignment": "east", "verticalAlignment": "south"}, canvas, version=1.1
        )
    )
    assert _dark(right, (200, 50, 290, 90)) > 50 and _dark(right, (0, 0, 150, 100)) == 0
    assert wrap("aaa bbb ccc\nd", 8) == "aaa bbb\nccc\nd"  # n8n counts each word's trailing space
    assert wrap("aaa bbb ccc", 7) == "aaa\nbbb\nccc"


async def test_transparent_clears_pixels_of_exactly_that_colour() -> None:
    out = _image(await _edit({"operation": "transparent", "color": "#ff0000"}))
    assert out.format == "PNG" and _rgba(out, (0, 0), (39, 0)) == [(255, 0, 0, 0), BLUE]


async def test_information_gives_identify_fields_and_keeps_the_file() -> None:
    photo = _file(_halves().convert("RGB"), "JPEG", dpi=(72, 72))
    item = _item(photo, "photo.jpg", id=1)
    out = await _edit({"operation": "information"}, item)
    info = out["json"]
    assert info["format"] == "JPEG" and info["size"] == {"width": 40, "height": 20}
    assert {
        k: info[k] for k in ("Format", "Geometry", "Type", "Depth", "depth", "Resolution", "Compression")
    } == {
        "Format": "JPEG (Joint Photographic Experts Group JFIF format)",
        "Geometry": "40x20",
        "Type": "true color",
        "Depth": "8 bits-per-pixel component",
        "depth": 8,
        "Resolution": "72x72 pixels/inch",
        "Compression": "JPEG",
    }
    assert info["Filesize"] == str(len(photo)) and info["Orientation"] == "Unknown"
    assert base64.b64decode(out["binary"]["data"]["data"]) == photo
    png = (await _edit({"operation": "information"}, _item(_file(_halves()))))["json"]
    assert (png["format"], png["Type"], png["Class"]) == (
        "PNG",
        "true color with transparency",
        "DirectClass",
    )
    assert png["Channel Depths"] == {
        "Red": "8 bits",
        "Green": "8 bits",
        "Blue": "8 bits",
        "Opacity": "8 bits",
    }


async def test_exif_orientation_is_applied_before_editing() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show rotated 90 degrees clockwise
    item = _item(_file(_halves().convert("RGB"), "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert (await _edit({"operation": "information"}, item))["json"]["Orientation"] == "RightTop"
    upright = _image(await _edit({"operation": "blur", "sigma": 0}, item))
    assert upright.size == (20, 40)


@pytest.mark.parametrize(
    ("image_format", "pillow", "mime", "extension"),
    [
        ("bmp", "BMP", "image/bmp", "bmp"),
        ("gif", "GIF", "image/gif", "gif"),
        ("jpeg", "JPEG", "image/jpeg", "jpg"),
        ("png", "PNG", "image/png", "png"),
        ("tiff", "TIFF", "image/tiff", "tif"),
        ("webp", "WEBP", "image/webp", "webp"),
    ],
)
async def test_format_option_converts_and_renames(
    image_format: str, pillow: str, mime: str, extension: str
) -> None:
    out = await _edit(
        {"operation": "border", "borderWidth": 1, "borderHeight": 1, "options": {"format": image_format}}
    )
    assert _image(out).format == pillow
    meta = out["binary"]["data"]
    assert (meta["fileName"], meta["mimeType"], meta["fileExtension"]) == (
        f"pic.{image_format}",
        mime,
        extension,
    )


async def test_quality_file_name_and_destination_key_options() -> None:
    photo = _item(_file(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG"), "noise.jpg")
    sizes = [
        len(
            base64.b64decode(
                (await _edit({"operation": "blur", "sigma": 0, "options": {"quality": q}}, photo))["binary"][
                    "data"
                ]["data"]
            )
        )
        for q in (10, 95)
    ]
    assert sizes[0] < sizes[1] / 2
    out = await _edit(
        {
            "operation": "crop",
            "width": 5,
            "height": 5,
            "options": {"destinationKey": "thumb", "fileName": "t.jpg"},
        },
        photo,
    )
    assert set(out["binary"]) == {"data", "thumb"} and out["binary"]["thumb"]["fileName"] == "t.jpg"
    assert _image(out, "thumb").size == (5, 5) and _image(out, "data").size == (200, 200)


async def test_multi_step_runs_the_steps_in_order_with_defaults() -> None:
    steps = [
        {"operation": "create", "width": 20, "height": 10, "backgroundColor": "#0000ff"},
        {"operation": "border", "borderColor": "#ff0000", "borderWidth": "5", "borderHeight": 0},
        {"operation": "resize", "resizeOption": "percent", "width": 50, "height": 100},
        {"operation": ""},  # a row without an operation does nothing, as in n8n
    ]
    out = await _edit({"operation": "multiStep", "operations": {"operations": steps}}, {"json": {"k": 1}})
    image = _image(out)
    [left, middle] = _rgba(image, (0, 5), (7, 5))
    assert image.size == (15, 10) and left[0] > 240 > left[2] and middle == BLUE
    assert out["json"] == {"k": 1} and out["binary"]["data"]["mimeType"] == "image/png"


async def test_oversize_images_and_canvases_are_refused_before_the_work() -> None:
    huge = Image.new("1", (10_000, 5_000))  # 50 megapixels, a few kilobytes as PNG
    item = _item(_file(huge))
    with pytest.raises(NodeError, match="the limit is 40,000,000 pixels") as refused:
        await _edit({"operation": "blur"}, item)
    assert refused.value.code == "LIMIT_EXCEEDED"
    assert (await _edit({"operation": "information"}, item))["json"]["size"] == {
        "width": 10_000,
        "height": 5_000,
    }
    for parameters in (
        {"operation": "create", "width": 8_000, "height": 6_000},
        {"operation": "resize", "resizeOption": "ignoreAspectRatio", "width": 100_000, "height": 1_000},
        {"operation": "border", "borderWidth": 5_000, "borderHeight": 5_000},
        {"operation": "shear", "degreesX": 89.9999},
        {"operation": "text", "text": "x" * 2_000, "fontSize": 1_000},
        {"operation": "draw", "primitive": "line", "endPositionX": 10**9},
    ):
        with pytest.raises(NodeError) as refused:
            await _edit(parameters)
        assert refused.value.code == "LIMIT_EXCEEDED", parameters
    assert MAX_PIXELS == 40_000_000


async def test_bad_parameters_and_files_get_n8n_s_errors() -> None:
    with pytest.raises(NodeError, match='The value of "width" must be a number'):
        await _edit({"operation": "resize", "width": "wide"})
    assert _image(await _edit({"operation": "resize", "width": "20", "height": " 10 "})).size == (20, 10)
    with pytest.raises(NodeError, match="not an image that can be read"):
        await _edit({"operation": "blur"}, _item(b"plain text", "a.txt"))
    with pytest.raises(NodeError, match=r"The item has no binary field 'other' \[item 0\]"):
        await _edit({"operation": "blur", "dataPropertyName": "other"})
    with pytest.raises(NodeError, match="Invalid image format: svg"):
        await _edit({"operation": "blur", "options": {"format": "={{ 'svg' }}"}})
    with pytest.raises(NodeError, match="Multi Step has no operations"):
        await _edit({"operation": "multiStep", "operations": "={{ 'none' }}"})
    with pytest.raises(NodeError, match='"sky" is not a colour'):
        await _edit({"operation": "border", "borderColor": "sky"})


async def test_real_exports_parameters_run() -> None:
    """The Edit Image nodes of n8n users' exports (except 0532's crop, tested above) on a 1000x800 JPEG."""
    photo = _item(_file(Image.new("RGB", (1000, 800), (10, 20, 30)), "JPEG"), "photo.jpg")
    sizes = []
    for path in sorted(REAL_EXPORTS.glob("*.json")):
        for node in json.loads(path.read_text()).get("nodes", []):
            if node.get("type") == EDIT and node["parameters"].get("operation") != "crop":
                out = await _edit(node["parameters"], photo, version=node["typeVersion"])
                sizes.append((node["parameters"]["operation"], _image(out).size))
    assert sorted(sizes) == [
        ("information", (1000, 800)),
        ("resize", (464, 371)),  # 480x360 as a maximum area: 172,800 pixels at most
        ("resize", (512, 410)),  # only if larger: fit 512x512
        ("resize", (720, 1280)),  # ignoring the aspect ratio
        ("resize", (750, 600)),  # 75 percent
    ]
