"""``Point`` and ``ViewState``: decode arguments, covariate changes, state.json round trip and checks."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

import scvi_viz
from scvi_viz.errors import ScviVizError
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.io.view_state import STATE_FORMAT, StateFileError, ViewState
from scvi_viz.point import Point, default_point
from scvi_viz.analysis.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "models"


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


@pytest.fixture(scope="module")
def model(ws):
    return ws.model


@pytest.fixture(scope="module")
def cov_model():
    """A fixture model with extra categorical (cat1, cat2) and continuous (cont1, cont2) covariates."""
    return scvi_viz.load_model(FIXTURES / "scvi_covariates", device="cpu")


@pytest.fixture()
def state(ws, model) -> ViewState:
    return ViewState(
        model_sha256=model.file_sha256,
        point=ws.cell_point(7),
        genes=(model.genes[0], model.genes[10], model.genes[100]),
        device="cpu",
        app_version="0.1.0",
        cell_id=str(ws.obs.index[7]),
        extras={"page": "explore", "n_top": 20, "nested": {"a": [1, 2]}},
    )


def state_dict(state: ViewState) -> dict:
    return json.loads(state.to_json())


def load(data: dict, model):
    return ViewState.from_json(json.dumps(data), model)


# ------------------------------------------------------------------ Point


def test_point_decode_kwargs():
    p = Point(z=(0.5, -1.0, 2.0), library_size=1234.0, batch="b1", label="L",
              categorical={"cat1": "y"}, continuous={"cont1": 0.25})
    kw = p.decode_kwargs()
    assert set(kw) == {"z", "library_size", "batch", "label", "categorical", "continuous"}
    assert isinstance(kw["z"], np.ndarray) and kw["z"].dtype == np.float32
    np.testing.assert_array_equal(kw["z"], np.array([0.5, -1.0, 2.0], dtype=np.float32))
    assert kw["library_size"] == 1234.0
    assert kw["batch"] == "b1" and kw["label"] == "L"
    assert kw["categorical"] == {"cat1": "y"} and kw["continuous"] == {"cont1": 0.25}
    # Copies: changing them does not change the point.
    kw["categorical"]["cat1"] = "z"
    kw["continuous"]["cont1"] = 9.0
    assert p.categorical == {"cat1": "y"} and p.continuous == {"cont1": 0.25}


def test_point_is_frozen():
    p = Point(z=(0.0,), library_size=1.0)
    with pytest.raises(FrozenInstanceError):
        p.library_size = 2.0  # type: ignore[misc]


def test_point_decode_kwargs_decode(cov_model):
    p = default_point(cov_model, library_size=300.0)
    out = cov_model.decode(**p.decode_kwargs())
    assert tuple(out.rate.shape) == (1, len(cov_model.genes))
    np.testing.assert_allclose(out.rate.numpy(), 300.0 * out.scale.numpy(), rtol=1e-5)


@pytest.mark.parametrize(
    ("kind", "name", "value", "field", "expected"),
    [
        ("batch", None, "b2", "batch", "b2"),
        ("label", None, 3, "label", "3"),
        ("categorical", "cat2", "q", "categorical", {"cat1": "x", "cat2": "q"}),
        ("continuous", "cont1", "1.5", "continuous", {"cont1": 1.5, "cont2": 0.0}),
    ],
)
def test_with_covariate(kind, name, value, field, expected):
    p = Point(z=(1.0, 2.0), library_size=10.0, batch="b0", label="0",
              categorical={"cat1": "x", "cat2": "p"}, continuous={"cont1": 0.0, "cont2": 0.0})
    q = p.with_covariate(kind, name, value)
    assert getattr(q, field) == expected
    # Everything else is unchanged, and the original point is untouched.
    for other in ("z", "library_size", "batch", "label", "categorical", "continuous"):
        if other != field:
            assert getattr(q, other) == getattr(p, other)
    assert p.categorical == {"cat1": "x", "cat2": "p"} and p.continuous == {"cont1": 0.0, "cont2": 0.0}
    assert p.batch == "b0" and p.label == "0"


def test_with_covariate_types():
    p = Point(z=(0.0,), library_size=1.0)
    assert isinstance(p.with_covariate("continuous", "c", 2).continuous["c"], float)
    assert p.with_covariate("batch", None, 1).batch == "1"


def test_with_covariate_unknown_kind():
    with pytest.raises(ValueError, match="unknown covariate kind"):
        Point(z=(0.0,), library_size=1.0).with_covariate("colour", None, "red")


def test_default_point(model, cov_model):
    p = default_point(model)
    assert p.z == (0.0,) * model.n_latent
    assert p.library_size == 1e4
    assert p.batch == model.batches[0]
    assert p.continuous == {"percent_mito": 0.0}
    q = default_point(cov_model, z=np.arange(cov_model.n_latent), library_size=50)
    assert q.z == tuple(float(i) for i in range(cov_model.n_latent))
    assert q.categorical == {"cat1": "x", "cat2": "p"}
    assert q.library_size == 50.0


def test_describe(model):
    p = default_point(model).with_covariate("batch", None, "S").with_covariate("continuous", "percent_mito", 0.0512345)
    text = p.describe(model)
    assert "phase=S" in text
    assert "percent_mito=0.0512" in text


# --------------------------------------------------------------- ViewState


def test_state_error_is_value_error():
    assert issubclass(StateFileError, ValueError)
    assert issubclass(StateFileError, ScviVizError)


def test_round_trip(state, model):
    text = state.to_json()
    data = json.loads(text)
    assert data["format"] == STATE_FORMAT
    assert isinstance(data["point"]["z"], list) and len(data["point"]["z"]) == model.n_latent
    assert data["genes"] == list(state.genes)
    restored, warnings = ViewState.from_json(text, model)
    assert warnings == []
    assert restored == state
    assert restored.point.z == state.point.z  # float64 values survive JSON exactly
    # bytes work too
    restored_b, _ = ViewState.from_json(text.encode(), model)
    assert restored_b == state


def test_round_trip_default_point(model):
    s = ViewState(model_sha256=model.file_sha256, point=default_point(model))
    restored, warnings = ViewState.from_json(s.to_json(), model)
    assert restored == s and warnings == []


def test_round_trip_covariate_model(cov_model):
    p = default_point(cov_model, z=np.linspace(-1, 1, cov_model.n_latent), library_size=777.5)
    p = p.with_covariate("categorical", "cat1", "z").with_covariate("continuous", "cont2", -0.75).with_covariate("batch", None, "b1")
    s = ViewState(model_sha256=cov_model.file_sha256, point=p, genes=tuple(cov_model.genes[:2]))
    restored, warnings = ViewState.from_json(s.to_json(), cov_model)
    assert restored == s and warnings == []


@pytest.mark.parametrize("text", ["", "not json at all", "{", b"\xff\xfe\x00garbage"])
def test_from_json_not_json(text, model):
    with pytest.raises(StateFileError, match="not JSON"):
        ViewState.from_json(text, model)


@pytest.mark.parametrize("fmt", [None, "scvi-viz-state/3", "something-else"])
def test_from_json_wrong_format(state, model, fmt):
    data = state_dict(state)
    if fmt is None:
        del data["format"]
    else:
        data["format"] = fmt
    with pytest.raises(StateFileError, match="format"):
        load(data, model)


@pytest.mark.parametrize("text", ["[1, 2, 3]", '"scvi-viz-state/1"', "42", "null"])
def test_from_json_not_an_object(text, model):
    with pytest.raises(StateFileError):
        ViewState.from_json(text, model)


@pytest.mark.parametrize("n", [0, 1, 9, 11, 30])
def test_from_json_wrong_z_length(state, model, n):
    data = state_dict(state)
    data["point"]["z"] = [0.1] * n
    with pytest.raises(StateFileError, match=f"{n}-dimensional"):
        load(data, model)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_from_json_non_finite_z(state, model, bad):
    data = state_dict(state)
    data["point"]["z"][2] = bad
    with pytest.raises(StateFileError):
        ViewState.from_json(json.dumps(data), model)  # json.dumps writes NaN/Infinity, json.loads reads them


@pytest.mark.parametrize("bad_point", [None, "abc", {"z": "abc", "library_size": 1.0}, {"z": [0.0] * 10},
                                       {"library_size": 10.0}, {"z": 5, "library_size": 1.0},
                                       {"z": [0.0] * 10, "library_size": "many"}])
def test_from_json_invalid_point(state, model, bad_point):
    data = state_dict(state)
    data["point"] = bad_point
    with pytest.raises(StateFileError):
        load(data, model)


def test_from_json_missing_point(state, model):
    data = state_dict(state)
    del data["point"]
    with pytest.raises(StateFileError, match="point"):
        load(data, model)


@pytest.mark.parametrize("lib", [float("nan"), -5.0, 0.0, float("inf"), float("-inf")])
def test_from_json_bad_library(state, model, lib):
    data = state_dict(state)
    data["point"]["library_size"] = lib
    with pytest.raises(StateFileError, match="library size"):
        ViewState.from_json(json.dumps(data), model)


@pytest.mark.parametrize("batch", ["M", "g1", None, ""])
def test_from_json_unknown_batch(state, model, batch):
    data = state_dict(state)
    data["point"]["batch"] = batch
    with pytest.raises(StateFileError, match="batch"):
        load(data, model)


def test_from_json_unknown_label(state, model):
    data = state_dict(state)
    data["point"]["label"] = "not a cell type"
    with pytest.raises(StateFileError, match="label"):
        load(data, model)


def test_from_json_unknown_categorical_value(cov_model):
    s = ViewState(model_sha256=cov_model.file_sha256, point=default_point(cov_model))
    data = state_dict(s)
    data["point"]["categorical"]["cat1"] = "w"
    with pytest.raises(StateFileError, match="cat1"):
        load(data, cov_model)
    data["point"]["categorical"] = {"cat2": "p"}  # cat1 missing
    with pytest.raises(StateFileError, match="cat1"):
        load(data, cov_model)


def test_from_json_unknown_categorical_name(cov_model):
    s = ViewState(model_sha256=cov_model.file_sha256, point=default_point(cov_model))
    data = state_dict(s)
    data["point"]["categorical"]["cat3"] = "x"
    with pytest.raises(StateFileError):
        load(data, cov_model)


def test_from_json_non_finite_continuous(state, model):
    data = state_dict(state)
    data["point"]["continuous"]["percent_mito"] = float("nan")
    with pytest.raises(StateFileError):
        ViewState.from_json(json.dumps(data), model)


def test_from_json_continuous_mismatch(state, model):
    data = state_dict(state)
    data["point"]["continuous"] = {}
    with pytest.raises(StateFileError, match="continuous"):
        load(data, model)
    data["point"]["continuous"] = {"percent_mito": 0.1, "extra": 1.0}
    with pytest.raises(StateFileError, match="continuous"):
        load(data, model)


def test_from_json_different_model_warns(state, model):
    data = state_dict(state)
    data["model_sha256"] = "0" * 64
    restored, warnings = load(data, model)
    assert len(warnings) == 1
    assert "different model" in warnings[0]
    assert restored.point == state.point
    assert restored.model_sha256 == "0" * 64


def test_from_json_unknown_genes_dropped_with_warning(state, model):
    data = state_dict(state)
    data["genes"] = [model.genes[5], "FAKE1", model.genes[6], "FAKE2"]
    restored, warnings = load(data, model)
    assert restored.genes == (model.genes[5], model.genes[6])
    assert len(warnings) == 1
    assert "2 saved gene(s)" in warnings[0] and "FAKE1" in warnings[0] and "FAKE2" in warnings[0]


def test_from_json_both_warnings(state, model):
    data = state_dict(state)
    data["model_sha256"] = "abc"
    data["genes"] = ["NOPE"]
    restored, warnings = load(data, model)
    assert len(warnings) == 2
    assert restored.genes == ()


def test_from_json_restored_point_decodes(state, model):
    restored, _ = ViewState.from_json(state.to_json(), model)
    a = model.decode(**restored.point.decode_kwargs()).rate.numpy()
    b = model.decode(**state.point.decode_kwargs()).rate.numpy()
    np.testing.assert_array_equal(a, b)


def test_version_1_files_still_read_and_version_2_round_trips(state, model):
    data = state_dict(state)
    data["format"] = "scvi-viz-state/1"
    for key in ("page", "data_key", "source"):
        data.pop(key, None)
    old, _ = load(data, model)
    assert old.point == state.point and old.page == "explore" and old.source == {}
    new = ViewState(model_sha256=model.file_sha256, point=state.point, page="compare", data_key="ab12",
                    source={"kind": "server", "model": "m", "data": "d.h5ad"}, extras={"n_top": 12})
    back, warnings = ViewState.from_json(new.to_json(), model)
    assert back == new and not warnings
    assert json.loads(new.to_json())["format"] == "scvi-viz-state/2"
