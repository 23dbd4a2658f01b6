"""The Streamlit app under ``streamlit.testing``: every page on the demo, widgets, bad input."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from scvi_viz.arrays import unpack_arrays
from scvi_viz.io import sources
from scvi_viz.plots.cell_map import MapBase, MapColour, assemble_map
from scvi_viz.plots.style import build_figure
from scvi_viz.ui.components import live_map
from scvi_viz.ui.cache import GENE_COLOUR

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
REFUSED = Path(__file__).parent / "fixtures" / "refused"
LATENT_SLIDERS = "scvi_viz_latent_walk"


def _values(array) -> np.ndarray:
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def live_map_spec(at: AppTest) -> dict | None:
    """The Explore map as ``live_map.js`` draws it, from the cells and colouring messages Python sent."""
    messages = [unpack_arrays(e.proto.bytes) for e in at.get("bidi_component")
                if e.proto.component_name == "scvi_viz_live_map"]
    cells = {h["key"]: (h, a) for h, a in messages if h["format"] == live_map.CELLS_FORMAT}
    colour = next(((h, a) for h, a in messages if h["format"] == live_map.COLOUR_FORMAT), None)
    if colour is None:
        return None
    (ch, ca), (h, a) = cells[colour[0]["cells"]], colour
    base = MapBase(ca["grid_x"], ca["grid_y"], ca["x"], ca["y"], ca["index"], ch["hover"], ch["cell_size"])
    traces, layout = assemble_map(base, MapColour(h["kind"], h["name"], a.get("codes"), h["categories"], a.get("values"),
                                                  h["layout"], h["colorbar_title"], h["low"], h["high"]))
    return json.loads(build_figure(traces, layout).to_json())


def figures_on_page(at: AppTest) -> list[dict]:
    """The plotly specs of every chart: ``st.plotly_chart``, scvi-viz's live charts and its live map."""
    specs = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    for element in at.get("bidi_component"):
        if element.proto.component_name == "scvi_viz_live_chart":
            specs.append(json.loads(json.loads(element.proto.json)["figure"]))
    if (the_map := live_map_spec(at)) is not None:
        specs.append(the_map)
    return specs


def chart(at: AppTest, title_part: str) -> dict:
    """The plotly spec of the chart whose title contains ``title_part``."""
    for spec in figures_on_page(at):
        if title_part in spec["layout"].get("title", {}).get("text", ""):
            return spec
    raise AssertionError(f"no chart titled like {title_part!r}")


def map_point(at: AppTest) -> tuple[float, float]:
    """Where the map's current-point cross is drawn."""
    element = next(e for e in at.get("bidi_component") if e.proto.component_name == "scvi_viz_map_point")
    return tuple(json.loads(element.proto.json)["point"])


def component_data(at: AppTest, name: str) -> dict:
    """The data Python sent to the scvi-viz component ``name`` (e.g. "scvi_viz_latent_walk")."""
    element = next(e for e in at.get("bidi_component") if e.proto.component_name == name)
    return json.loads(element.proto.json)


def component_event(at: AppTest, name: str, event: str, value) -> AppTest:
    """Rerun as after the component ``name`` sent ``event`` (its trigger value) from the browser.

    AppTest has no API for component events: this sends the widget state that Streamlit's
    frontend sends, the component's trigger aggregator ``$$STREAMLIT_INTERNAL_KEY_{id}__events``.
    """
    from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX

    element = next(e for e in at.get("bidi_component") if e.proto.component_name == name)
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{element.proto.id}__events"
    state.json_trigger_value = json.dumps([{"event": event, "value": value}])
    at = at._run(states)
    assert not at.exception, [e.message for e in at.exception]
    return at


def latent(at: AppTest) -> list[float]:
    """The latent vector the latent sliders show."""
    return component_data(at, LATENT_SLIDERS)["z"]


def move_latent(at: AppTest, dim: int, to: str = "max") -> AppTest:
    """Move one latent slider to the end of its range ("min" or "max"), as a finished drag does."""
    data = component_data(at, LATENT_SLIDERS)
    z = list(data["z"])
    lo, hi = data["rows"][dim]["range"]
    z[dim] = hi if to == "max" else lo
    return component_event(at, LATENT_SLIDERS, "moved", {"z": z, "move": data["move"] + 1})


def point_chart(at: AppTest) -> dict:
    return chart(at, "Decoded at the current point")


def trace(spec: dict, type_: str, name: str) -> dict:
    return next(t for t in spec["data"] if t["type"] == type_ and t.get("name") == name)


def top_gene_counts(at: AppTest) -> dict[str, float]:
    bars = trace(point_chart(at), "bar", "expected counts")
    return dict(zip(bars["y"], _values(bars["x"]).tolist()))


def run(target) -> AppTest:
    """Run an AppTest, or the AppTest of a widget whose value was just set; no exceptions allowed."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


def recolour(at: AppTest, key: str, value: str) -> AppTest:
    """Choose how the map is coloured (selectbox ``key``), then run the whole page.

    A new colouring reruns the map's and the downloads' fragments only, and AppTest's tree then
    holds just their elements; the browser keeps the rest of the page as it was.
    """
    at.selectbox(key=key).set_value(value)
    run(at)
    return run(at)


def test_explore_page_draws_map_and_charts_on_demo(app):
    assert any("Current point:** cell" in m.value for m in app.markdown)
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in figures_on_page(app)]
    assert any(t.startswith("Cells in UMAP") for t in titles)
    layout = point_chart(app)["layout"]
    panels = [a["text"] for a in layout["annotations"]]
    units = [v["title"]["text"] for k, v in layout.items() if k.startswith("xaxis")]
    assert any(t.startswith("<b>Top 20 genes by expected counts") for t in panels)
    assert any(u.startswith("expected counts at library size N =") for u in units)
    assert any("90% predictive interval" in t for t in panels)
    assert any("P(count = 0)" in t for t in panels)
    assert any("Dispersion θ" in t for t in panels) and "fraction of library" in [u.replace("<br>", " ") for u in units]
    assert not app.error


def test_a_new_colouring_reruns_the_map_and_the_downloads_only(app):
    before = chart(app, "Cells in UMAP")["layout"]["title"]["text"]
    app.selectbox(key="color_by").set_value("phase")
    run(app)
    assert chart(app, "Cells in UMAP")["layout"]["title"]["text"] != before
    assert "coloured by phase" in chart(app, "Cells in UMAP")["layout"]["title"]["text"]
    assert [b.label for b in app.get("download_button")] == ["Download", "All genes at this point (CSV)",
                                                             "Download report bundle (ZIP)"]
    assert app.query_params["x.color_by"] == "phase"  # the link follows
    # The point was not decoded again: its charts and the walk are not part of this rerun.
    assert not [e for e in app.get("bidi_component") if e.proto.component_name != "scvi_viz_live_map"]
    with pytest.raises(AssertionError, match="no chart titled"):
        point_chart(app)
    # Another gene: the map's boxes are not sent again either (the gene box lists every gene).
    recolour(app, "color_by", GENE_COLOUR)
    app.selectbox(key="overlay_gene").set_value("LYZ")
    run(app)
    assert "LYZ" in chart(app, "Cells in UMAP")["layout"]["title"]["text"]
    assert not [box for box in app.selectbox if box.key in ("overlay_gene", "color_by", "embedding")]


def test_another_map_reruns_the_point_and_moves_its_x(app):
    on_umap = map_point(app)
    app.selectbox(key="embedding").set_value("X_umap")
    run(app)
    assert chart(app, "Cells in")["layout"]["title"]["text"].startswith("Cells in umap,")  # obsm["X_umap"]
    assert map_point(app) != on_umap  # the x is placed on the file's embedding
    assert point_chart(app)  # the whole Explore fragment ran: the point's charts are there


def test_latent_slider_changes_decoded_values(app):
    before, z = top_gene_counts(app), latent(app)
    move_latent(app, 0)
    assert component_data(app, LATENT_SLIDERS)["move"] == 1  # the move applied, for the browser
    after = top_gene_counts(app)
    assert latent(app)[1:] == z[1:] and latent(app)[0] == component_data(app, LATENT_SLIDERS)["rows"][0]["range"][1]
    assert any("sliders" in m.value for m in app.markdown)
    shared = set(before) & set(after)
    assert before != after
    assert not shared or any(abs(before[g] - after[g]) > 1e-6 for g in shared)


def test_slider_moves_the_point_cross_not_the_map(app):
    # The map's messages stay the same (Streamlit refers to them, the browser does not redraw);
    # the cross drawn over it by the map-point component follows the point.
    def map_messages(at):
        return [e.proto.bytes for e in at.get("bidi_component") if e.proto.component_name == "scvi_viz_live_map"]

    messages, cross = map_messages(app), map_point(app)
    assert len(messages) == 2 and "shapes" not in live_map_spec(app)["layout"]
    move_latent(app, 0)
    assert map_messages(app) == messages
    assert map_point(app) != cross


def test_map_click_on_a_cell_makes_it_the_point(app):
    from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
    from scvi_viz.analysis.workspace import Workspace

    ws = Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")
    cell = 123
    x, y = (float(v) for v in ws.embedding(ws.embedding_names()[0])[cell])
    before = top_gene_counts(app)
    component_event(app, "scvi_viz_map_point", "click",
                    {"curve_number": 1, "point_index": 0, "x": x, "y": y, "customdata": cell})
    label = ws.obs[ws.model.labels_key].iloc[cell]
    assert any(f"Current point:** cell {ws.obs.index[cell]} ({label})" in m.value for m in app.markdown)
    assert latent(app) == pytest.approx(ws.latent[cell].tolist())
    assert map_point(app) == pytest.approx((x, y))
    assert app.select_slider(key="w_loglib").value == pytest.approx(ws.library[cell])
    assert top_gene_counts(app) != before


@pytest.mark.parametrize("moved", [{"z": [0.0], "move": 1}, {"z": [float("nan")] * 10, "move": 1},
                                   {"z": ["a"] * 10, "move": 1}, {"z": [0.0] * 10}, [0.0] * 10, None])
def test_latent_sliders_ignore_malformed_moves(app, moved):
    z, counts = latent(app), top_gene_counts(app)
    component_event(app, LATENT_SLIDERS, "moved", moved)
    assert latent(app) == z and top_gene_counts(app) == counts


def test_library_slider_scales_expected_counts(app):
    before = top_gene_counts(app)
    slider = app.select_slider(key="w_loglib")
    assert slider.value == 628.0 and "628" in slider.options  # the slider reads counts, not log10 (2.80)
    values = [float(o.replace(",", "")) for o in slider.options]
    wanted = min(values, key=lambda v: abs(v - 10 * slider.value))  # the step nearest ten times the library
    run(slider.set_value(wanted))
    after = top_gene_counts(app)
    assert set(after) == set(before)
    assert np.allclose([after[g] / before[g] for g in before], wanted / 628.0, rtol=1e-3)


def test_batch_change_changes_decoded_values(app):
    before = top_gene_counts(app)
    batch = app.selectbox(key="w_batch")
    other = next(o for o in batch.options if o != batch.value)
    run(batch.set_value(other))
    assert top_gene_counts(app) != before
    assert f"phase={other}" in point_chart(app)["layout"]["title"]["subtitle"]["text"]


def test_continuous_covariate_changes_decoded_values(app):
    before = top_gene_counts(app)
    slider = app.slider(key="w_cont::percent_mito")
    run(slider.set_value(slider.max))
    assert top_gene_counts(app) != before


def test_reset_returns_to_clicked_cell(app):
    first = latent(app)
    move_latent(app, 0, "min")
    assert latent(app)[0] != pytest.approx(first[0])
    component_event(app, LATENT_SLIDERS, "reset", True)  # the walk's "Reset to clicked cell"
    assert latent(app) == pytest.approx(first)
    assert any("Current point:** cell" in m.value for m in app.markdown)


def test_gene_picker_adds_pasted_genes(app):
    app.text_area(key="pasted_genes").set_value("CD74, LYZ\nNOT_A_GENE")
    run(next(b for b in app.button if b.label == "Add these genes").click())
    assert {"CD74", "LYZ"} <= set(app.multiselect(key="genes").value)
    # Said inside the paste box, which covers part of the page at 1,100 px, and on the page.
    assert len([w for w in app.warning if "NOT_A_GENE" in w.value]) == 2
    counts = trace(point_chart(app), "scatter", "expected counts")
    assert "CD74" in counts["y"] and "LYZ" in counts["y"]


def test_compare_page_shows_both_batches_and_differences(app):
    app = run(app.switch_page("pages/compare.py"))
    scatter = chart(app, "Normalised expression under each value")
    names = [t["name"] for t in scatter["data"]]
    assert "phase = G2M" in names and "phase = S" in names
    lfc = chart(app, "log2 fold change")
    assert len(_values(lfc["data"][0]["x"])) == 20
    table = app.dataframe[0].value
    assert {"scale [phase = G1]", "scale [phase = G2M]", "log2FC [phase = G2M vs phase = G1]"} <= set(table.columns)
    ranked = table[table["ranked"]]
    assert (ranked["max_abs_log2FC"].diff().dropna() <= 1e-12).all()


def test_compare_group_of_cells(app):
    app = run(app.switch_page("pages/compare.py"))
    category = app.selectbox(key="cmp_group_category")
    run(category.set_value(category.options[1]))
    tables = [d.value for d in app.dataframe]
    assert len(tables) == 2 and "log2FC [phase = G2M vs phase = G1]" in tables[1].columns


# ------------------------------------------------------------------------ bad input
@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(root))
    return root


def _snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _open_from_root(model: str, data: str, typed: str = "") -> AppTest:
    # Set the sidebar's widgets before the first run: AppTest (Streamlit 1.67) does not
    # report sidebar elements on reruns of an st.navigation app.
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["source"] = "Files on this server"
    at.session_state["root_model"] = model or None
    at.session_state["root_model_typed"] = typed
    at.session_state["root_data"] = data
    return run(at)


def _copy_demo(root: Path) -> None:
    shutil.copytree(sources.DEMO_MODEL, root / "demo_model")
    shutil.copy(sources.DEMO_DATA, root / "cells.h5ad")


def test_server_files_open_like_the_demo(data_root):
    _copy_demo(data_root)
    before = _snapshot(data_root)
    at = _open_from_root("demo_model", "cells.h5ad")
    assert not at.error
    assert any("demo_model + cells.h5ad" in m.value for m in at.markdown)
    assert _snapshot(data_root) == before


def test_non_h5ad_file_is_an_error_not_a_traceback(data_root):
    _copy_demo(data_root)
    (data_root / "notes.h5ad").write_text("this is not HDF5")
    before = _snapshot(data_root)
    at = _open_from_root("demo_model", "notes.h5ad")
    assert any("not an .h5ad file" in e.value for e in at.error)
    assert _snapshot(data_root) == before
    run(at.switch_page("pages/compare.py"))  # the app stays usable
    assert any("Choose a model" in i.value for i in at.info)


def test_genes_that_do_not_overlap_are_an_error(data_root):
    _copy_demo(data_root)
    adata = ad.read_h5ad(data_root / "cells.h5ad")
    adata.var_names = [f"other_{i}" for i in range(adata.n_vars)]
    adata.write_h5ad(data_root / "other_genes.h5ad")
    before = _snapshot(data_root)
    at = _open_from_root("demo_model", "other_genes.h5ad")
    assert any("None of the model's 765 genes are in the data" in e.value for e in at.error)
    assert _snapshot(data_root) == before


def test_totalvi_model_is_refused_by_name(data_root):
    totalvi = REFUSED / "TOTALVI"
    if not totalvi.is_dir():
        pytest.skip("TOTALVI fixture not built")
    shutil.copytree(totalvi, data_root / "totalvi")
    shutil.copy(sources.DEMO_DATA, data_root / "cells.h5ad")
    before = _snapshot(data_root)
    at = _open_from_root("totalvi", "cells.h5ad")
    assert any("TOTALVI" in e.value for e in at.error)
    assert _snapshot(data_root) == before


def test_path_outside_the_data_root_is_refused(data_root):
    _copy_demo(data_root)
    outside = data_root.parent / "outside_model"
    shutil.copytree(sources.DEMO_MODEL, outside)
    at = _open_from_root("", "cells.h5ad", typed="../outside_model")
    assert any("outside the data root" in e.value for e in at.error)


# ------------------------------------------------------------- every kind of model
FIXTURE_MODELS = ["scanvi", "scvi_gene_label_zinb", "scvi_gene_cell_nb", "scvi_size_factor", "scvi_no_batch",
                  "scvi_ln", "scvi_poisson", "scvi_embedding", "scvi_covariates"]


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_every_page_runs_on_each_kind_of_model(name, monkeypatch, tmp_path):
    monkeypatch.setenv("SCVI_VIZ_DATA_DIR", str(Path(__file__).parent / "fixtures"))
    monkeypatch.setenv("SCVI_VIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = _open_from_root(f"models/{name}", "adata.h5ad")
    assert not at.error
    likelihood = json.loads((Path(__file__).parent / "fixtures" / "models" / name / "config.json").read_text())[
        "model_kwargs"].get("gene_likelihood", "zinb")
    # Top genes, expected counts, P(0) (dropout and count parts), scale; theta unless Poisson;
    # dropout (and P(0)'s dropout part) only with zero inflation.
    names = [t["name"] for t in point_chart(at)["data"]]
    expected = ["expected counts", "expected counts", "from the count distribution", "Normalised expression"]
    expected += {"zinb": ["from dropout", "Dispersion θ", "Dropout"], "nb": ["Dispersion θ"],
                 "poisson": []}[likelihood]
    assert sorted(names) == sorted(expected)
    run(at.switch_page("pages/compare.py"))
    assert not at.error
    if name == "scvi_no_batch":
        assert any("nothing to compare" in i.value for i in at.info)
    else:
        assert any(json.loads(e.proto.spec)["layout"]["title"]["text"].startswith("Top 20 genes by |log2 fold change|")
                   for e in at.get("plotly_chart"))


def test_minified_data_open_with_their_stored_posterior(data_root):
    folder = Path(__file__).parent / "fixtures" / "minified" / "scvi_1.4"
    shutil.copytree(folder, data_root / "hub_model")
    before = _snapshot(data_root)
    at = _open_from_root("hub_model", "hub_model/adata.h5ad")
    assert not at.error and not at.exception
    card = " ".join(m.value for m in at.markdown)
    assert "120 cells" in card and "minified data: no counts" in card
    assert "the posterior stored in the minified data (obsm['scvi_latent_qzm'])" in card
    assert "App memory:" in card
    assert _snapshot(data_root) == before
    run(at.switch_page("pages/model_fit.py"))
    assert any("minified" in e.value for e in at.error)  # the page says why it cannot check the fit


def test_a_zarr_store_opens_like_an_h5ad(data_root):
    _copy_demo(data_root)
    ad.read_h5ad(data_root / "cells.h5ad").write_zarr(data_root / "cells.zarr")
    assert "cells.zarr" in sources.list_h5ad_files(data_root)
    at = _open_from_root("demo_model", "cells.zarr")
    assert not at.error and not at.exception
    card = " ".join(m.value for m in at.markdown)
    assert "700 cells" in card and "counts stay in a .zarr store" in card


def test_de_runs_on_minified_data_from_the_stored_posterior(data_root):
    shutil.copytree(Path(__file__).parent / "fixtures" / "minified" / "scvi_1.4", data_root / "hub_model")
    at = _open_from_root("hub_model", "hub_model/adata.h5ad")
    at = run(at.switch_page("pages/differential_expression.py"))
    at = run(at.selectbox(key="de_group1_column").set_value("batch"))
    at = run(at.toggle(key="de_group2_rest").set_value(True))
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 40 and np.isfinite(table["lfc_mean"]).all()
    assert (table["raw_mean1"] == 0).all()  # minified X is all zeros, as scvi-tools reads it
    assert any("These data are minified" in c.value for c in at.caption)


def test_the_cells_can_be_mapped_on_an_obsm_embedding_instead_of_a_umap(data_root):
    _copy_demo(data_root)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["source"] = "Files on this server"
    at.session_state["root_model"] = "demo_model"
    at.session_state["root_data"] = "cells.h5ad"
    at.session_state["embedding_key"] = "X_umap"
    at = run(at)
    assert not at.exception and not at.error
    assert any("Mapped on obsm['X_umap']" in m.value for m in at.markdown)
    assert at.selectbox(key="embedding").options == ["X_umap"]
