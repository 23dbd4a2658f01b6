"""The Trajectory page under ``streamlit.testing``: its default path, state that a link or saved
view can set, the step slider and the Explore page's point, map clicks, and every kind of model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, FIXTURE_MODELS, _open_from_root, _values, chart, component_event, figures_on_page, map_point, run

from scvi_viz.analysis import trajectory as tr
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.ui import keys

PAGE = "pages/trajectory.py"
HEATMAP = "Genes along the path"
COUNTS = "Expected counts (line)"
DISTANCE = "How far each step is"
MAP = "Path from A to B"


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


@pytest.fixture
def page() -> AppTest:
    at = run(AppTest.from_file(APP, default_timeout=120))
    return run(at.switch_page(PAGE))


def state(at: AppTest) -> dict:
    return {k: at.session_state[k] for k in keys.TRAJECTORY_VIEW}


def subtitle(spec: dict) -> str:
    return spec["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")


def test_page_opens_with_a_path_between_the_two_largest_groups(page, ws):
    counts = ws.obs["bulk_labels"].value_counts()
    saved = state(page)
    assert saved[keys.TRAJECTORY_START] == {"kind": "group", "column": "bulk_labels", "category": counts.index[0]}
    assert saved[keys.TRAJECTORY_END] == {"kind": "group", "column": "bulk_labels", "category": counts.index[1]}
    assert json.loads(json.dumps(saved)) == saved, "the page's state is plain JSON"
    assert (saved[keys.TRAJECTORY_KIND], saved[keys.TRAJECTORY_STEPS], saved[keys.TRAJECTORY_STEP]) == ("graph", 50, 0)
    heat = chart(page, HEATMAP)["data"][0]
    assert heat["type"] == "heatmap" and len(heat["y"]) == 20
    for title in (HEATMAP, COUNTS, DISTANCE):
        assert f"A: bulk_labels = {counts.index[0]} (centroid)" in subtitle(chart(page, title))
        assert "library size N = " in subtitle(chart(page, title))
    names = [t["name"] for t in chart(page, MAP)["data"]]
    assert "through the cells" in names and "straight line in z" in names


def test_default_heatmap_genes_change_most_along_the_path(page, ws):
    heat = chart(page, HEATMAP)["data"][0]
    start, end = (tr.endpoint_latent(ws.latent, ws.obs, page.session_state[k]) for k in (keys.TRAJECTORY_START, keys.TRAJECTORY_END))
    z = tr.latent_path(start, end, kind="graph", n_steps=50, graph=tr.LatentGraph.build(ws.latent))
    rate = tr.decode_path(ws.model, z, point=page.session_state[keys.POINT]).rate
    spread = dict(zip(ws.model.genes, np.log(rate).max(0) - np.log(rate).min(0)))
    shown = heat["y"]
    assert min(spread[g] for g in shown) >= max(v for g, v in spread.items() if g not in shown)
    np.testing.assert_allclose(_values(heat["z"]).reshape(len(shown), -1)[0], np.log10(1 + rate[:, ws.model.genes.index(shown[0])]),
                               rtol=1e-5)


def test_state_set_from_outside_is_shown_and_decoded(page, ws):
    """A link or a saved view sets the keys of TRAJECTORY_VIEW: the page follows them."""
    cell = ws.obs.index[42]
    page.session_state[keys.TRAJECTORY_START] = {"kind": "cell", "cell": cell}
    page.session_state[keys.TRAJECTORY_KIND] = "straight"
    page.session_state[keys.TRAJECTORY_STEPS] = 20
    page.session_state[keys.TRAJECTORY_STEP] = 7
    at = run(page)
    assert at.radio(key=f"{keys.TRAJECTORY_START}_w_kind").value == "cell"
    assert at.text_input(key=f"{keys.TRAJECTORY_START}_w_cell").value == cell
    assert at.slider(key=keys.TRAJECTORY_STEP).value == 7
    distance = chart(at, DISTANCE)
    assert len(_values(distance["data"][0]["y"])) == 20
    assert f"A: cell {cell}" in subtitle(distance) and "straight line in latent space" in subtitle(distance)
    assert [s["x0"] for s in distance["layout"]["shapes"] if s["type"] == "line" and s["xref"] == "x"] == [7]


def test_an_endpoint_of_other_data_falls_back_with_a_warning(page):
    page.session_state[keys.TRAJECTORY_END] = {"kind": "cell", "cell": "not-a-cell"}
    at = run(page)
    assert any("end B could not be used" in w.value and "not-a-cell" in w.value for w in at.warning)
    assert at.session_state[keys.TRAJECTORY_END]["kind"] == "group"


def test_step_slider_moves_the_cross_and_sets_the_current_point(page):
    before = map_point(page)
    at = run(page.slider(key=keys.TRAJECTORY_STEP).set_value(12))
    assert map_point(at) != before
    assert at.session_state[keys.POINT_ORIGIN].startswith("step 12 of 49 on the path A: bulk_labels")
    assert at.session_state[keys.POINT_XY] == pytest.approx(map_point(at))
    run(at.switch_page("pages/explore.py"))
    assert any("Current point:** step 12 of 49" in m.value for m in at.markdown)


def test_the_page_keeps_its_choices_across_page_switches(page, ws):
    page.session_state[keys.TRAJECTORY_START] = {"kind": "cell", "cell": ws.obs.index[5]}
    at = run(run(page).radio(key=keys.TRAJECTORY_KIND).set_value("straight"))
    at = run(at.slider(key=keys.TRAJECTORY_STEPS).set_value(30))
    at = run(at.slider(key=keys.TRAJECTORY_STEP).set_value(9))
    at = run(at.radio(key=keys.TRAJECTORY_GENES).set_value("chosen"))
    before = state(at)
    run(at.switch_page("pages/explore.py"))
    run(at.switch_page("pages/compare.py"))
    at = run(at.switch_page(PAGE))
    assert state(at) == before
    assert at.slider(key=keys.TRAJECTORY_STEP).value == 9 and at.radio(key=keys.TRAJECTORY_KIND).value == "straight"


def test_switching_an_endpoint_to_a_cell_keeps_its_place(page, ws):
    start = page.session_state[keys.TRAJECTORY_START]
    at = run(page.radio(key=f"{keys.TRAJECTORY_START}_w_kind").set_value("cell"))
    cell = at.session_state[keys.TRAJECTORY_START]["cell"]
    assert ws.obs.loc[cell, start["column"]] == start["category"]
    other = ws.obs.index[7]
    at = run(at.text_input(key=f"{keys.TRAJECTORY_START}_w_cell").set_value(other))
    assert at.session_state[keys.TRAJECTORY_START] == {"kind": "cell", "cell": other}
    assert f"A: cell {other}" in subtitle(chart(at, HEATMAP))


def test_a_click_on_the_map_sets_the_chosen_endpoint(page, ws):
    coords = ws.embedding(ws.embedding_names()[0])
    cell = 321
    at = run(page.radio(key="traj_click_sets").set_value("end B"))
    at = component_event(at, "scvi_viz_map_point", "click",
                         {"curve_number": 1, "point_index": 0, "x": float(coords[cell, 0]), "y": float(coords[cell, 1]),
                          "customdata": cell})
    assert at.session_state[keys.TRAJECTORY_END] == {"kind": "cell", "cell": ws.obs.index[cell]}
    assert f"B: cell {ws.obs.index[cell]}" in subtitle(chart(at, MAP))
    assert f"B: cell {ws.obs.index[cell]}" in subtitle(chart(at, HEATMAP))


def test_chosen_genes_mode_charts_the_chosen_genes(page):
    at = run(page.radio(key=keys.TRAJECTORY_GENES).set_value("chosen"))
    chosen = list(at.session_state[keys.GENES])
    assert chart(at, HEATMAP)["data"][0]["y"] == chosen[:40]
    lines = [t["name"] for t in chart(at, COUNTS)["data"] if t["name"].endswith("expected counts")]
    assert lines == [f"{g} expected counts" for g in chosen[:6]]


def test_steps_off_the_data_are_flagged_on_every_chart(page, monkeypatch):
    assert not any(tr.OFF_DATA_TEXT in w.value for w in page.warning), "on the demo every step is near a cell"
    distance = _values(chart(page, DISTANCE)["data"][0]["y"])
    # A stricter threshold puts the steps between the cells off the data.
    ratio = float(np.median(distance))
    monkeypatch.setattr(tr, "OFF_DATA_RATIO", ratio)
    at = run(page)
    n_off = int((distance > ratio).sum())
    assert any(f"{n_off} of 50 steps are {tr.OFF_DATA_TEXT}" in w.value for w in at.warning)
    for title in (HEATMAP, COUNTS, DISTANCE):
        spec = chart(at, title)
        assert tr.OFF_DATA_TEXT in subtitle(spec), title
        shaded = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"]
        assert shaded, title
    marked = next(t for t in chart(at, MAP)["data"] if t["name"] == "off the data")
    assert len(_values(marked["x"])) == n_off


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_trajectory_page_runs_on_each_kind_of_model(name, monkeypatch, tmp_path):
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(Path(__file__).parent / "fixtures"))
    monkeypatch.setenv("SCVI_VIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = run(_open_from_root(f"models/{name}", "adata.h5ad").switch_page(PAGE))
    assert not at.error, [e.value for e in at.error]
    titles = [spec["layout"]["title"]["text"] for spec in figures_on_page(at)]
    assert len(titles) == 5 and titles[0].startswith("Cells in"), titles  # the selection map, then the four charts
    band = [t for t in chart(at, COUNTS)["data"] if t["name"].endswith("90% interval")]
    assert band and all(np.all(np.isfinite(_values(t["y"]))) for t in band)


def test_cells_selected_on_the_map_become_an_endpoint():
    at = run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/trajectory.py"))
    ids = [str(i) for i in at.session_state["_workspace"].obs.index[[5, 9, 14, 20]]]
    at.session_state["traj_select_map"] = {"selection": {"points": [
        {"curve_number": 1, "point_number": n, "customdata": i} for n, i in enumerate([5, 9, 14, 20])]}}
    at = run(at)
    button = next(b for b in at.button if b.label.startswith("Use the 4 selected cells as start A"))
    at = run(button.click())
    assert at.session_state["traj_start"] == {"kind": "cells", "cells": ids}
    assert any("4 cells selected on the map (centroid)" in m.value for m in at.markdown)
    ws = at.session_state["_workspace"]
    np.testing.assert_allclose(tr.endpoint_latent(ws.latent, ws.obs, at.session_state["traj_start"]),
                               ws.latent[[5, 9, 14, 20]].astype(np.float64).mean(axis=0))
    at = run(at.radio(key="traj_start_w_kind").set_value("cell"))  # back to one cell: the selection's first
    assert at.session_state["traj_start"] == {"kind": "cell", "cell": ids[0]}
