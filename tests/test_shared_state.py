"""Objects shared between browser sessions: read-only, or guarded (``ScviModel``'s cache)."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from scvi_viz import Covariates, load_model
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.io.sources import DEMO_DATA, DEMO_MODEL
from scvi_viz.model import HIDDEN_CACHE_ENTRIES

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return Workspace.open(DEMO_MODEL, DEMO_DATA, device="cpu")


def test_workspace_is_frozen_and_its_arrays_read_only(ws):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ws.latent = ws.latent.copy()
    arrays = [ws.latent, ws.library, ws.covariates.batch, *ws.covariates.continuous.values(),
              ws.embedding(ws.embedding_names()[0]), *ws.obsm.values()]
    for array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[1]


def test_model_settings_cannot_be_changed_through_the_model():
    model = load_model(FIXTURES / "models" / "scvi_covariates", device="cpu")
    genes, cats = model.genes, model.categorical_covariates
    genes.append("NEW_GENE")
    cats["cat1"].append("w")
    assert "NEW_GENE" not in model.genes and "w" not in model.categorical_covariates["cat1"]
    with pytest.raises(AttributeError):
        model.genes = ("x",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.spec.n_latent = 3
    with pytest.raises(AttributeError):
        model.state_dict  # noqa: B018  (no settings are forwarded implicitly any more)


def test_covariates_rows_and_values_leave_the_original_alone():
    cov = Covariates(batch=np.array(["a", "b", "c"]), continuous={"x": np.array([1.0, 2.0, 3.0])})
    assert list(cov.rows([2, 0]).batch) == ["c", "a"]
    assert list(cov.rows(slice(1, 3)).continuous["x"]) == [2.0, 3.0]
    changed = cov.with_value("continuous", "x", 0.5)
    assert changed.continuous["x"] == 0.5 and list(cov.continuous["x"]) == [1.0, 2.0, 3.0]
    assert cov.with_value("batch", None, "b").batch == "b"
    with pytest.raises(ValueError, match="read-only"):
        cov.batch[0] = "z"
    with pytest.raises(ValueError, match="kind"):
        cov.with_value("colour", None, 1)


def test_threads_sharing_one_model_get_their_own_numbers():
    """Sessions decode through one cached model at once; the hidden-layer cache is shared.

    More covariate settings than the cache holds, from several threads, so entries are
    inserted and evicted while others read them.
    """
    model = load_model(FIXTURES / "models" / "scvi_covariates", device="cpu")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, model.n_latent)).astype(np.float32)
    genes = list(model.genes[:5])
    settings = [(batch, cat, cont) for batch in model.batches for cat in model.categorical_covariates["cat1"]
                for cont in (0.0, 1.5)]
    assert len(settings) > HIDDEN_CACHE_ENTRIES

    def decode(setting):
        batch, cat, cont = setting
        out = model.decode_genes(z, genes, library_size=1e3, batch=batch, categorical={"cat1": cat},
                                 continuous={"cont1": cont})
        return out.scale.clone()

    expected = [model.decode(z, library_size=1e3, batch=b, categorical={"cat1": c}, continuous={"cont1": x})
                .scale[:, :5] for b, c, x in settings]
    jobs = settings * 6
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(decode, jobs))
    for setting, got in zip(jobs, results):
        torch.testing.assert_close(got, expected[settings.index(setting)], rtol=1e-5, atol=1e-8)
    assert len(model._hidden_cache) <= HIDDEN_CACHE_ENTRIES
