"""A view that holds: choices survive page switches, saved views bring back every choice,
and refusals say why (AppTest on the demo)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_app import APP, chart, point_chart, recolour, run
from streamlit.testing.v1 import AppTest



@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


def test_explore_choices_survive_a_visit_to_compare(app):
    app.multiselect(key="genes").set_value(["CD74", "LYZ"])
    run(app)
    recolour(app, "color_by", "phase")
    app.number_input(key="n_top").set_value(12)
    run(app)
    app.toggle(key="show_table").set_value(True)
    run(app)
    run(app.switch_page("pages/compare.py"))
    run(app.switch_page("pages/explore.py"))
    assert app.multiselect(key="genes").value == ["CD74", "LYZ"]
    assert app.selectbox(key="color_by").value == "phase"
    assert app.number_input(key="n_top").value == 12
    assert app.toggle(key="show_table").value is True
    assert chart(app, "Cells in UMAP")["layout"]["title"]["text"].endswith("coloured by phase")
    panel_genes = {g for t in point_chart(app)["data"] if t["name"] == "expected counts" and t["type"] == "scatter"
                   for g in t["y"]}
    assert panel_genes == {"CD74", "LYZ"}


def test_a_column_with_too_many_categories_is_refused_with_a_message(app):
    recolour(app, "color_by", "cell_id")
    assert any("700 categories" in w.value and "coloured by 'bulk_labels' instead" in w.value for w in app.warning)
    assert chart(app, "Cells in UMAP")["layout"]["title"]["text"].endswith("coloured by bulk_labels")


def test_gene_picker_lists_genes_alphabetically(app):
    options = list(app.multiselect(key="genes").options)
    assert options == sorted(options, key=str.upper) and len(options) == 765


def test_pasted_genes_warning_goes_once_the_genes_change(app):
    app.text_area(key="pasted_genes").set_value("CD74 NOT_A_GENE")
    run(next(b for b in app.button if b.label == "Add these genes").click())
    assert any("NOT_A_GENE" in w.value for w in app.warning)
    app.multiselect(key="genes").set_value(["LYZ"])
    run(app)
    assert not any("NOT_A_GENE" in w.value for w in app.warning)


def test_report_bundle_records_the_explore_choices(app):
    recolour(app, "color_by", "phase")  # reruns the map's and the downloads' fragments only
    state = json.loads(app.session_state["_explore_exports"]["view"])  # what the bundle's state.json holds
    assert state["page"] == "explore" and state["source"] == {"kind": "demo"} and len(state["data_key"]) == 64
    assert state["extras"]["color_by"] == "phase" and state["extras"]["n_top"] == 20
    assert set(state["extras"]) >= {"embedding", "color_by", "overlay_gene", "n_top", "show_table"}


def test_an_unwritable_cache_folder_is_said_once_and_the_map_still_draws(monkeypatch, tmp_path):
    from pathlib import Path

    from test_app import _open_from_root

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SCVI_VIZ_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(Path(__file__).parent / "fixtures"))
    at = _open_from_root("models/scvi_default", "adata.h5ad")  # no UMAP stored in this file: one is computed
    assert [w.value for w in at.warning if "cannot be written" in w.value] != []
    assert chart(at, "Cells in UMAP")
    run(at)
    assert not [w.value for w in at.warning if "cannot be written" in w.value]  # once per session


def test_the_table_of_every_gene_follows_moves_and_its_switch_stays(app):
    from scvi_viz.analysis.profiles import gene_profile
    from scvi_viz.analysis.workspace import Workspace
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
    from test_app import move_latent

    app.toggle(key="show_table").set_value(True)
    run(app)
    first = app.dataframe[0].value
    app = move_latent(app, 0, "max")  # a move reruns the Explore fragment, which holds the table while it is on
    table = app.dataframe[0].value
    expected = gene_profile(Workspace.open(str(DEMO_MODEL), str(DEMO_DATA)).model, app.session_state["point"])
    assert not table["rate"].sort_index().equals(first["rate"].sort_index())
    np.testing.assert_allclose(table["rate"].sort_index(), expected["rate"].sort_index(), rtol=1e-6)
    app.toggle(key="show_table").set_value(False)
    run(app)
    assert [t.key for t in app.toggle if t.key in ("show_table", "cell_posterior_show")] == [
        "show_table", "cell_posterior_show"], "switched off, the switches are still there"
    assert not app.dataframe
