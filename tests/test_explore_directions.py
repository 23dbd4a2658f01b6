"""Explore's directions with names, gene sets, characteristic genes and the table per model (AppTest)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from scvi_viz.analysis.characteristic import characteristic_genes, mean_decoded_scale
from scvi_viz.analysis.directions import group_centroids
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from test_app import APP, LATENT_SLIDERS, chart, component_data, component_event, latent, recolour, run
from test_links import open_with

MONOCYTE = "CD14+ Monocyte"


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(str(DEMO_MODEL), str(DEMO_DATA))


@pytest.fixture(scope="module")
def centres(ws) -> dict[str, np.ndarray]:
    return group_centroids(ws.latent, ws.obs["bulk_labels"])


@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


def rows(at: AppTest) -> list[dict]:
    return component_data(at, LATENT_SLIDERS)["rows"]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_go_to_moves_the_point_to_a_group_centre_exactly(app, centres):
    app.selectbox(key="goto_column").set_value("bulk_labels")
    run(app)
    app.selectbox(key="goto_group").set_value(MONOCYTE)
    run(button(app, "Go").click())
    assert latent(app) == centres[MONOCYTE].tolist()
    assert any(f"centre of bulk_labels {MONOCYTE}" in m.value for m in app.markdown)


def test_principal_axes_replace_the_dimension_sliders(app, ws):
    assert [r["label"] for r in rows(app)] == [f"latent dimension {i + 1}" for i in range(ws.model.n_latent)]
    z = latent(app)
    run(app.radio(key="slider_set").set_value("axes"))
    axes = rows(app)
    assert len(axes) == ws.model.n_latent and all(r["label"].startswith("principal axis") for r in axes)
    assert latent(app) == z, "turning the sliders does not move the point"
    assert len(component_data(app, LATENT_SLIDERS)["hints"]) == len(axes)


def test_a_slider_toward_a_group_runs_from_here_to_its_centre(app, centres):
    start = latent(app)
    app.selectbox(key="dir_kind").set_value("toward")
    run(app)
    app.selectbox(key="dir_column").set_value("bulk_labels")
    run(app)
    app.selectbox(key="dir_target").set_value(MONOCYTE)
    run(button(app, "Add the slider").click())
    row = rows(app)[-1]
    assert row["label"] == f"toward {MONOCYTE}" and row["anchor"] == start and row["end"] == centres[MONOCYTE].tolist()
    assert row["range"] == [-0.5, 1.5] and len(rows(app)) == len(start) + 1
    hint = component_data(app, LATENT_SLIDERS)["hints"][-1]
    assert hint.startswith("up: ") and " · down: " in hint
    traversal = json.loads(component_data(app, "scvi_viz_live_traversal")["spec"])
    assert f"'toward {MONOCYTE}'" in traversal["title"], "the traversal follows the new slider"
    # the browser sends the point at 1 (latent_walk.js computes it as (1 - t) * start + t * end)
    move = component_data(app, LATENT_SLIDERS)["move"] + 1
    component_event(app, LATENT_SLIDERS, "moved", {"z": row["end"], "move": move})
    assert latent(app) == centres[MONOCYTE].tolist()
    address = dict(app.query_params)
    assert '"kind":"toward"' in address["xj.direction"]
    other = open_with(address)
    assert rows(other)[-1]["label"] == f"toward {MONOCYTE}" and rows(other)[-1]["anchor"] == start
    run(button(app, "Remove it").click())
    assert len(rows(app)) == len(start)


def test_gene_sets_colour_the_map_chart_on_explore_and_travel_in_the_link(app, ws):
    app.text_area(key="gene_sets_text").set_value("monocyte: lyz S100A8 S100A9 NOT_A_GENE\nT cell: CD3D CD3E")
    run(button(app, "Keep these sets").click())
    assert any("NOT_A_GENE" in c.value for c in app.caption)
    data = component_data(app, LATENT_SLIDERS)
    assert [name for name, _ in data["sets"]] == ["monocyte", "T cell"]
    assert data["sets"][0][1] == ws.model.gene_indices(["LYZ", "S100A8", "S100A9"])
    n_genes = len(data["chosen"])
    assert len(data["server"]["chosen"]) == n_genes + 2
    p = app.session_state["point"]
    rate = ws.model.decode([p.z], library_size=p.library_size, **p.covariates.decode_kwargs()).rate.numpy()[0]
    assert data["server"]["chosen"][-1] == pytest.approx(rate[ws.model.gene_indices(["CD3D", "CD3E"])].mean(), rel=1e-5)
    recolour(app, "color_by", "a gene set (decoded)")
    recolour(app, "overlay_set", "T cell")
    the_map = chart(app, "Cells in")
    assert "T cell: mean of 2 genes" in the_map["layout"]["title"]["text"] + str(the_map["data"][0].get("marker", {}))
    address = dict(app.query_params)
    other = open_with(address)
    assert [name for name, _ in component_data(other, LATENT_SLIDERS)["sets"]] == ["monocyte", "T cell"]
    assert other.selectbox(key="overlay_set").value == "T cell"


def test_more_of_a_gene_set_is_a_slider_toward_where_following_it_ends(app):
    app.text_area(key="gene_sets_text").set_value("monocyte: LYZ S100A8 S100A9")
    run(button(app, "Keep these sets").click())
    app.selectbox(key="dir_kind").set_value("more")
    run(app)
    run(button(app, "Add the slider").click())
    row = rows(app)[-1]
    assert row["label"] == "more of monocyte"
    assert component_data(app, LATENT_SLIDERS)["hints"][-1].startswith("up: ")


def test_characteristic_genes_are_shown_for_the_point(app, ws):
    z = latent(app)
    mean = mean_decoded_scale(ws.model, ws.latent, ws.covariates)
    line = component_data(app, LATENT_SLIDERS)["server"]["characteristic"]
    assert line.startswith("Characteristic here (vs the average cell): higher ")
    p = app.session_state["point"]
    above, below = characteristic_genes(ws.model, z, mean, n=5, **p.covariates.decode_kwargs())
    assert line.split("higher ")[1].split(";")[0].split(" · ")[0].startswith(f"{above.index[0]} ×")
    assert f"lower {below.index[0]} ×" in line


def test_the_table_per_model_is_computed_when_asked(app, ws):
    assert not app.dataframe or all("genes that rise" not in d.value.columns for d in app.dataframe)
    run(button(app, "Compute the table").click())
    table = next(d.value for d in app.dataframe if "genes that rise" in d.value.columns)
    assert list(table.index) == list(range(1, ws.model.n_latent + 1))
    assert table["follows (Pearson r)"].str.contains("bulk_labels = ").any()
    assert any(b.label == "Genes per dimension (CSV)" for b in app.get("download_button"))


def test_compare_says_when_few_nearby_cells_had_a_value(app, centres):
    app.selectbox(key="goto_column").set_value("bulk_labels")
    run(app)
    app.selectbox(key="goto_group").set_value(MONOCYTE)
    run(button(app, "Go").click())
    app = run(app.switch_page("pages/compare.py"))
    shown = [w.value for w in app.warning] + [c.value for c in app.caption]
    assert any("of the 30 cells nearest this point" in t and "phase G2M" in t for t in shown), shown
    assert any("Little support for" in w.value for w in app.warning), "the issue's case: few G2M monocytes"
