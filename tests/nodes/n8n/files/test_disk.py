"""Disk nodes: refused without a files directory; inside one, reads, writes and globs as n8n's do, and no
path (``..``, a symlink, an absolute path elsewhere) gets out of it."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantflow.cli import app
from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.executor import Execution, RunLimits, execute
from tenantflow.engine.sdk import Items
from tenantflow.nodes.n8n.files import disk
from tests.nodes.harness import NODE, REGISTRY, NodeRun, workflow

READ_WRITE = "n8n-nodes-base.readWriteFile"
READ_ONE = "n8n-nodes-base.readBinaryFile"
READ_MANY = "n8n-nodes-base.readBinaryFiles"
WRITE = "n8n-nodes-base.writeBinaryFile"
READ_PDF = "n8n-nodes-base.readPDF"

pytestmark = pytest.mark.anyio


async def _run(root: Path | None, node_type: str, parameters: dict[str, Any], version: float = 1) -> NodeRun:
    document = workflow(node_type, parameters, [{}], version=version)
    files_root = None if root is None else str(root)
    return NodeRun(await execute(document, registry=REGISTRY, limits=RunLimits(files_root=files_root)))


async def _run_items(
    root: Path | None, node_type: str, parameters: dict[str, Any], items: Items, version: float = 1
) -> Items:
    """The node's ``run`` on whole items (with ``binary``), on an executor context with ``root``."""
    limits = RunLimits(files_root=None if root is None else str(root))
    document = workflow(node_type, parameters, [], version=version)
    execution = Execution(document, registry=REGISTRY, limits=limits)
    implementation = REGISTRY.get(node_type)
    assert implementation is not None
    [out] = await implementation.run(NodeRunContext(execution, execution.nodes[NODE], [items], 0), [items])
    return out


def _file(data: bytes, **meta: Any) -> dict[str, Any]:
    return {"json": {"keep": 1}, "binary": {"data": {"data": base64.b64encode(data).decode(), **meta}}}


@pytest.mark.parametrize(
    ("node_type", "parameters"),
    [
        (READ_WRITE, {"operation": "read", "fileSelector": "a.txt"}),
        (READ_ONE, {"filePath": "a.txt"}),
        (READ_MANY, {"fileSelector": "*.txt"}),
        (WRITE, {"fileName": "a.txt"}),
    ],
)
async def test_every_disk_node_is_refused_without_a_files_directory(
    node_type: str, parameters: dict[str, Any]
) -> None:
    error = (await _run(None, node_type, parameters)).error
    assert error["code"] == ErrorCode.HOST_ACCESS_DENIED
    assert "operator enables it with a files directory" in error["message"]


async def test_read_file_in_the_root_with_n8ns_metadata(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"hello")
    [[item]] = (await _run(tmp_path, READ_WRITE, {"fileSelector": "notes.txt"})).outputs
    meta = {"mimeType": "text/plain", "fileType": "text", "fileName": "notes.txt", "fileExtension": "txt"}
    assert item["json"] == {**meta, "fileSize": "5 B"}
    assert item["binary"]["data"] == {**meta, "data": "aGVsbG8=", "fileSize": "5 B"}
    options = {"fileName": "x.bin", "mimeType": "application/zip", "dataPropertyName": "file"}
    [[item]] = (await _run(tmp_path, READ_WRITE, {"fileSelector": "notes.txt", "options": options})).outputs
    assert item["binary"]["file"]["fileName"] == "x.bin" and item["json"]["mimeType"] == "application/zip"


async def test_glob_reads_matching_files_sorted_and_version_1_1_wants_one(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "c.txt", "sub/d.png", ".hidden.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    run = await _run(tmp_path, READ_WRITE, {"fileSelector": "**/*.png"})
    assert [item["json"]["fileName"] for item in run.outputs[0]] == ["a.png", "b.png", "d.png"]
    [names] = (await _run(tmp_path, READ_MANY, {"fileSelector": f"{tmp_path}/*.png"})).outputs
    shown = [(item["json"], item["binary"]["data"]["directory"]) for item in names]
    assert shown == [({}, str(tmp_path))] * 2
    assert (await _run(tmp_path, READ_WRITE, {"fileSelector": "*.pdf"})).outputs == [[]]
    error = (await _run(tmp_path, READ_WRITE, {"fileSelector": "*.pdf"}, version=1.1)).error
    assert error["message"] == "No file(s) found"


async def test_a_glob_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disk, "MAX_GLOB_FILES", 2)
    for name in "abc":
        (tmp_path / name).write_bytes(b"x")
    error = (await _run(tmp_path, READ_MANY, {"fileSelector": "*"})).error
    assert error["code"] == ErrorCode.LIMIT_EXCEEDED and "more than 2 files" in error["message"]


async def test_write_then_read_round_trip_and_append(tmp_path: Path) -> None:
    item = _file(b"one ", fileName="in.txt")
    [written] = await _run_items(tmp_path, WRITE, {"fileName": "out.txt"}, [item])
    assert written["json"] == {"keep": 1, "fileName": "out.txt"} and written["binary"] == item["binary"]
    parameters = {"operation": "write", "fileName": str(tmp_path / "out.txt"), "options": {"append": True}}
    await _run_items(tmp_path, READ_WRITE, parameters, [_file(b"two")], version=1.1)
    assert (tmp_path / "out.txt").read_bytes() == b"one two"
    [read] = await _run_items(tmp_path, READ_ONE, {"filePath": "out.txt", "dataPropertyName": "got"}, [item])
    assert read["json"] == {"keep": 1} and read["binary"]["data"] == item["binary"]["data"]
    assert base64.b64decode(read["binary"]["got"]["data"]) == b"one two"
    assert read["binary"]["got"]["fileName"] == "out.txt"


@pytest.mark.parametrize("path", ["../escape.txt", "sub/../../escape.txt", "/etc/passwd", "link/x", "out"])
async def test_paths_leading_out_of_the_root_are_refused(tmp_path: Path, path: str) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "x").write_bytes(b"secret")
    (root / "link").symlink_to(outside)
    (root / "out").symlink_to(outside / "x")
    for node_type, parameters in ((READ_ONE, {"filePath": path}), (READ_WRITE, {"fileSelector": path})):
        error = (await _run(root, node_type, parameters)).error
        assert error["code"] == ErrorCode.HOST_ACCESS_DENIED and f'"{path}"' in error["message"]
    with pytest.raises(NodeError) as refused:
        await _run_items(root, WRITE, {"fileName": path}, [_file(b"x")])
    assert refused.value.code == ErrorCode.HOST_ACCESS_DENIED
    assert (outside / "x").read_bytes() == b"secret" and not (tmp_path / "escape.txt").exists()


async def test_globs_cannot_leave_the_root(tmp_path: Path) -> None:
    """A glob outside the root matches nothing there (n8n: no items when nothing matches); a symlink match
    leading out is refused."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "a.png").write_bytes(b"x")
    for selector in (
        "../*.png",
        "../../../assets/*.png",
        f"{tmp_path}/*.png",
        "sub/../../*.png",
        "*/../../*",
    ):
        assert (await _run(root, READ_MANY, {"fileSelector": selector})).outputs == [[]], selector
        error = (await _run(root, READ_WRITE, {"fileSelector": selector}, version=1.1)).error
        assert error["message"] == "No file(s) found", selector
    (root / "link").symlink_to(tmp_path / "a.png")
    (root / "dir").symlink_to(tmp_path)
    for selector in ("*", "dir/*.png"):
        error = (await _run(root, READ_MANY, {"fileSelector": selector})).error
        assert error["code"] == ErrorCode.HOST_ACCESS_DENIED, selector


async def test_an_absolute_path_under_the_root_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    [[item]] = (await _run(tmp_path, READ_ONE, {"filePath": str(tmp_path / "x.png")})).outputs
    assert item["binary"]["data"]["mimeType"] == "image/png"
    (tmp_path / "sub").mkdir()
    error = (await _run(tmp_path / "sub", READ_ONE, {"filePath": str(tmp_path / "x.png")})).error
    assert error["code"] == ErrorCode.HOST_ACCESS_DENIED


async def test_missing_file_names_the_workflows_path_not_the_hosts(tmp_path: Path) -> None:
    error = (await _run(tmp_path, READ_ONE, {"filePath": "absent.txt"})).error
    assert error["message"] == 'No such file or directory: "absent.txt"'


async def test_read_pdf_keeps_the_file_and_adds_its_text() -> None:
    from pypdf import PdfWriter

    pdf = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.write(pdf)
    item = _file(pdf.getvalue(), mimeType="application/pdf")
    [out] = await _run_items(None, READ_PDF, {}, [item])
    assert list(out["json"]) == ["numpages", "numrender", "info", "text", "version"]
    assert (out["json"]["numpages"], out["json"]["text"]) == (1, "")
    assert out["json"]["info"]["PDFFormatVersion"].startswith("1.")
    assert out["binary"] == item["binary"] and out["pairedItem"] == {"item": 0}


def test_cli_run_files_dir_grants_that_directory(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"hi")
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(workflow(READ_WRITE, {"fileSelector": "in.txt"}, [{}])))
    runner = CliRunner()
    allowed = runner.invoke(app, ["run", str(path), "--json", "--files-dir", str(tmp_path)])
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["state"][NODE]["output"][0][0]["json"]["fileName"] == "in.txt"
    refused = json.loads(runner.invoke(app, ["run", str(path), "--json"]).stdout)
    assert refused["error"]["code"] == ErrorCode.HOST_ACCESS_DENIED
    assert runner.invoke(app, ["run", str(path), "--files-dir", str(tmp_path / "absent")]).exit_code == 2
