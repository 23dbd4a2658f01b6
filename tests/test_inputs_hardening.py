"""Data and saved views that are wrong in ways the loader used to accept or answer with a raw error."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scvi_viz import DataError, load_model
from scvi_viz.io.view_state import MAX_STATE_BYTES, STATE_FORMAT, StateFileError, ViewState, read_state_upload

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = load_model(FIXTURES / "models" / "scvi_covariates", device="cpu")


def data() -> anndata.AnnData:
    return anndata.read_h5ad(FIXTURES / "adata.h5ad")


def with_counts(adata: anndata.AnnData, change) -> anndata.AnnData:
    x = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X, dtype=np.float32)
    change(x)
    adata.X = x
    return adata


CASES = {
    "nan_counts": (lambda a: with_counts(a, lambda x: x.__setitem__((0, 0), np.nan)), "NaN"),
    "negative_counts": (lambda a: with_counts(a, lambda x: x.__setitem__((0, 0), -1)), "negative"),
    "inf_counts": (lambda a: with_counts(a, lambda x: x.__setitem__((0, 0), np.inf)), "infinite"),
    "log_normalised_counts": (lambda a: with_counts(a, lambda x: np.log1p(x, out=x)), "non-integer"),
    "zero_cells": (lambda a: a[:0].copy(), "no cells"),
    "duplicate_cell_ids": (lambda a: _set_obs_names(a, ["same"] * a.n_obs), "more than once in obs_names"),
    "duplicate_gene": (lambda a: _duplicate_gene(a), "more than once in the data's var_names"),
    "text_continuous_covariate": (lambda a: _set_obs(a, "cont1", ["high"] * a.n_obs), "text or other non-numbers"),
}


def _set_obs_names(a, names):
    a.obs_names = names
    return a


def _set_obs(a, column, values):
    a.obs[column] = pd.Series(values, index=a.obs_names, dtype=object)
    return a


def _duplicate_gene(a):
    names = list(a.var_names)
    names[1] = names[0]
    a.var_names = names
    return a


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(CASES))
def test_bad_data_is_a_data_error(name):
    change, words = CASES[name]
    with pytest.raises(DataError, match=words):
        MODEL.encode(change(data()))


def base_state() -> dict:
    point = {"z": [0.0] * MODEL.n_latent, "library_size": 1e4, "batch": MODEL.batches[0], "label": None,
             "categorical": {k: v[0] for k, v in MODEL.categorical_covariates.items()},
             "continuous": {k: 0.0 for k in MODEL.continuous_covariates}}
    return {"format": STATE_FORMAT, "model_sha256": MODEL.file_sha256, "point": point, "genes": []}


def test_the_base_state_is_valid():
    ViewState.from_json(json.dumps(base_state()), MODEL.spec)


STATES = {
    "point_is_a_list": ({"point": [1, 2]}, "point"),
    "z_is_a_number": ({"point": {**base_state()["point"], "z": 3}}, "point"),
    "genes_is_a_number": ({"genes": 5}, "genes"),
    "extras_is_a_list": ({"extras": [1]}, "extras"),
    "cell_id_is_a_dict": ({"cell_id": {"a": 1}}, "cell_id"),
    "categorical_is_a_list": ({"point": {**base_state()["point"], "categorical": [1]}}, "point|categorical"),
}


@pytest.mark.parametrize("name", list(STATES))
def test_state_of_the_wrong_shape_is_a_state_file_error(name):
    change, words = STATES[name]
    with pytest.raises(StateFileError, match=words):
        ViewState.from_json(json.dumps({**base_state(), **change}), MODEL.spec)


def test_nan_z_is_reported_as_nan_not_as_a_dimension_mismatch():
    state = base_state()
    state["point"]["z"][0] = float("nan")
    with pytest.raises(StateFileError, match="NaN") as info:
        ViewState.from_json(json.dumps(state), MODEL.spec)
    assert "dimension" not in str(info.value)


def test_deeply_nested_and_huge_states_are_refused():
    with pytest.raises(StateFileError, match="not JSON"):
        ViewState.from_json("[" * 100_000 + "]" * 100_000, MODEL.spec)
    big = json.dumps({**base_state(), "genes": ["x" * 100] * 500_000})
    with pytest.raises(StateFileError, match="at most"):
        ViewState.from_json(big, MODEL.spec)
    with pytest.raises(StateFileError, match="at most"):
        read_state_upload(big.encode())
    assert len(big) > 50 * MAX_STATE_BYTES


def test_state_zip_that_is_not_utf8_or_damaged_is_a_state_file_error():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("state.json", b"\xff\xfe\x00 not utf-8" * 50)
    with pytest.raises(StateFileError):
        read_state_upload(buf.getvalue())
    damaged = bytearray(buf.getvalue())
    damaged[40:60] = b"\xff" * 20
    with pytest.raises(StateFileError):
        read_state_upload(bytes(damaged))


def test_size_factor_column_is_checked():
    model = load_model(FIXTURES / "models" / "scvi_size_factor", device="cpu")
    key = model.spec.size_factor_key
    adata = data()
    if key not in adata.obs:
        pytest.skip("the fixture data has no size factor column")
    for values, words in ((None, "no obs column"), (["x"] * adata.n_obs, "numbers"), ([0.0] * adata.n_obs, "positive")):
        a = data()
        if values is None:
            del a.obs[key]
        else:
            a.obs[key] = pd.Series(values, index=a.obs_names, dtype=object if isinstance(values[0], str) else float)
        with pytest.raises(DataError, match=words):
            model.encode(a)


def test_every_error_class_is_a_scvi_viz_error():
    import scvi_viz.errors as errors
    from scvi_viz import ScviVizError
    from scvi_viz.io.sources import PathOutsideRootError, UploadError

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception) and not issubclass(c, Warning)]
    assert len(classes) >= 6
    for cls in [*classes, PathOutsideRootError, UploadError, StateFileError]:
        assert issubclass(cls, ScviVizError) and issubclass(cls, ValueError), cls
