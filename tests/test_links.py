"""Shareable views: the address holds the view (same schema as ``state.json``) and reopens it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, chart, latent, move_latent, recolour, run, top_gene_counts

from scvi_viz.io import view_link
from scvi_viz.io.view_state import StateFileError, ViewState
from scvi_viz.point import Point


@pytest.fixture(scope="module")
def demo_spec():
    from scvi_viz.io.model_file import read_model_spec
    from scvi_viz.io.sources import DEMO_MODEL

    return read_model_spec(DEMO_MODEL)


def make_state(spec) -> ViewState:
    point = Point(z=tuple(0.1234567 * (i + 1) for i in range(spec.n_latent)), library_size=1234.5678, batch="S",
                  label=spec.labels[1],
                  continuous={"percent_mito": 0.0312345})
    return ViewState(model_sha256=spec.file_sha256, point=point, genes=("CD74", "LYZ"), cell_id="cell X (B)",
                     extras={"color_by": "phase", "n_top": 12, "show_table": True, "overlay_gene": None},
                     page="compare", data_key="f" * 64, source={"kind": "server", "model": "m/x", "data": "m/x/adata.h5ad"})


def test_a_view_survives_the_address_exactly(demo_spec):
    state = make_state(demo_spec)
    query = view_link.to_query(state)
    assert len("&".join(f"{k}={v}" for k, v in query.items())) < 400
    assert query["m"] == demo_spec.file_sha256[:16] and query["d"] == "f" * 16
    back, warnings = ViewState.from_dict(view_link.from_query(query), demo_spec)
    assert not warnings
    # z as the decoder takes it (float32), library size and covariates as float64: exactly.
    assert np.array(back.point.z, dtype=np.float32).tolist() == np.array(state.point.z, dtype=np.float32).tolist()
    assert back.point.library_size == 1234.5678 and back.point.continuous == {"percent_mito": 0.0312345}
    assert (back.genes, back.page, back.source, back.cell_id) == (state.genes, "compare", state.source, "cell X (B)")
    assert back.extras == {"color_by": "phase", "n_top": 12, "show_table": True}
    assert back.same_model(demo_spec)


@pytest.mark.parametrize("params", [
    {}, {"v": "1", "z": "0", "n": "1"}, {"v": "2", "n": "10"}, {"v": "2", "z": "a,b", "n": "10"},
    {"v": "2", "z": "0", "n": "10", "xj.n_top": "{not json"}, {"v": "2", "z": "0", "n": "1", "g": "A," * 3000},
])
def test_addresses_that_hold_no_view_are_refused_with_a_message(params):
    with pytest.raises(StateFileError):
        view_link.from_query(params)


def test_a_link_that_does_not_fit_the_model_is_refused_like_a_state_file(demo_spec):
    query = view_link.to_query(make_state(demo_spec))
    query["z"] = "0,0"
    with pytest.raises(StateFileError, match="latent dimensions"):
        ViewState.from_dict(view_link.from_query(query), demo_spec)
    query = view_link.to_query(make_state(demo_spec))
    query["b"] = "no such phase"
    with pytest.raises(StateFileError, match="batch"):
        ViewState.from_dict(view_link.from_query(query), demo_spec)


def open_with(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    return run(at)


def test_the_address_follows_the_view_and_reopens_it():
    at = run(AppTest.from_file(APP, default_timeout=120))
    at.multiselect(key="genes").set_value(["CD74", "GNLY"])
    run(at)
    recolour(at, "color_by", "phase")
    move_latent(at, 2)
    address = dict(at.query_params)
    assert address["g"] == "CD74,GNLY" and address["x.color_by"] == "phase" and address["src"] == "demo"
    assert np.array([float(v) for v in address["z"].split(",")], dtype=np.float32).tolist() == \
        np.array(latent(at), dtype=np.float32).tolist()  # float32-exact
    counts = top_gene_counts(at)

    other = open_with(address)
    assert other.multiselect(key="genes").value == ["CD74", "GNLY"]
    assert other.selectbox(key="color_by").value == "phase"
    assert latent(other) == pytest.approx([float(v) for v in address["z"].split(",")])
    assert "coloured by phase" in chart(other, "Cells in UMAP")["layout"]["title"]["text"]
    reopened = top_gene_counts(other)
    assert reopened.keys() == counts.keys()
    assert reopened == counts  # the same float32 point decodes to the same numbers, exactly
    assert any("shared link" in m.value for m in other.markdown)


def _read_the_address():
    import streamlit as st

    from scvi_viz.ui import views

    views.read_link()
    st.write(f"view to apply: {st.session_state.get('_link_pending') is not None}")


@pytest.mark.parametrize("history", [False, True])
def test_an_older_address_is_applied_on_back_and_forward_only(demo_spec, monkeypatch, history):
    """A rerun with an address other than the one the session last wrote: Back / Forward (a rerun
    Streamlit marks as history navigation) brings that view back; any other rerun is a move made
    before the browser took the last address (two quick moves), and the move stands."""
    from scvi_viz.ui import views

    older, written = make_state(demo_spec), make_state(demo_spec)
    written = view_link.to_query(replace(written, genes=("GNLY",)))
    monkeypatch.setattr(views, "_history_navigation", lambda: history)  # AppTest cannot press Back
    at = AppTest.from_function(_read_the_address)
    at.session_state["_link_read"] = True
    at.session_state["_link_written"] = written
    at.query_params.update(view_link.to_query(older))
    run(at)
    assert at.markdown[0].value == f"view to apply: {history}"


def test_a_link_made_with_another_model_says_so_and_shows_the_default_point():
    at = run(AppTest.from_file(APP, default_timeout=120))
    default = top_gene_counts(at)
    address = dict(at.query_params)
    address["m"] = "0123456789abcdef"
    address["z"] = ",".join("1.5" for _ in address["z"].split(","))
    other = open_with(address)
    assert any("another model" in w.value and "not applied" in w.value for w in other.warning)
    assert top_gene_counts(other) == pytest.approx(default)


def test_a_broken_address_says_so_and_the_app_opens():
    at = open_with({"v": "2", "z": "x", "n": "y"})
    assert any("holds no view" in e.value for e in at.error)
    assert any("Current point:** cell" in m.value for m in at.markdown)


def test_a_link_to_the_compare_page_brings_back_both_comparisons():
    at = run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/compare.py"))
    at.multiselect(key="cmp_point_values::phase").set_value(["S", "G1"])
    run(at)
    at.selectbox(key="cmp_group_category").set_value("CD19+ B")
    run(at)
    address = dict(at.query_params)
    assert address["page"] == "compare" and "xj.cmp_point" in address and "xj.cmp_group" in address

    other = run(open_with(address).switch_page("pages/compare.py"))
    assert other.multiselect(key="cmp_point_values::phase").value == ["S", "G1"]
    assert other.selectbox(key="cmp_group_column").value == "bulk_labels"
    assert other.selectbox(key="cmp_group_category").value == "CD19+ B"
    assert not other.warning or not any("do not fit" in w.value for w in other.warning)


def test_a_saved_map_selection_comes_back_as_those_cells():
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
    from scvi_viz.analysis.workspace import Workspace

    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")
    state = ViewState(model_sha256=ws.model.file_sha256, point=ws.cell_point(0), page="compare",
                      extras={"compare_covariate": "phase", "compare_values": ["G1", "S"], "compare_min_expression": 0.1,
                              "compare_group_cells": [str(c) for c in ws.obs.index[[3, 5, 8]]]})
    other = run(open_with(view_link.to_query(state)).switch_page("pages/compare.py"))
    assert other.radio(key="cmp_group_how").value == "cells selected on the map"
    assert any("3 cells of a saved selection" in c.value for c in other.caption)
    assert other.multiselect(key="cmp_group_values::phase").value == ["G1", "S"]


def test_a_link_to_the_trajectory_page_brings_back_its_path_and_step():
    at = run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/trajectory.py"))
    start, end = at.session_state["traj_start"], at.session_state["traj_end"]
    at.session_state["traj_kind"] = "straight"
    at.session_state["traj_step"] = 7
    run(at)
    address = dict(at.query_params)
    assert address["page"] == "trajectory" and address["x.traj_kind"] == "straight" and address["xj.traj_step"] == "7"
    other = run(open_with(address).switch_page("pages/trajectory.py"))
    assert (other.session_state["traj_start"], other.session_state["traj_end"]) == (start, end)
    assert other.session_state["traj_kind"] == "straight" and other.session_state["traj_step"] == 7


def test_a_selection_too_large_for_an_address_is_left_out_of_the_link(monkeypatch):
    from scvi_viz.io import view_link as link_module

    monkeypatch.setattr(link_module, "MAX_QUERY_CHARS", 600)
    at = run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/compare.py"))
    at = run(at.radio(key="cmp_group_how").set_value("cells selected on the map"))
    at.session_state["cmp_group_map"] = {"selection": {"points": [
        {"curve_number": 1, "point_number": i, "customdata": i} for i in range(60)]}}
    at = run(at)
    address = dict(at.query_params)
    assert link_module.query_length(address) <= 600
    assert "compare_group_cells" not in address.get("xj.cmp_group", "") and "xj.cmp_point" in address


def test_a_link_with_a_gene_the_model_lacks_says_so():
    at = run(AppTest.from_file(APP, default_timeout=120))
    address = dict(at.query_params)
    address["g"] = "CD74,CD14"  # CD14 is not among the demo model's 765 genes
    other = open_with(address)
    assert other.multiselect(key="genes").value == ["CD74"]
    assert any("not in this model" in w.value and "CD14" in w.value for w in other.warning)


def test_the_de_and_model_fit_pages_keep_their_groups_in_the_address():
    at = run(AppTest.from_file(APP, default_timeout=120))
    at = run(at.switch_page("pages/differential_expression.py"))
    first = at.selectbox(key="de_group1_category")
    run(first.set_value("CD19+ B"))
    at.selectbox(key="de_group2_category").set_value("Dendritic")
    run(at)
    at.number_input(key="de_delta").set_value(0.5)
    run(at)
    address = dict(at.query_params)
    assert address["page"] == "differential_expression"
    other = run(open_with(address).switch_page("pages/differential_expression.py"))  # AppTest does not follow page=
    assert other.selectbox(key="de_group1_category").value == "CD19+ B"
    assert other.selectbox(key="de_group2_category").value == "Dendritic"
    assert other.number_input(key="de_delta").value == 0.5
    hostile = {**address, "x.de_group1_category": "G2M"}  # a category of another column: dropped, and said
    reopened = open_with(hostile)
    assert any("de_group1_category" in w.value for w in reopened.warning)
    reopened = run(reopened.switch_page("pages/differential_expression.py"))
    assert reopened.selectbox(key="de_group1_category").value != "G2M"

    fit = run(at.switch_page("pages/model_fit.py"))
    run(fit.radio(key="fit_which").set_value("a group of cells"))
    run(fit.selectbox(key="fit_group_category").set_value("CD19+ B"))
    back = run(open_with(dict(fit.query_params)).switch_page("pages/model_fit.py"))
    assert back.radio(key="fit_which").value == "a group of cells"
    assert back.selectbox(key="fit_group_category").value == "CD19+ B"


def test_a_link_value_nested_too_deeply_is_refused_in_words(demo_spec):
    query = view_link.to_query(make_state(demo_spec))
    query["xj.color_by"] = "[" * 1500 + "]" * 1500  # fits in a link; json would recurse past Python's limit
    with pytest.raises(StateFileError, match="nested too deeply"):
        view_link.from_query(query)


def test_a_saved_z_that_is_a_string_is_refused(demo_spec):
    data = json.loads(make_state(demo_spec).to_json())
    data["point"]["z"] = "0123456789"  # ten characters: ten "numbers" if read as a sequence
    with pytest.raises(StateFileError, match="point"):
        ViewState.from_dict(data, demo_spec)
