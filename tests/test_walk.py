"""The live walk on the Explore page, as the server sees it: what the browser is sent, the point's
distance to the data, and empty-space clicks that keep their place and say what they did. (Back /
Forward through the views is tested in Chromium: AppTest reruns only the fragment after a move.)"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, LATENT_SLIDERS, component_data, component_event, latent, map_point, move_latent, run, \
    top_gene_counts

from scvi_viz.arrays import unpack_arrays
from scvi_viz.analysis.walk import DataDistance, browser_cells, point_covariates
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.plots.cell_map import grid_step
from scvi_viz.ui.components.live_decoder import pack_payload


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


def test_distance_to_data_is_in_units_of_the_typical_neighbour_distance(ws):
    dd = DataDistance.build(ws.latent)
    nn = np.sort(np.linalg.norm(ws.latent[:, None, :].astype(np.float64) - ws.latent[None].astype(np.float64), axis=2), axis=1)[:, 1]
    assert dd.typical == pytest.approx(np.median(nn), rel=1e-9)
    assert dd.ratio(ws.latent[5]) == 0.0
    far = ws.latent[5].astype(np.float64) + 3 * dd.typical * np.eye(ws.latent.shape[1])[0]
    assert 0 < dd.ratio(far) <= 3.0 + 1e-9
    points = np.stack([far, ws.latent[5], far * 2])
    np.testing.assert_array_equal(dd.ratios(points), [dd.ratio(p) for p in points])


def test_the_browser_gets_each_drawn_cell_with_its_own_covariates(ws):
    emb = ws.embedding_names()[0]
    coords = ws.embedding(emb)
    header, arrays = browser_cells(ws, rows=None, embeddings={emb: coords}, grid_steps={emb: grid_step(coords)},
                                   typical=0.5, k=10)
    assert header["n"] == ws.n_cells and header["typical"] == 0.5 and header["embeddings"] == [emb]
    assert arrays["latent"].dtype == np.float32 and np.array_equal(arrays["latent"], ws.latent)
    assert np.array_equal(arrays[f"coords:{emb}"], np.asarray(coords, dtype=np.float64))
    for i in (0, 17, ws.n_cells - 1):
        cov = point_covariates(ws.model.spec, ws.cell_point(i))
        assert arrays["batch"][i] == cov["batch"] and arrays["label"][i] == cov["label"]
        assert [arrays[f"continuous{j}"][i] for j in range(header["n_continuous"])] == cov["continuous"]
        assert arrays["library"][i] == ws.cell_point(i).library_size
    some = np.array([3, 50, 9])
    _, sub = browser_cells(ws, rows=some, embeddings={emb: coords}, grid_steps={}, typical=1.0, k=10)
    assert np.array_equal(sub["latent"], ws.latent[some]) and sub["library"].tolist() == ws.library[some].tolist()


def test_the_payload_is_one_aligned_message_with_its_parts_named():
    arrays = {"a": np.arange(3, dtype=np.float32), "b": np.arange(5, dtype=np.int32), "c": np.ones((2, 2))}
    blob = pack_payload(key="k", weights=b"xyz", genes=["G1", "G2"], cells={"n": 3}, arrays=arrays)
    (size,) = struct.unpack("<I", blob[:4])
    start = 4 + size + (-(4 + size) % 8)
    header, back = unpack_arrays(blob)
    assert start % 8 == 0 and header["key"] == "k" and header["genes"] == ["G1", "G2"] and header["cells"] == {"n": 3}
    assert back["weights"].tobytes() == b"xyz"
    for entry in header["arrays"]:
        assert entry["offset"] % 8 == 0
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype.newbyteorder("<") and np.array_equal(back[name], array)


def test_the_walk_is_sent_the_servers_numbers_and_the_browsers_keys(app):
    data = component_data(app, LATENT_SLIDERS)
    assert data["decoder"] and data["cells"] == data["decoder"]
    genes = [g for _, g in data["chosen"]]
    counts = top_gene_counts(app)
    top = dict(data["server"]["top"])
    assert list(top)[: len(counts)] == list(counts) and all(top[g] == pytest.approx(counts[g], rel=1e-6) for g in counts)
    assert len(data["server"]["chosen"]) == len(genes)
    assert data["server"]["off"] >= 0 and data["off_ratio"] == 2.0
    assert any(e.proto.component_name == "scvi_viz_live_decoder" for e in app.get("bidi_component"))


def test_an_empty_space_click_keeps_its_place_and_says_what_it_used(app, ws):
    xy = (float(ws.embedding(ws.embedding_names()[0])[:, 0].max()) + 2.0, 0.5)
    component_event(app, "scvi_viz_map_point", "click", {"curve_number": 0, "point_index": 0, "x": xy[0], "y": xy[1],
                                                         "customdata": None})
    origin = next(m.value for m in app.markdown if "Current point:**" in m.value)
    assert "empty space at" in origin and "nearest cells" in origin and "kept from cell" in origin
    assert map_point(app) == pytest.approx(xy)
    address = dict(app.query_params)
    assert json.loads(address["xj.point_xy"]) == pytest.approx(list(xy))
    other = AppTest.from_file(APP, default_timeout=120)
    other.query_params.update(address)
    run(other)
    assert map_point(other) == pytest.approx(xy)  # the x stays where the click was, also from the link
    assert latent(other) == pytest.approx(latent(app))


def test_a_model_too_large_for_the_browser_is_walked_from_the_server_and_says_why(monkeypatch):
    from scvi_viz.model import browser

    monkeypatch.setattr(browser, "MAX_BROWSER_WEIGHT_BYTES", 1000)
    at = run(AppTest.from_file(APP, default_timeout=120))
    data = component_data(at, LATENT_SLIDERS)
    assert data["decoder"] is None and data["cells"] is None
    assert not any(e.proto.component_name == "scvi_viz_live_decoder" for e in at.get("bidi_component"))
    assert any(c.value.startswith("Live preview off: the decoder's weights are") for c in at.caption)
    before = top_gene_counts(at)
    move_latent(at, 0)  # the sliders still move the point, decoded by the server
    assert top_gene_counts(at) != before


def test_each_slider_says_which_genes_rise_and_fall_when_it_moves_up(app, ws):
    from scvi_viz.analysis.directions import slider_effects
    from scvi_viz.analysis.profiles import gene_profile

    data = component_data(app, LATENT_SLIDERS)
    hints = data["hints"]
    assert len(hints) == ws.model.n_latent and all(h.startswith("up: ") and " · down: " in h for h in hints)
    # The same as the Jacobian at the point says, among genes expected at 1 count per 10,000 or more.
    from scvi_viz.point import Point

    point = Point(z=tuple(data["z"]), library_size=data["library"], batch=ws.model.batches[data["covariates"]["batch"]],
                  continuous=dict(zip(ws.model.continuous_covariates, data["covariates"]["continuous"])))
    profile = gene_profile(ws.model, point)
    expressed = [g for g in profile.index if profile.loc[g, "scale"] * 1e4 >= 1.0]
    jac = ws.model.log_scale_jacobian(point.z, genes=expressed, **point.covariates.decode_kwargs())
    up, down = slider_effects(jac, expressed, n=3)[3]
    assert hints[3] == f"up: {' '.join(up)} · down: {' '.join(down)}"
    before = list(hints)
    move_latent(app, 3, "min")
    assert component_data(app, LATENT_SLIDERS)["hints"] != before  # they follow the point
