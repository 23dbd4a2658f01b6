"""File names, CSV, report ZIPs, static images and reading back uploaded states."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from scvi_viz.plots import export
from scvi_viz.errors import ScviVizError
from scvi_viz.io.view_state import read_state_upload
from scvi_viz.plots.export import Chart, StaticExportUnavailable

HAS_CHROMIUM = shutil.which("chromium") is not None or export.browser_path() is not None
needs_chromium = pytest.mark.skipif(not HAS_CHROMIUM, reason="no Chrome/Chromium for kaleido")
pytestmark = pytest.mark.filterwarnings("ignore:The kopts argument is ignored:UserWarning")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATE = json.dumps({"format": "scvi-viz-state/1", "point": {"z": [0.0], "library_size": 1.0}}, indent=2)


def is_svg(data: bytes) -> bool:
    head = data.lstrip()[:200]
    return head.startswith(b"<svg") or head.startswith(b"<?xml")


def small_figure(title: str = "t") -> go.Figure:
    return go.Figure({"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}],
                      "layout": {"title": {"text": title}, "width": 300, "height": 200}})


def small_table() -> pd.DataFrame:
    return pd.DataFrame({"rate": [1.5, 0.25], "scale": [1.5e-4, 2.5e-5]}, index=pd.Index(["CD3E", "MS4A1"], name="gene"))


def charts() -> list[Chart]:
    return [
        Chart("Top genes / cell 7", lambda: small_figure("top"), small_table(), {"library size": "10,000", "point": "cell 7"}),
        Chart("parameters", lambda: small_figure("params"), small_table()),
    ]


# ------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("top genes", "top_genes"),
        ("a/b\\c:d", "a_b_c_d"),
        ("../../etc/passwd", "etc_passwd"),
        ("..", "figure"),
        ("", "figure"),
        ("   ", "figure"),
        ("log2FC S vs G1 (phase)", "log2FC_S_vs_G1_phase"),
        ("ok-name_1.csv", "ok-name_1.csv"),
        ("Größe", "Gr_e"),
    ],
)
def test_safe_filename(text, expected):
    assert export.safe_filename(text) == expected


def test_safe_filename_is_safe_and_short():
    name = export.safe_filename("x" * 500 + "/..\x00\n" + "y" * 10)
    assert len(name) <= 80
    assert all(c.isalnum() or c in "._-" for c in name)
    assert not name.startswith(".")


def test_toolbar_config():
    config = export.toolbar_config("UMAP of phase / cell 3")
    assert config["displaylogo"] is False
    opts = config["toImageButtonOptions"]
    assert opts["filename"] == "UMAP_of_phase_cell_3"
    assert opts["format"] == "png"
    assert opts["scale"] == 2


# -------------------------------------------------------------------- CSV


def test_table_csv_caption_then_header():
    text = export.table_csv(small_table(), caption={"model": "demo", "library size": "10,000"}).decode()
    lines = text.splitlines()
    assert lines[0] == "# model: demo"
    assert lines[1] == "# library size: 10,000"
    assert lines[2] == "gene,rate,scale"
    assert lines[3].startswith("CD3E,1.5,")
    back = pd.read_csv(io.StringIO(text), comment="#", index_col=0)
    assert back.index.name == "gene"
    pd.testing.assert_frame_equal(back, small_table(), check_exact=False, rtol=1e-6)


def test_table_csv_without_caption():
    text = export.table_csv(small_table()).decode()
    assert text.splitlines()[0] == "gene,rate,scale"
    assert "#" not in text


def test_table_csv_six_significant_digits():
    table = pd.DataFrame({"v": [1 / 3]}, index=pd.Index(["g"], name="gene"))
    assert export.table_csv(table).decode().splitlines()[1] == "g,0.333333"


def test_figure_html_standalone():
    html = export.figure_html(small_figure("hello there")).decode()
    assert html.lstrip().lower().startswith("<html") or "<html" in html[:200].lower()
    assert "hello there" in html
    assert "plotly" in html.lower()
    assert '<script src="https://cdn.plot.ly' not in html  # plotly.js embedded: opens offline
    assert len(html) > 1_000_000


# ------------------------------------------------------------------ bundle


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_report_bundle_without_chromium(monkeypatch):
    monkeypatch.setattr(export, "static_export_available", lambda: False)

    def no_images(*args, **kwargs):
        raise AssertionError("figure_image must not be called without Chromium")

    monkeypatch.setattr(export, "figure_image", no_images)
    extra = pd.DataFrame({"log2FC": [1.0, -2.0]}, index=pd.Index(["A", "B"], name="gene"))
    files = read_zip(export.report_bundle(charts(), STATE, {"comparison S vs G1": extra}))
    assert set(files) == {
        "Top_genes_cell_7.html", "Top_genes_cell_7.csv", "Top_genes_cell_7.about.txt", "parameters.html", "parameters.csv",
        "comparison_S_vs_G1.csv", "state.json", "README.txt",
    }
    assert files["Top_genes_cell_7.about.txt"].decode().splitlines() == ["library size: 10,000", "point: cell 7"]
    assert files["state.json"].decode() == STATE
    assert b"apt-get install chromium" in files["README.txt"]
    assert b"<html" in files["parameters.html"][:500].lower()
    assert files["Top_genes_cell_7.csv"].decode().splitlines()[:3] == ["# library size: 10,000", "# point: cell 7", "gene,rate,scale"]
    assert files["comparison_S_vs_G1.csv"].decode().splitlines() == ["gene,log2FC", "A,1", "B,-2"]


def test_report_bundle_without_tables_or_charts(monkeypatch):
    monkeypatch.setattr(export, "static_export_available", lambda: False)
    files = read_zip(export.report_bundle([], STATE))
    assert set(files) == {"state.json", "README.txt"}


def test_report_bundle_static_branch_with_fake_images(monkeypatch):
    """The static branch's layout, without starting a browser."""
    calls = []

    def fake_image(fig, fmt, **kwargs):
        calls.append((fig.layout.title.text, fmt))
        return {"svg": b"<svg>fake</svg>", "png": PNG_SIGNATURE + b"fake", "pdf": b"%PDF-fake"}[fmt]

    monkeypatch.setattr(export, "static_export_available", lambda: True)
    monkeypatch.setattr(export, "figure_image", fake_image)
    files = read_zip(export.report_bundle(charts(), STATE, {"extra": small_table()}))
    assert set(files) == {
        "Top_genes_cell_7.svg", "Top_genes_cell_7.png", "Top_genes_cell_7.pdf", "Top_genes_cell_7.csv",
        "Top_genes_cell_7.about.txt", "parameters.svg", "parameters.png", "parameters.pdf", "parameters.csv",
        "extra.csv", "state.json",
    }
    assert sorted(calls) == sorted((title, fmt) for title in ("top", "params") for fmt in ("svg", "png", "pdf"))
    assert files["state.json"].decode() == STATE
    assert files["parameters.png"] == PNG_SIGNATURE + b"fake"


@needs_chromium
def test_report_bundle_with_chromium():
    # Three kaleido calls (SVG, PNG, PDF) for one chart; files unpack readable by everyone.
    chart = charts()[0]
    data = export.report_bundle([chart], STATE)
    files = read_zip(data)
    assert set(files) == {"Top_genes_cell_7.svg", "Top_genes_cell_7.png", "Top_genes_cell_7.pdf", "Top_genes_cell_7.csv",
                          "Top_genes_cell_7.about.txt", "state.json"}
    assert files["Top_genes_cell_7.png"].startswith(PNG_SIGNATURE) and files["Top_genes_cell_7.pdf"].startswith(b"%PDF")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {(info.external_attr >> 16) & 0o777 for info in archive.infolist()} == {0o644}
    assert is_svg(files["Top_genes_cell_7.svg"])
    assert files["state.json"].decode() == STATE


@needs_chromium
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_figure_image_bytes(fmt):
    data = export.figure_image(small_figure(), fmt)
    if fmt == "png":
        assert data.startswith(PNG_SIGNATURE)
        # PNG IHDR width/height: 300x200 layout drawn at scale 2.
        assert int.from_bytes(data[16:20], "big") == 600
        assert int.from_bytes(data[20:24], "big") == 400
    else:
        assert is_svg(data)


def test_chart_file_each_format(monkeypatch):
    calls = []
    monkeypatch.setattr(export, "figure_image", lambda fig, fmt: calls.append((fig.layout.title.text, fmt)) or fmt.encode())
    chart = charts()[0]
    for fmt in export.STATIC_FORMATS:
        assert export.chart_file(chart, fmt) == fmt.encode()
    assert calls == [("top", f) for f in export.STATIC_FORMATS]
    assert export.chart_file(chart, "csv") == export.table_csv(chart.table, caption=chart.caption)
    html = export.chart_file(chart, "html")
    assert html.lower().startswith(b"<!doctype html>") and b"top" in html
    assert set(export.FORMATS) == {"png", "svg", "pdf", "html", "csv"}
    with pytest.raises(ValueError, match="format"):
        export.chart_file(chart, "gif")


def test_figure_image_unknown_format():
    with pytest.raises(ValueError, match="format"):
        export.figure_image(small_figure(), "gif")


def test_figure_image_without_browser(monkeypatch):
    monkeypatch.setattr(export, "browser_path", lambda: None)
    assert export.static_export_available() is False
    with pytest.raises(StaticExportUnavailable) as info:
        export.figure_image(small_figure(), "png")
    assert isinstance(info.value, ValueError)
    assert "Chromium" in str(info.value)


def test_browser_path(monkeypatch, tmp_path):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("BROWSER_PATH", str(fake))
    assert export.browser_path() == str(fake)
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing"))
    monkeypatch.setattr(export.shutil, "which", lambda name: None)
    assert export.browser_path() is None
    monkeypatch.setattr(export.shutil, "which", lambda name: "/opt/bin/" + name if name == "google-chrome" else None)
    assert export.browser_path() == "/opt/bin/google-chrome"


# ---------------------------------------------------------- state uploads


def zip_bytes(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_read_state_upload_json():
    assert read_state_upload(STATE.encode()) == STATE


def test_read_state_upload_zip(monkeypatch):
    monkeypatch.setattr(export, "static_export_available", lambda: False)
    bundle = export.report_bundle(charts()[:1], STATE)
    assert read_state_upload(bundle) == STATE
    assert read_state_upload(zip_bytes({"a.csv": "x", "state.json": STATE})) == STATE


def test_read_state_upload_zip_without_state():
    with pytest.raises(ScviVizError, match="no state.json"):
        read_state_upload(zip_bytes({"figure.csv": "gene,rate\n", "sub/state.json": STATE}))


@pytest.mark.parametrize(
    "data",
    [
        bytes(np.random.default_rng(0).integers(128, 256, size=256, dtype=np.uint8)),  # never valid UTF-8 at start
        b"\xff\xd8\xff\xe0JFIF",
        b"PK\x03\x04 not really a zip",
    ],
)
def test_read_state_upload_garbage(data):
    with pytest.raises(ScviVizError):
        read_state_upload(data)


def test_read_state_upload_oversized_state_in_zip():
    big = "{" + " " * 1_100_000 + "}"
    with pytest.raises(ScviVizError, match="too large"):
        read_state_upload(zip_bytes({"state.json": big}))


@needs_chromium
def test_the_static_export_server_stops_and_starts_again():
    assert export.figure_image(small_figure(), "svg").lstrip().startswith(b"<svg")
    export.stop_static_export()
    assert export._server_started is False
    export.stop_static_export()  # stopping a stopped server does nothing
    assert export.figure_image(small_figure(), "svg").lstrip().startswith(b"<svg")
