"""``scvi_viz.view()``: a saved model folder, and an in-memory scvi-tools model (when scvi-tools
is installed), served by a real app server on 127.0.0.1 that stops with ``.stop()``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import scvi_viz
from scvi_viz.errors import UnsupportedModelError
from scvi_viz.io import sources
from scvi_viz.io.model_file import read_model_spec
from scvi_viz.launch import LaunchError
from scvi_viz.notebook import View

ROOT = Path(__file__).resolve().parents[1]
TOTALVI = ROOT / "tests" / "fixtures" / "refused" / "TOTALVI"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCVI_VIZ_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def saved(tmp_path) -> Path:
    """The demo as ``model.save(dir, save_anndata=True)`` writes it."""
    folder = tmp_path / "pbmc_model"
    folder.mkdir()
    shutil.copy(sources.DEMO_MODEL / "model.pt", folder / "model.pt")
    shutil.copy(sources.DEMO_DATA, folder / "adata.h5ad")
    return folder


def _healthy(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/_stcore/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _listening(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as s:
        return s.connect_ex((parts.hostname, parts.port)) == 0


def test_view_of_a_saved_folder_serves_it_and_stops(saved):
    scvi_loaded = "scvi" in sys.modules
    view = scvi_viz.view(saved)
    try:
        assert isinstance(view, View) and view.running
        parts = urllib.parse.urlsplit(view.url)
        assert parts.hostname == "127.0.0.1"
        assert urllib.parse.parse_qs(parts.query) == {"src": ["server"], "sm": ["."], "sd": ["adata.h5ad"]}
        assert _healthy(view.url)
        html = view._repr_html_()
        assert html.startswith("<iframe src=\"") and view.url.replace("&", "&amp;") in html
        assert repr(view).endswith(f"open at {view.url}") and str(saved) in repr(view)
        again = scvi_viz.view(saved / "model.pt")
        assert urllib.parse.urlsplit(again.url).netloc == parts.netloc, "the folder's server is reused"
        if not scvi_loaded:
            assert "scvi" not in sys.modules, "scvi-tools is imported only for an in-memory model"
    finally:
        view.stop()
    assert not view.running and not again.running
    assert not _listening(view.url)
    assert "stopped" in repr(view) and view._repr_html_().startswith("<p>")
    assert sorted(p.name for p in saved.iterdir()) == ["adata.h5ad", "model.pt"], "nothing is written beside the model"


def test_view_on_a_port_given(saved, tmp_path):
    shutil.copy(sources.DEMO_DATA, tmp_path / "other.h5ad")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    view = scvi_viz.view(saved, port=port)
    try:
        assert urllib.parse.urlsplit(view.url).port == port and _healthy(view.url)
        with pytest.raises(LaunchError, match=f"Port {port} of 127.0.0.1 is in use"):
            scvi_viz.view(saved, tmp_path / "other.h5ad", port=port)  # another data root: another server
    finally:
        view.stop()


def test_view_refuses_what_it_cannot_show(tmp_path, saved):
    with pytest.raises(LaunchError, match="no such folder"):
        scvi_viz.view(tmp_path / "nothing")
    with pytest.raises(TypeError, match="model.save"):
        scvi_viz.view(42)
    if os.path.commonpath([saved, sources.DEMO_DATA]) == os.sep:  # not when the checkout itself lies under /tmp
        with pytest.raises(LaunchError, match="share no folder but /"):
            scvi_viz.view(saved, sources.DEMO_DATA)
    if TOTALVI.is_dir():
        shutil.copytree(TOTALVI, saved.parent / "totalvi")
        with pytest.raises(UnsupportedModelError, match="TOTALVI"):
            scvi_viz.view(saved.parent / "totalvi", saved / "adata.h5ad")
    from scvi_viz import notebook

    assert not notebook._SERVED, "no server is left running after a refusal"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_kernel_takes_its_server_with_it(saved):
    code = "import sys, time, scvi_viz; print(scvi_viz.view(sys.argv[1]).url, flush=True); time.sleep(600)"
    kernel = subprocess.Popen([sys.executable, "-c", code, str(saved)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = kernel.stdout.readline().strip()
        assert _healthy(url), url
    finally:
        kernel.kill()  # as a crashed or killed notebook kernel: no atexit
        kernel.wait(timeout=30)
        kernel.stdout.close()
    deadline = time.monotonic() + 30
    while _listening(url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(url), "the server outlived the process that started it"


# -------------------------------------------------------------------- an in-memory model
def _tiny_scvi(scvi, ad):
    rng = np.random.default_rng(0)
    counts = rng.negative_binomial(5, 0.3, size=(120, 40)).astype(np.float32)
    adata = ad.AnnData(counts)
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"gene{i}" for i in range(adata.n_vars)]
    adata.obs["batch"] = np.where(np.arange(adata.n_obs) % 2, "a", "b")
    adata.layers["counts"] = adata.X.copy()
    scvi.model.SCVI.setup_anndata(adata, layer="counts", batch_key="batch")
    model = scvi.model.SCVI(adata, n_latent=3, n_hidden=16)
    model.train(max_epochs=1, accelerator="cpu", batch_size=60)
    return model, adata


def test_view_of_an_in_memory_scvi_model():
    scvi = pytest.importorskip("scvi")
    import anndata as ad

    model, adata = _tiny_scvi(scvi, ad)
    first = scvi_viz.view(model)
    try:
        assert _healthy(first.url)
        folder = first.files.root / first.files.model
        assert sorted(p.name for p in folder.iterdir()) == ["adata.h5ad", "model.pt"]
        assert folder.parent.name.startswith("scvi-viz-notebook-") and (folder.parent.stat().st_mode & 0o077) == 0
        spec = read_model_spec(folder)  # the safe loader reads what scvi-tools' save wrote
        assert spec.model_name == "SCVI" and list(spec.genes) == list(adata.var_names)
        assert "in-memory SCVI model" in repr(first)

        subset = adata[:60].copy()
        second = scvi_viz.view(model, subset)
        assert urllib.parse.urlsplit(second.url).netloc == urllib.parse.urlsplit(first.url).netloc
        assert second.files.model != first.files.model
        assert ad.read_h5ad(second.files.root / second.files.data).n_obs == 60
    finally:
        first.stop()
    assert not folder.exists() and not (second.files.root / second.files.model).exists()
