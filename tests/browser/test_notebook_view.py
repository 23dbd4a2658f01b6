"""``scvi_viz.view()`` as a notebook shows it: its ``_repr_html_`` (an IFrame) in a page of
another origin, with the app inside showing the viewed model, not the demo."""

from __future__ import annotations

import shutil

from test_browser import NO_EXCEPTION, body_text, chart, wait_explore_ready, wait_idle

import scvi_viz
from scvi_viz.io import sources


def test_the_inline_frame_shows_the_viewed_model(new_page, tmp_path):
    folder = tmp_path / "pbmc_model"
    folder.mkdir()
    shutil.copy(sources.DEMO_MODEL / "model.pt", folder / "model.pt")
    shutil.copy(sources.DEMO_DATA, folder / "adata.h5ad")
    view = scvi_viz.view(folder, height=1000)
    try:
        page = new_page({"width": 1500, "height": 1100})
        page.set_content(f"<html><body><h1>a notebook</h1>{view._repr_html_()}</body></html>")
        frame = page.wait_for_selector("iframe").content_frame()
        wait_explore_ready(frame)
        assert "pbmc_model + adata.h5ad" in body_text(frame), "the sidebar names the viewed files"
        assert "Files on this server" in body_text(frame)
        cells = sum(len(t["x"]) for t in chart(frame, "Cells in")["traces"] if t["name"] != "empty space")
        assert cells == 700
        query = "(key) => new URLSearchParams(window.location.search).get(key)"
        assert frame.evaluate(query, "sm") == "." and frame.evaluate(query, "v") == "2", \
            "once open, the frame's address holds the whole view, files included"
        wait_idle(frame)
        assert frame.locator(NO_EXCEPTION).count() == 0
        assert not page.js_errors, page.js_errors
    finally:
        view.stop()
    assert not view.running
