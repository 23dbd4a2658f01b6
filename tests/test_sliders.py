"""Sliders as directions in latent space, their traversal, and gene sets (analysis, no Streamlit)."""

from __future__ import annotations

import numpy as np
import pytest

from scvi_viz.analysis import genes as genes_mod
from scvi_viz.analysis import sliders as sl
from scvi_viz.analysis.directions import expression_unit, group_centroids
from scvi_viz.analysis.gene_sets import MAX_SETS, format_gene_sets, parse_gene_sets, valid_gene_sets
from scvi_viz.analysis.walk import DataDistance
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.errors import DecodeInputError
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(str(DEMO_MODEL), str(DEMO_DATA))


def test_dimension_sliders_set_one_coordinate_exactly():
    rows = sl.dimension_rows(np.array([[-1.0, 1.0], [-2.0, 2.0], [0.0, 3.0]]))
    z = np.array([0.1, 0.2, 0.3])
    assert [r.value(z) for r in rows] == [0.1, 0.2, 0.3]
    moved = rows[1].moved(z, 0.7)
    assert moved.tolist() == [0.1, 0.7, 0.3]  # exactly: the others unchanged, the moved one the value itself
    assert (rows[2].low, rows[2].high) == (0.0, 3.0) and rows[2].to_browser()["axis"] == 2


def test_principal_axis_sliders_turn_the_space(ws):
    rows = sl.axis_rows(ws.latent)
    vectors = sl.slider_vectors(rows)
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(ws.model.n_latent), atol=1e-10)
    z = ws.latent[5].astype(np.float64)
    coords = np.array([r.value(z) for r in rows])
    np.testing.assert_allclose(rows[0].anchor + coords @ vectors, z, atol=1e-10)  # coordinates give the point back
    moved = rows[0].moved(z, coords[0] + 1.0)
    assert rows[0].value(moved) == pytest.approx(coords[0] + 1.0, abs=1e-12)
    np.testing.assert_allclose([r.value(moved) for r in rows[1:]], coords[1:], atol=1e-10)  # the others stay
    spans = [r.high - r.low for r in rows]
    assert spans[0] >= spans[-1] and "% of variance" in rows[0].label
    projected = (ws.latent.astype(np.float64) - rows[0].anchor) @ vectors[0]
    assert rows[0].low < projected.min() and rows[0].high > projected.max()


def test_a_slider_toward_a_target_reaches_it_exactly(ws):
    centres = group_centroids(ws.latent, ws.obs["bulk_labels"])
    start = ws.latent[0].astype(np.float64)
    row = sl.line_row("toward CD14+ Monocyte", start, centres["CD14+ Monocyte"], help="")
    assert row.value(start) == 0.0
    at_one = row.moved(start, 1.0)
    assert np.array_equal(at_one, centres["CD14+ Monocyte"])  # to the last bit
    assert row.value(at_one) == pytest.approx(1.0, abs=1e-12)
    for t0 in np.random.default_rng(0).uniform(*sl.LINE_RANGE, 200):  # from wherever on the line a hand stopped
        assert np.array_equal(row.moved(row.moved(start, t0), 1.0), centres["CD14+ Monocyte"])
    half = row.moved(start, 0.5)
    np.testing.assert_allclose(half, (start + centres["CD14+ Monocyte"]) / 2, atol=1e-12)
    off_line = start + 0.1 * np.eye(ws.model.n_latent)[0]
    shifted = row.moved(off_line, 1.0)  # a point beside the line keeps its offset from the line
    t0 = row.value(off_line)
    beside = off_line - ((1 - t0) * start + t0 * centres["CD14+ Monocyte"])
    assert abs(beside @ row.vector) < 1e-9
    np.testing.assert_allclose(shifted - centres["CD14+ Monocyte"], beside, atol=1e-12)
    with pytest.raises(DecodeInputError, match="already at the target"):
        sl.line_row("toward here", start, start, help="")


def test_traversal_decodes_the_slider_range_and_names_the_genes_that_change(ws):
    rows = sl.dimension_rows(ws.latent_ranges())
    z = ws.latent[3].astype(np.float64)
    distance = DataDistance.build(ws.latent)
    kwargs = ws.covariates.rows(np.array([3])).decode_kwargs()
    traversal = sl.traverse(ws.model, rows[1], z, distance=distance, n_genes=5, steps=11, **kwargs)
    assert traversal.values[0] == rows[1].low and traversal.values[-1] == rows[1].high and len(traversal.values) == 11
    assert traversal.current == z[1] and traversal.expression.shape == (11, 5)
    factor, _ = expression_unit(ws.model)
    points = np.stack([rows[1].moved(z, v) for v in traversal.values])
    decoded = ws.model.decode(points, **kwargs).scale.numpy().astype(np.float64) * factor
    idx = ws.model.gene_indices(list(traversal.expression.columns))
    np.testing.assert_allclose(traversal.expression.to_numpy(), decoded[:, idx], rtol=1e-6)
    # the charted genes change (in log2) at least as much as any other expressed gene
    log = np.log2(np.maximum(decoded, 1e-300))
    change = np.where(decoded.max(0) >= 1.0, log.max(0) - log.min(0), -np.inf)
    assert change[idx].min() >= np.sort(change)[-5] - 1e-9
    np.testing.assert_allclose(traversal.ratio, [distance.ratio(p) for p in points])
    with pytest.raises(DecodeInputError):
        sl.traverse(ws.model, rows[0], z, distance=distance, steps=1)


def test_gene_sets_are_parsed_against_the_model():
    genes = ["LYZ", "S100A8", "CD3E", "IL7R"]
    sets, notes = parse_gene_sets("monocyte: lyz, S100A8 NOPE\nT cell: CD3E;IL7R\n\nempty: NOPE2\nmonocyte: CD3E", genes)
    assert sets == {"monocyte": ["LYZ", "S100A8"], "T cell": ["CD3E", "IL7R"]}
    assert any("NOPE" in n for n in notes) and any("none of the model's genes" in n for n in notes)
    assert any("second set named" in n for n in notes)
    assert parse_gene_sets(format_gene_sets(sets), genes)[0] == sets
    assert parse_gene_sets("LYZ CD3E", genes)[0] == {"set 1": ["LYZ", "CD3E"]}
    many, notes = parse_gene_sets("\n".join(f"s{i}: LYZ" for i in range(MAX_SETS + 3)), genes)
    assert len(many) == MAX_SETS and any(f"first {MAX_SETS}" in n for n in notes)
    assert valid_gene_sets(sets, genes)
    for bad in ({"a": ["NOPE"]}, {"a": []}, {"a:b": ["LYZ"]}, ["LYZ"], {"a": "LYZ"}, {1: ["LYZ"]}):
        assert not valid_gene_sets(bad, genes), bad


def test_a_gene_set_colours_cells_by_its_genes_mean(ws):
    members = ["LYZ", "S100A8", "CD3E"]
    basis = genes_mod.overlay_basis(ws)
    expected = np.mean([genes_mod.gene_overlay(ws, g, basis) for g in members], axis=0)
    np.testing.assert_allclose(genes_mod.gene_set_overlay(ws, members, basis), expected, rtol=1e-5)
