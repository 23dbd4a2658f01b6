"""Paths through latent space (scvi_viz.analysis.trajectory) and their figures (scvi_viz.plots.trajectory)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scvi_viz.analysis import trajectory as tr
from scvi_viz.analysis.distributions import predictive_interval
from scvi_viz.analysis.profiles import gene_profile
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DecodeInputError
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.plots import trajectory as figs
from scvi_viz.plots.style import TITLE_SIZE, label_margin, text_width


def arc(n: int = 200, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Cells along a half circle of radius 10 in 3-D: the straight line between its ends leaves them."""
    t = np.linspace(0, np.pi, n)
    points = np.stack([10 * np.cos(t), 10 * np.sin(t), np.zeros(n)], axis=1)
    return points + noise * np.random.default_rng(seed).normal(size=points.shape)


@pytest.fixture(scope="module")
def graph() -> tr.LatentGraph:
    return tr.LatentGraph.build(arc())


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


# ------------------------------------------------------------------------------------ paths
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=3, max_size=3), st.lists(st.floats(-50, 50), min_size=3, max_size=3),
       st.integers(2, 120))
def test_straight_path_runs_evenly_from_start_to_end(a, b, n):
    path = tr.latent_path(np.array(a), np.array(b), kind="straight", n_steps=n)
    assert path.shape == (n, 3)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b, atol=1e-9)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    np.testing.assert_allclose(steps, np.linalg.norm(np.subtract(b, a)) / (n - 1), atol=1e-9)


def test_graph_path_stays_on_the_data_where_the_straight_line_leaves_it(graph):
    cells = graph.latent
    straight = tr.latent_path(cells[0], cells[-1], kind="straight", n_steps=50)
    through = tr.latent_path(cells[0], cells[-1], kind="graph", n_steps=50, graph=graph)
    np.testing.assert_allclose(through[[0, -1]], cells[[0, -1]])
    # The line's middle passes the circle's centre, 10 away from every cell.
    assert tr.off_data(graph.distance_to_data(straight))[20:30].all()
    assert not tr.off_data(graph.distance_to_data(through)).any()
    assert np.linalg.norm(through, axis=1) == pytest.approx(10, abs=0.1)  # chords between neighbours
    # Evenly spaced along the arc (length 10 pi).
    steps = np.linalg.norm(np.diff(through, axis=0), axis=1)
    assert steps == pytest.approx(10 * np.pi / 49, rel=0.01)


def test_graph_path_starts_and_ends_at_points_off_the_cells(graph):
    start, end = np.array([12.0, 0.0, 1.0]), np.array([-12.0, 0.0, -1.0])
    path = tr.latent_path(start, end, kind="graph", n_steps=30, graph=graph)
    np.testing.assert_allclose(path[[0, -1]], [start, end])


def test_cell_path_follows_neighbours(graph):
    cells = graph.cell_path(0, 199)
    assert cells[0] == 0 and cells[-1] == 199
    assert np.all(np.diff(cells) > 0), "along the arc, each cell is followed by one farther along it"


def test_disconnected_cells_have_no_graph_path():
    two = np.vstack([arc(40), arc(40) + 1000])
    g = tr.LatentGraph.build(two, n_neighbors=5)
    with pytest.raises(tr.TrajectoryError, match="straight line"):
        tr.latent_path(two[0], two[-1], kind="graph", graph=g)
    assert len(tr.latent_path(two[0], two[-1], kind="straight", n_steps=5)) == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "graph"}, "needs their kNN graph"),
    ({"kind": "wiggly"}, "not 'wiggly'"),
    ({"n_steps": 1}, "n_steps .* from 2 to"),
])
def test_bad_path_requests_say_what_is_wrong(kwargs, message):
    with pytest.raises(DecodeInputError, match=message):  # TrajectoryError is one
        tr.latent_path(np.zeros(2), np.ones(2), **kwargs)


def test_typical_distance_and_relative_distance(graph):
    spacing = 10 * np.pi / 199
    assert graph.typical_distance == pytest.approx(spacing, rel=1e-3)
    assert graph.distance_to_data(graph.latent[:5]) == pytest.approx(0)
    assert graph.distance_to_data(np.array([[0.0, 0.0, 0.0]]))[0] == pytest.approx(10 / spacing, rel=1e-3)


def test_resample_is_even_by_length():
    out = tr.resample(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]]), 5)
    np.testing.assert_allclose(out, [[0, 0], [1, 0], [1, 1], [1, 2], [1, 3]])
    assert tr.resample(np.zeros((3, 2)), 4).shape == (4, 2)


# -------------------------------------------------------------------------------- endpoints
OBS = pd.DataFrame({"type": ["a", "b", "b", "c", "b", "c"], "score": np.arange(6.0), "phase": list("xyxyxy")},
                   index=[f"cell{i}" for i in range(6)])


def test_endpoints_are_cells_or_group_centroids():
    latent = np.arange(12.0).reshape(6, 2)
    np.testing.assert_allclose(tr.endpoint_latent(latent, OBS, {"kind": "cell", "cell": "cell3"}), latent[3])
    np.testing.assert_allclose(tr.endpoint_latent(latent, OBS, {"kind": "group", "column": "type", "category": "b"}),
                               latent[[1, 2, 4]].mean(0))


@pytest.mark.parametrize("endpoint, message", [
    ({"kind": "cell", "cell": "nope"}, "No cell 'nope'"),
    ({"kind": "group", "column": "nope", "category": "a"}, "No obs column 'nope'"),
    ({"kind": "group", "column": "type", "category": "z"}, "No cell has type = 'z'"),
    ({"kind": "selection"}, "not 'selection'"),
])
def test_unknown_endpoints_say_what_to_do(endpoint, message):
    with pytest.raises(tr.TrajectoryError, match=message):
        tr.endpoint_cells(OBS, endpoint)


def test_default_endpoints_are_the_two_largest_groups():
    assert tr.group_columns(OBS) == ["type", "phase"]
    start, end = tr.default_endpoints(OBS, labels_key="type")
    assert (start["category"], end["category"]) == ("b", "c") and start["column"] == "type"
    assert tr.default_endpoints(OBS, labels_key=None)[0]["column"] == "type"
    assert tr.default_endpoints(OBS, labels_key="phase")[0]["column"] == "phase"
    only_numbers = OBS[["score"]]
    assert tr.default_endpoints(only_numbers) == ({"kind": "cell", "cell": "cell0"}, {"kind": "cell", "cell": "cell5"})


def test_describe_endpoint():
    assert tr.describe_endpoint({"kind": "cell", "cell": "AAAC"}) == "cell AAAC"
    assert tr.describe_endpoint({"kind": "group", "column": "type", "category": "b"}) == "type = b (centroid)"


# ------------------------------------------------------------------------------- decoding
def test_decode_path_matches_decoding_each_step_alone(ws):
    here = ws.cell_point(3)
    path = tr.latent_path(ws.latent[0], ws.latent[500], n_steps=7)
    decoded = tr.decode_path(ws.model, path, point=here)
    assert decoded.rate.shape == (7, ws.model.n_genes) and decoded.library_size == here.library_size
    from dataclasses import replace

    for step in (0, 3, 6):
        profile = gene_profile(ws.model, replace(here, z=tuple(path[step])))
        np.testing.assert_allclose(decoded.rate[step], profile["rate"], rtol=1e-5)
        genes = ["CD74", "LYZ", "MS4A1"]
        low, high = decoded.interval(genes)
        np.testing.assert_array_equal(low[step], profile.loc[genes, "interval_low"])
        np.testing.assert_array_equal(high[step], profile.loc[genes, "interval_high"])


def test_decode_path_scales_with_the_library_size(ws):
    from dataclasses import replace

    here = ws.cell_point(0)
    path = tr.latent_path(ws.latent[0], ws.latent[1], n_steps=3)
    one = tr.decode_path(ws.model, path, point=here)
    two = tr.decode_path(ws.model, path, point=replace(here, library_size=2 * here.library_size))
    np.testing.assert_allclose(two.rate, 2 * one.rate, rtol=1e-5)


def test_changing_genes_rank_by_range_of_log_expression():
    rate = np.array([[1.0, 100.0, 1.0], [2.0, 150.0, 8.0], [4.0, 120.0, 1.0]])
    decoded = tr.PathDecoded(np.zeros((3, 2)), ["flat_high", "up4", "peak8"], rate[:, [1, 0, 2]], None, None, 1e4)
    assert decoded.changing_genes(3) == ["peak8", "up4", "flat_high"]
    low, high = decoded.interval(["up4"])
    expected = predictive_interval(rate[:, [0]], None, None)
    np.testing.assert_array_equal(low, expected[0])
    np.testing.assert_array_equal(high, expected[1])


# -------------------------------------------------------------------------------- figures
def _one_line_title(fig) -> bool:
    return "<br>" not in fig.layout.title.text and text_width(fig.layout.title.text, TITLE_SIZE) < figs.MIN_WIDTH - 24


def test_heatmap_marks_off_data_steps_and_the_current_step():
    off = np.zeros(20, dtype=bool)
    off[5:8] = True
    off[15] = True
    genes = ["A_VERY_LONG_GENE_NAME-AS1", "CD74"]
    fig = figs.heatmap_figure(np.random.default_rng(0).random((2, 20)), genes, off=off, step=9, unit="log10(1 + counts)",
                              title="Genes along the path", subtitle="A → B")
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(4.5, 7.5), (14.5, 15.5)]
    assert [s.x0 for s in fig.layout.shapes if s.type == "line"] == [9]
    assert tr.OFF_DATA_TEXT in fig.layout.title.subtitle.text.replace("<br>", " ")
    assert fig.layout.margin.l >= label_margin(genes) and _one_line_title(fig)
    assert fig.layout.xaxis.title.text == "step along the path (0 = start A, 19 = end B)"


def test_no_off_data_note_when_every_step_is_on_the_data():
    fig = figs.distance_figure(np.full(10, 0.5), off=np.zeros(10, dtype=bool), step=None, ratio=2.0, title="How far")
    assert tr.OFF_DATA_TEXT not in fig.layout.title.subtitle.text and "dashed red line: 2 ×" in fig.layout.title.subtitle.text
    assert not [s for s in fig.layout.shapes if s.type == "rect"]
    assert [s.y0 for s in fig.layout.shapes if s.type == "line"] == [2.0], "the threshold line"


def test_counts_figure_has_one_panel_per_gene_stacked_without_overlap():
    n, genes = 12, ["CD74", "LYZ", "MS4A1"]
    rate = np.linspace(1, 20, n * 3).reshape(n, 3)
    fig = figs.counts_figure(rate, rate * 0.5, rate * 2, genes, off=np.arange(n) > 9, step=2,
                             counts_unit="expected counts at library size N = 1,000", title="Expected counts")
    domains = [fig.layout[f"yaxis{'' if k == 0 else k + 1}"].domain for k in range(3)]
    assert all(lower[1] < upper[0] for upper, lower in zip(domains, domains[1:])), domains
    assert len(fig.data) == 9 and {t.name for t in fig.data if t.fill == "tonexty"} == {f"{g} 90% interval" for g in genes}
    assert [a.text.split(" · ")[0] for a in fig.layout.annotations] == [f"<b>{g}</b>" for g in genes]
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 3, "the current step on each panel"


def test_path_charts_name_units_and_export_numbers(ws):
    path = tr.latent_path(ws.latent[0], ws.latent[500], n_steps=10)
    decoded = tr.decode_path(ws.model, path, point=ws.cell_point(0))
    genes = decoded.changing_genes(8)
    off = np.zeros(10, dtype=bool)
    charts = figs.path_charts(decoded, genes, relative_distance=np.ones(10), off=off, step=4, ratio=2.0,
                              size_factor=False, gene_note="the 8 genes that change most", subtitle="A → B",
                              caption={"path": "A → B"})
    assert list(charts.heatmap.table.columns) == genes and len(charts.heatmap.table) == 10
    np.testing.assert_allclose(charts.heatmap.table.to_numpy(), decoded.rate[:, decoded.columns(genes)])
    assert charts.counts.table.index.get_level_values("gene").unique().tolist() == genes[:figs.LINE_GENES]
    assert "library size N = " in charts.heatmap.figure.layout.title.subtitle.text
    assert all(_one_line_title(c.figure) for c in charts.named().values())
    assert charts.distance.caption["path"] == "A → B"


def test_an_endpoint_of_selected_cells_is_their_centroid_and_says_how_many():
    obs = pd.DataFrame(index=[f"c{i}" for i in range(6)])
    latent = np.arange(12, dtype=np.float32).reshape(6, 2)
    endpoint = {"kind": "cells", "cells": ["c1", "c4", "not-a-cell"]}
    np.testing.assert_array_equal(tr.endpoint_cells(obs, endpoint), [1, 4])
    np.testing.assert_allclose(tr.endpoint_latent(latent, obs, endpoint), latent[[1, 4]].mean(axis=0))
    assert tr.describe_endpoint(endpoint) == "3 cells selected on the map (centroid)"
    with pytest.raises(tr.TrajectoryError, match="box or lasso"):
        tr.endpoint_cells(obs, {"kind": "cells", "cells": ["nope"]})


def test_graph_of_many_cells_is_built_on_a_stated_sample():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(500, 3))
    graph = tr.LatentGraph.build(latent, max_cells=100)
    assert graph.cells is not None and len(graph.cells) == 100 and np.all(np.diff(graph.cells) > 0)
    np.testing.assert_array_equal(graph.latent, latent[graph.cells])
    path = tr.latent_path(latent[0], latent[1], kind="graph", n_steps=20, graph=graph)
    np.testing.assert_allclose(path[[0, -1]], latent[[0, 1]])
    assert tr.LatentGraph.build(latent[:100], max_cells=100).cells is None
