"""The Compare page under ``streamlit.testing`` on the demo: every value against the reference,
continuous values by name, the ranking's minimum expression, and what the report bundle records."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from scvi_viz.ui import downloads
from test_app import APP, _values, figures_on_page, run

RAW_FLOAT = re.compile(r"\d\.\d{6,}")
"""A float printed with all its digits (0.023972257412970068): never shown."""


@pytest.fixture
def compare_page() -> AppTest:
    return run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/compare.py"))


def point_charts(at: AppTest) -> tuple[dict, dict]:
    """The current point's scatter and fold-change chart (the group's come after them)."""
    specs = figures_on_page(at)
    scatter = next(s for s in specs if s["layout"]["title"]["text"].endswith("under each value"))
    lfc = next(s for s in specs if "log2 fold change" in s["layout"]["title"]["text"])
    return scatter, lfc


def texts(spec: dict) -> list[str]:
    """Every text of a chart a person reads: title, subtitle, axis titles, legend entries."""
    layout = spec["layout"]
    out = [layout["title"]["text"], layout["title"].get("subtitle", {}).get("text", "")]
    out += [layout[a]["title"]["text"] for a in ("xaxis", "yaxis") if "title" in layout.get(a, {})]
    return out + [t.get("name", "") for t in spec["data"]]


def test_three_values_each_against_the_reference(compare_page):
    at = compare_page
    assert at.multiselect(key="cmp_point_values::phase").value == ["G1", "G2M", "S"]
    table = at.dataframe[0].value
    assert [c for c in table.columns if c.startswith("log2FC")] == [
        "log2FC [phase = G2M vs phase = G1]", "log2FC [phase = S vs phase = G1]"]
    scatter, lfc = point_charts(at)
    assert [t["name"] for t in scatter["data"]] == ["identity (no change)", "phase = G2M", "phase = S"]
    assert sorted(t["name"] for t in lfc["data"]) == ["phase = G2M", "phase = S"]
    top = table[table["ranked"]].head(20)
    for trace in lfc["data"]:
        assert list(trace["y"]) == list(top.index)[::-1]
        np.testing.assert_allclose(_values(trace["x"]), top[f"log2FC [{trace['name']} vs phase = G1]"].to_numpy()[::-1])
    for spec in (scatter, lfc):
        assert "phase = G2M, phase = S vs phase = G1" in spec["layout"]["title"]["subtitle"]["text"].replace("\u00a0", " ")
    assert any("sorted by largest |log2FC| over the values" in c.value for c in at.caption)


def test_continuous_values_are_named_with_three_digits(compare_page):
    at = run(compare_page.selectbox(key="cmp_point_covariate").set_value("percent_mito"))
    a, b = at.number_input(key="cmp_point_a::percent_mito").value, at.number_input(key="cmp_point_b::percent_mito").value
    assert (a, b) == (0.0118, 0.024)  # the 10th and 90th percentiles of the cells, to three digits
    table = at.dataframe[0].value
    assert {"scale [percent_mito = 0.0118]", "rate [percent_mito = 0.024]",
            "log2FC [percent_mito = 0.024 vs percent_mito = 0.0118]"} <= set(table.columns)
    scatter, lfc = point_charts(at)
    run(at.radio(key="cmp_point_unit").set_value("expected counts"))
    scatter_counts, _ = point_charts(at)
    assert scatter_counts["layout"]["xaxis"]["title"]["text"] == "expected counts at percent_mito = 0.0118 (reference)"
    assert scatter_counts["layout"]["yaxis"]["title"]["text"] == "expected counts at percent_mito = 0.024"
    for spec in (scatter, lfc, scatter_counts):
        shown = " ".join(texts(spec)).replace("\u00a0", " ")
        assert "percent_mito = 0.024" in shown and not RAW_FLOAT.search(shown), shown
    assert not any(RAW_FLOAT.search(c) for c in table.columns)


def test_minimum_expression_for_the_ranking(compare_page):
    at = compare_page
    assert at.toggle(key="cmp_point_min_on").value is True
    table = at.dataframe[0].value
    rates = table[[c for c in table.columns if c.startswith("rate [")]].max(axis=1)
    _, lfc = point_charts(at)
    shown = list(lfc["data"][0]["y"])
    assert (rates.loc[shown] >= 0.1).all()
    assert "≥ 0.1 expected counts at library size 628" in lfc["layout"]["title"]["subtitle"]["text"]
    assert len(table) == 765 and (~table["ranked"]).sum() > 0  # the table keeps every gene

    at = run(at.number_input(key="cmp_point_min_counts").set_value(1.0))
    _, lfc = point_charts(at)
    assert (rates.loc[list(lfc["data"][0]["y"])] >= 1.0).all()
    assert "≥ 1 expected counts" in lfc["layout"]["title"]["subtitle"]["text"]

    at = run(at.number_input(key="cmp_point_min_counts").set_value(1e6))
    assert any("No gene is expected at 1e+06 counts or more" in w.value for w in at.warning)
    at = run(at.number_input(key="cmp_point_min_counts").set_value(1.0))

    at = run(at.toggle(key="cmp_point_min_on").set_value(False))
    _, lfc = point_charts(at)
    assert (rates.loc[list(lfc["data"][0]["y"])] < 0.1).any()  # lowly expressed genes come back
    assert "all 765 genes" in lfc["layout"]["title"]["subtitle"]["text"]
    assert at.dataframe[0].value["ranked"].all()


def test_report_bundle_records_covariate_values_and_group(monkeypatch):
    states: dict[str, dict] = {}
    real = downloads.current_view

    def recording(ws, *, page, extras=None):
        state = real(ws, page=page, extras=extras)
        recorded = json.loads(state.to_json())
        # A bundle also records what the page's other section shows (under its section's name).
        recorded["extras"] = {k: v for k, v in recorded["extras"].items() if k not in ("cmp_point", "cmp_group")}
        states["group" if "compare_group_column" in (extras or {}) or "compare_group_cells" in (extras or {})
               else "point"] = recorded
        return state

    monkeypatch.setattr(downloads, "current_view", recording)
    at = run(run(AppTest.from_file(APP, default_timeout=120)).switch_page("pages/compare.py"))
    assert states["point"]["extras"] == {"compare_covariate": "phase", "compare_values": ["G1", "G2M", "S"],
                                         "compare_min_expression": 0.1}
    assert states["group"]["extras"] == {"compare_covariate": "phase", "compare_values": ["G1", "G2M", "S"],
                                         "compare_min_expression": 0.1, "compare_group_column": "bulk_labels",
                                         "compare_group_category": "CD14+ Monocyte"}
    # Cells selected on the map: their ids.
    at = run(at.radio(key="cmp_group_how").set_value("cells selected on the map"))
    at.session_state["cmp_group_map"] = {"selection": {"points": [
        {"curve_number": 1, "point_number": 0, "customdata": 4}, {"curve_number": 2, "point_number": 3, "customdata": 17}]}}
    at = run(at)
    extras = states["group"]["extras"]
    assert extras["compare_group_cells"] == [str(at.session_state["_workspace"].obs.index[i]) for i in (4, 17)]
    assert "compare_group_column" not in extras


def test_lasso_map_says_what_it_shows(compare_page):
    at = run(compare_page.radio(key="cmp_group_how").set_value("cells selected on the map"))
    spec = next(s for s in figures_on_page(at) if s["layout"]["title"]["text"].startswith("Cells in"))
    assert "×" not in spec["layout"]["title"]["subtitle"]["text"]
    assert "current point" not in spec["layout"]["title"]["subtitle"]["text"]
    assert spec["layout"]["title"]["subtitle"]["text"] == "700 cells · SCVI model in model/"


def test_a_drawn_box_selects_every_cell_inside_it(compare_page, monkeypatch):
    recorded: dict = {}
    real = downloads.current_view

    def recording(ws, *, page, extras=None):
        if extras and "compare_group_cells" in extras:
            recorded["cells"] = extras["compare_group_cells"]
        return real(ws, page=page, extras=extras)

    monkeypatch.setattr(downloads, "current_view", recording)
    at = run(compare_page.radio(key="cmp_group_how").set_value("cells selected on the map"))
    ws = at.session_state["_workspace"]
    coords = ws.embedding(ws.embedding_names()[0])
    x0, x1 = np.percentile(coords[:, 0], [20, 60])
    y0, y1 = np.percentile(coords[:, 1], [10, 90])
    inside = np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1))
    # The shape counts, not the points the browser reports (a large map draws only a sample of its cells).
    at.session_state["cmp_group_map"] = {"selection": {"points": [{"curve_number": 1, "point_number": 0, "customdata": 4}],
                                                       "box": [{"x": [float(x1), float(x0)], "y": [float(y0), float(y1)]}],
                                                       "lasso": []}}
    run(at)
    assert 50 < len(inside) < 650
    assert recorded["cells"] == [str(c) for c in ws.obs.index[inside]]
