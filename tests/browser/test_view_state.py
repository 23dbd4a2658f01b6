"""A view that holds, in the browser: a saved view restores every choice, and the server-file
picker follows the chosen model folder."""

from __future__ import annotations

import re

import shutil

import pytest
from streamlit_server import StreamlitServer
from test_browser import (
    ROOT,
    assert_no_exception,
    body_text,
    chart,
    choose,
    open_app,
    restore_saved_view,
    TOP_GENES_TITLE,
    top_gene_values,
    wait_changed,
    wait_explore_ready,
    wait_idle,
)

from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.io.view_state import ViewState


@pytest.fixture(scope="module")
def demo() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


def restore(page, app_url: str, state: ViewState, folder) -> None:
    """Open the app and restore ``state`` as a user does: upload its state.json, press Restore."""
    path = folder / "state.json"
    path.write_text(state.to_json())
    open_app(page, app_url)
    restore_saved_view(page, path)


def test_a_saved_view_restores_point_genes_and_choices(page, app_url, demo, tmp_path):
    cell = 321
    state = ViewState(model_sha256=demo.model.file_sha256, point=demo.cell_point(cell), genes=("CD74", "LYZ", "GNLY"),
                      cell_id=f"cell {demo.obs.index[cell]}",
                      extras={"color_by": "phase", "n_top": 10, "embedding": demo.embedding_names()[0]})
    restore(page, app_url, state, tmp_path)
    page.wait_for_function("() => document.body.innerText.includes('View restored.')")
    wait_explore_ready(page)
    assert_no_exception(page)
    assert "coloured by phase" in chart(page, "Cells in")["title"]
    text = body_text(page)
    assert f"restored view (cell {demo.obs.index[cell]})" in text
    assert "Top 10 genes by expected counts" in " ".join(page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot .annotation-text')].map(t => t.textContent)"))
    traces = chart(page, "Decoded at the current point")["traces"]
    assert ["CD74", "LYZ", "GNLY"] in [t["y"] for t in traces if t["name"] == "expected counts"]


def test_a_saved_view_opens_the_page_it_was_saved_on(page, app_url, demo, tmp_path):
    state = ViewState(model_sha256=demo.model.file_sha256, point=demo.cell_point(5), genes=("CD74",),
                      page="differential_expression",
                      extras={"de_group1_category": "CD19+ B", "de_group2_category": "Dendritic", "de_delta": 0.5})
    restore(page, app_url, state, tmp_path)
    page.wait_for_url(re.compile(r"/differential_expression(\?|$)"))
    page.wait_for_function("() => document.body.innerText.includes('View restored.')")
    wait_idle(page)
    assert page.get_by_role("combobox", name="Category").first.input_value() == "CD19+ B"
    assert page.get_by_role("combobox", name="Category").nth(1).input_value() == "Dendritic"
    assert_no_exception(page)


def test_the_data_box_follows_the_model_folder(new_page, tmp_path):
    root = tmp_path / "root"
    (root / "atlas").mkdir(parents=True)
    shutil.copy(DEMO_MODEL / "model.pt", root / "atlas" / "model.pt")
    shutil.copy(DEMO_DATA, root / "atlas" / "adata.h5ad")
    shutil.copy(DEMO_DATA, root / "elsewhere.h5ad")
    server = StreamlitServer(tmp_path / "streamlit.log", cwd=ROOT,
                             env={"SCVI_VIZ_DATA_DIR": str(root), "SCVI_VIZ_CACHE_DIR": str(tmp_path / "cache")})
    try:
        server.wait_healthy(60)
        page = new_page()
        page.goto(server.url)
        wait_explore_ready(page)
        page.get_by_text("Files on this server").click()
        wait_idle(page)
        choose(page, "Model folder", "atlas")
        wait_explore_ready(page)
        assert page.get_by_role("combobox", name="AnnData (.h5ad or .zarr)").input_value() == "atlas/adata.h5ad"
        assert "atlas + atlas/adata.h5ad" in body_text(page)
        assert "different folders" not in body_text(page)
        choose(page, "AnnData (.h5ad or .zarr)", "elsewhere.h5ad")
        wait_explore_ready(page)
        assert "come from different folders" in body_text(page)
        assert_no_exception(page)
    finally:
        server.stop()


def test_a_copied_address_opens_the_same_view_in_a_fresh_browser(new_page, app_url):
    page = new_page()
    open_app(page, app_url)
    choose(page, "Colour cells by", "phase")
    wait_explore_ready(page)
    slider = page.locator('input[type="range"][aria-label="latent dimension 1"]')
    z_before = page.evaluate("() => new URLSearchParams(window.location.search).get('z')")
    assert z_before, "the address holds the view from the start"
    before = top_gene_values(page)
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(z) => new URLSearchParams(window.location.search).get('z') !== z", arg=z_before)
    wait_idle(page)
    wait_changed(page, TOP_GENES_TITLE, before)  # the decoded chart's redraw came (under load it can trail the address)
    wait_idle(page)
    address = page.url
    values = top_gene_values(page)

    fresh = new_page()  # another browser context: another session, nothing shared but the address
    fresh.goto(address)
    wait_explore_ready(fresh)
    assert_no_exception(fresh)
    assert "coloured by phase" in chart(fresh, "Cells in")["title"]
    assert "shared link" in body_text(fresh)
    again = top_gene_values(fresh)
    assert again == values  # exact: z travels at float32 precision
