"""Compression node: zip, gzip and tar round trips, interop with Python's own gzip, zipfile and tarfile, n8n's
names and shapes per version, and the bounds on what an archive may unpack to."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
import zipfile
from typing import Any

import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.engine.sdk import Item
from tenantflow.nodes.n8n.files import archive
from tenantflow.nodes.n8n.files.binary import MAX_FILE_BYTES, prepare_binary
from tests.nodes.harness import run_with_items

COMPRESSION = "n8n-nodes-base.compression"
LOREM = b"Lorem Ipsum\n" + b"Neque porro quisquam est qui dolorem ipsum quia dolor sit amet...\n" * 40
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)

pytestmark = pytest.mark.anyio


def _item(**files: tuple[bytes, str]) -> Item:
    return {
        "json": {"id": 7},
        "binary": {key: prepare_binary(data, name) for key, (data, name) in files.items()},
    }


def _named(meta: dict[str, Any]) -> tuple[str, str, str]:
    return meta["fileName"], meta["fileExtension"], meta["mimeType"]


def _bytes(meta: dict[str, Any]) -> bytes:
    return base64.b64decode(meta["data"])


async def _run(parameters: dict[str, Any], *items: Item, version: float = 1) -> list[Item]:
    [out] = await run_with_items(COMPRESSION, parameters, [list(items)], version=version)
    return out


async def _compress(output_format: str, version: float = 1, **parameters: Any) -> Item:
    """The lorem text and the PNG dot of one item, compressed."""
    item = _item(data=(LOREM, "lorem.txt"), pic=(PNG, "dot.png"))
    parameters = {
        "operation": "compress",
        "binaryPropertyName": "data, pic",
        "outputFormat": output_format,
        **parameters,
    }
    [out] = await _run(parameters, item, version=version)
    return out


async def _unpack(data: bytes, name: str, **parameters: Any) -> dict[str, Any]:
    [out] = await _run({"operation": "decompress", **parameters}, _item(data=(data, name)))
    binary: dict[str, Any] = out["binary"]
    return binary


async def test_zip_round_trip_gives_the_same_names_and_bytes() -> None:
    zipped = await _compress("zip", fileName="data.zip")
    assert zipped["json"] == {"id": 7} and zipped["pairedItem"] == {"item": 0}
    meta = zipped["binary"]["data"]
    assert _named(meta) == ("data.zip", "zip", "application/zip")
    with zipfile.ZipFile(io.BytesIO(_bytes(meta))) as made:  # Python reads what the node wrote
        assert [i.filename for i in made.infolist()] == ["lorem.txt", "dot.png"]
        assert made.read("lorem.txt") == LOREM and made.read("dot.png") == PNG
        assert made.getinfo("dot.png").compress_type == zipfile.ZIP_STORED  # n8n: already compressed
        assert made.getinfo("lorem.txt").compress_type == zipfile.ZIP_DEFLATED

    [unzipped] = await _run({"operation": "decompress"}, zipped)
    assert list(unzipped["binary"]) == ["file_0", "file_1"]
    first, second = unzipped["binary"]["file_0"], unzipped["binary"]["file_1"]
    assert _bytes(first) == LOREM and _bytes(second) == PNG
    # the fields (and no others) n8n's Compression.test.ts expects of an unzipped lorem.txt
    assert {k: v for k, v in first.items() if k != "data"} == {
        "mimeType": "text/plain",
        "fileType": "text",
        "fileExtension": "txt",
        "fileName": "lorem.txt",
        "fileSize": "2.65 kB",
    }
    assert (second["fileName"], second["mimeType"]) == ("dot.png", "image/png")


async def test_v1_reads_the_zip_settings_of_item_0_and_v1_1_of_each_item() -> None:
    parameters = {
        "operation": "compress",
        "outputFormat": "zip",
        "binaryPropertyOutput": "={{ $json.out }}",
        "fileName": "={{ $json.out }}.zip",
    }
    items = [{**_item(data=(LOREM, "a.txt")), "json": {"out": name}} for name in ("first", "second")]
    v1 = await _run(parameters, *items, version=1)
    v11 = await _run(parameters, *items, version=1.1)
    assert [list(i["binary"]) for i in v1] == [["first"], ["first"]]
    assert [i["binary"][k]["fileName"] for i in v11 for k in i["binary"]] == ["first.zip", "second.zip"]


async def test_gzip_v1_names_each_file_prefix_n_and_name_dot_gzip() -> None:
    out = await _compress("gzip", outputPrefix="gz_")
    assert list(out["binary"]) == ["gz_0", "gz_1"]
    assert [m["fileName"] for m in out["binary"].values()] == ["lorem.gzip", "dot.gzip"]
    assert gzip.decompress(_bytes(out["binary"]["gz_0"])) == LOREM  # Python's gzip reads it
    assert gzip.decompress(_bytes(out["binary"]["gz_1"])) == PNG
    assert out["binary"]["gz_0"]["mimeType"] == "application/gzip"


async def test_gzip_v1_1_writes_field_field1_named_name_extension_gz_and_round_trips() -> None:
    out = await _compress("gzip", version=1.1)
    assert list(out["binary"]) == ["data", "data1"]
    gz = out["binary"]["data"]
    assert _named(gz) == ("lorem.txt.gz", "gz", "application/gzip")
    assert out["binary"]["data1"]["fileName"] == "dot.png.gz"
    named = await _compress("gzip", version=1.1, fileName="report.gz")
    assert [m["fileName"] for m in named["binary"].values()] == ["report.txt.gz", "report.png.gz"]

    back = await _unpack(_bytes(gz), "lorem.txt.gz")
    assert _bytes(back["file_0"]) == LOREM
    assert _named(back["file_0"]) == ("lorem.txt", "txt", "text/plain")


async def test_python_gzip_files_unpack_named_by_the_archive_or_the_content() -> None:
    csv = b"a,b\n1,2\n"
    by_name = await _unpack(gzip.compress(csv), "report.csv.gz", outputPrefix="out")
    assert list(by_name) == ["out0"]
    assert _named(by_name["out0"]) == ("report.csv", "csv", "text/csv")
    by_content = await _unpack(gzip.compress(PNG), "blob.gz")
    assert (by_content["file_0"]["fileName"], by_content["file_0"]["mimeType"]) == ("blob.png", "image/png")
    two_members = await _unpack(gzip.compress(b"one ") + gzip.compress(b"two"), "x.txt.gz")
    assert _bytes(two_members["file_0"]) == b"one two"  # concatenated members, as zlib's gunzip reads them


async def test_several_archives_of_an_item_number_their_files_across_the_item() -> None:
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w") as zipped:
        zipped.writestr("docs/", b"")
        zipped.writestr("docs/a.txt", b"A")
        zipped.writestr("__MACOSX/docs/._a.txt", b"junk")
        zipped.writestr("b.txt", b"B")
    item = _item(first=(made.getvalue(), "one.zip"), second=(gzip.compress(b"C"), "c.txt.gz"))
    [out] = await _run({"operation": "decompress", "binaryPropertyName": "first, second"}, item)
    # zip files are numbered across the item, a gzip file by its archive's position: as in n8n, the gzip
    # file (archive 1) lands on file_1 over b.txt; the __MACOSX copy takes no number
    assert {key: _bytes(meta) for key, meta in out["binary"].items()} == {"file_0": b"A", "file_1": b"C"}
    assert out["binary"]["file_0"]["directory"] == "docs"


async def test_names_that_climb_out_stay_names_in_zips_and_are_skipped_in_tars() -> None:
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w") as zipped:
        zipped.writestr("../../etc/passwd", b"not really")
        zipped.writestr("/abs/x.txt", b"x")
    unzipped = await _unpack(made.getvalue(), "evil.zip")
    assert [(m.get("directory"), m["fileName"]) for m in unzipped.values()] == [
        ("../../etc", "passwd"),
        ("/abs", "x.txt"),
    ]
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w") as tar:
        for name in ("../up.txt", "/abs.txt", "fine/ok.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    untarred = await _unpack(tarred.getvalue(), "evil.tar")
    assert [m["fileName"] for m in untarred.values()] == ["ok.txt"]


async def test_tar_and_tar_gz_round_trip_and_read_python_tars() -> None:
    for output_format, name in (("tar", "files.tar"), ("targz", "files.tar.gz")):
        packed = await _compress(output_format, version=1.1, fileName=name)
        data = _bytes(packed["binary"]["data"])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # Python reads what the node wrote
            assert tar.getnames() == ["lorem.txt", "dot.png"]
        unpacked = await _unpack(data, name)
        assert [(m["fileName"], _bytes(m)) for m in unpacked.values()] == [
            ("lorem.txt", LOREM),
            ("dot.png", PNG),
        ]
    assert packed["binary"]["data"]["mimeType"] == "application/gzip"


async def test_a_zip_bomb_is_refused_while_it_inflates() -> None:
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped:
        zipped.writestr("zeros.bin", bytes(MAX_FILE_BYTES + 1))
    assert len(made.getvalue()) < 200_000
    with pytest.raises(NodeError, match="exceeds the maximum allowed size of 64 MB") as refused:
        await _unpack(made.getvalue(), "bomb.zip")
    assert refused.value.code == "LIMIT_EXCEEDED"


async def test_an_item_s_archives_share_one_budget() -> None:
    third = MAX_FILE_BYTES // 3 + 1
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w", zipfile.ZIP_DEFLATED) as zipped:
        for n in range(2):
            zipped.writestr(f"part{n}.bin", bytes(third))
    item = _item(first=(made.getvalue(), "a.zip"), second=(gzip.compress(bytes(third)), "b.bin.gz"))
    with pytest.raises(NodeError, match="exceeds the maximum allowed size"):
        await _run({"operation": "decompress", "binaryPropertyName": "first,second"}, item)


async def test_a_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(bytes(MAX_FILE_BYTES + 1), compresslevel=9)
    with pytest.raises(NodeError, match="exceeds the maximum allowed size"):
        await _unpack(bomb, "zeros.bin.gz")


async def test_too_many_entries_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_ARCHIVE_ENTRIES", 3)
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w") as zipped:
        for n in range(4):
            zipped.writestr(f"{n}.txt", b"x")
    with pytest.raises(NodeError, match="more than 3 entries"):
        await _unpack(made.getvalue(), "many.zip")


async def test_unreadable_or_unknown_archives_get_clear_errors() -> None:
    with pytest.raises(NodeError, match="The zip archive could not be read"):
        await _unpack(b"PK\x03\x04 not a zip", "broken.zip")
    with pytest.raises(NodeError, match="The gzip archive could not be read"):
        await _unpack(gzip.compress(LOREM)[:40], "cut.txt.gz")
    with pytest.raises(NodeError, match=r'Unsupported archive format "\.rar" for binary data data'):
        await _unpack(b"Rar!", "x.rar")
    with pytest.raises(NodeError, match="File extension not found for binary data data"):
        await _run(
            {"operation": "decompress"}, {"json": {}, "binary": {"data": {"data": "eA==", "mimeType": "x/y"}}}
        )
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w", zipfile.ZIP_BZIP2) as zipped:
        zipped.writestr("a.txt", LOREM)
    with pytest.raises(NodeError, match="compression method that is not supported"):
        await _unpack(made.getvalue(), "bz.zip")


async def test_defaults_decompress_data_into_file_n_as_in_a_real_export() -> None:
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w") as zipped:
        zipped.writestr("statement.pdf", b"%PDF-1.4 ...")
    [out] = await _run({}, _item(data=(made.getvalue(), "statements.zip")), version=1.1)
    assert out["json"] == {"id": 7}
    assert (out["binary"]["file_0"]["fileName"], out["binary"]["file_0"]["mimeType"]) == (
        "statement.pdf",
        "application/pdf",
    )


async def test_v1_without_an_output_format_outputs_nothing() -> None:
    assert await _run({"operation": "compress"}, _item(data=(LOREM, "a.txt"))) == []
