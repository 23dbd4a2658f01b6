"""Mapping between a 2-D embedding and latent space, and the UMAP cache (UMAP itself is never run)."""

from __future__ import annotations

import numpy as np
import pytest

from scvi_viz.analysis import embedding
from scvi_viz.analysis.embedding import InverseMap, cached_umap, content_key, resolve_click

RNG = np.random.default_rng(5)
N, D = 80, 6
COORDS = RNG.normal(size=(N, 2)) * 4
LATENT = RNG.normal(size=(N, D)).astype(np.float32)


@pytest.fixture(scope="module")
def inv() -> InverseMap:
    return InverseMap(COORDS, LATENT, k=8)


# ------------------------------------------------------------ InverseMap


def test_latent_at_cell_coordinate_is_cell_latent(inv):
    for i in (0, 17, N - 1):
        z = inv.latent_at(*COORDS[i])
        assert z.dtype == np.float32 and z.shape == (D,)
        np.testing.assert_array_equal(z, LATENT[i])


def test_latent_at_other_position_is_convex_combination(inv):
    for x, y in [(0.3, -0.7), (5.0, 5.0), (-12.0, 3.0)]:
        z = inv.latent_at(x, y)
        dist = np.hypot(COORDS[:, 0] - x, COORDS[:, 1] - y)
        nbrs = np.argsort(dist)[: inv.k]
        lo, hi = LATENT[nbrs].min(0), LATENT[nbrs].max(0)
        assert np.all(z >= lo - 1e-5) and np.all(z <= hi + 1e-5)
        # Inverse-distance weighting, computed by hand.
        w = 1 / dist[nbrs]
        np.testing.assert_allclose(z, (w[:, None] * LATENT[nbrs]).sum(0) / w.sum(), rtol=1e-5, atol=1e-6)
        # Not just one cell's latent.
        assert not any(np.allclose(z, LATENT[j]) for j in nbrs)


def test_k_is_capped_by_cell_count():
    small = InverseMap(COORDS[:3], LATENT[:3], k=10)
    assert small.k == 3
    z = small.latent_at(100.0, 100.0)
    assert np.all(z >= LATENT[:3].min(0) - 1e-5) and np.all(z <= LATENT[:3].max(0) + 1e-5)
    assert "3 nearest" in small.method


def test_k_one():
    one = InverseMap(COORDS, LATENT, k=1)
    i = 9
    np.testing.assert_array_equal(one.latent_at(*(COORDS[i] + 1e-4)), LATENT[i])
    assert one.position_of(LATENT[i]) == pytest.approx(tuple(COORDS[i]))


def test_nearest_cell(inv):
    for x, y in [(0.0, 0.0), (3.0, -2.0), tuple(COORDS[30])]:
        idx, dist = inv.nearest_cell(x, y)
        d = np.hypot(COORDS[:, 0] - x, COORDS[:, 1] - y)
        assert idx == int(np.argmin(d))
        assert dist == pytest.approx(d.min())
    assert inv.nearest_cell(*COORDS[30]) == (30, 0.0)


def test_position_of_cell_latent_is_its_coordinates(inv):
    for i in (0, 42, N - 1):
        x, y = inv.position_of(LATENT[i])
        assert (x, y) == pytest.approx((COORDS[i, 0], COORDS[i, 1]))
        assert isinstance(x, float) and isinstance(y, float)


def test_position_of_other_point_is_among_neighbours(inv):
    z = LATENT[:5].mean(0) + 0.01
    x, y = inv.position_of(z)
    d = np.linalg.norm(LATENT.astype(np.float64) - z, axis=1)
    nbrs = np.argsort(d)[: inv.k]
    assert COORDS[nbrs, 0].min() - 1e-9 <= x <= COORDS[nbrs, 0].max() + 1e-9
    assert COORDS[nbrs, 1].min() - 1e-9 <= y <= COORDS[nbrs, 1].max() + 1e-9


def test_resolve_click(inv):
    # Empty space (the grid trace): a latent position at the clicked point.
    cell, z, xy = resolve_click({"curve_number": 0, "x": 0.3, "y": -0.7}, inv)
    assert cell is None and xy == (0.3, -0.7)
    np.testing.assert_array_equal(z, inv.latent_at(0.3, -0.7))
    # A cell: its own latent and coordinates, whatever the click position says.
    cell, z, xy = resolve_click({"curve_number": 2, "x": 99.0, "y": 99.0, "customdata": 12}, inv)
    assert cell == 12
    np.testing.assert_array_equal(z, LATENT[12])
    assert xy == pytest.approx(tuple(COORDS[12]))
    cell, _, _ = resolve_click({"curve_number": 1, "x": 0.0, "y": 0.0, "customdata": [7]}, inv)
    assert cell == 7
    # No customdata: the nearest cell.
    cell, _, _ = resolve_click({"curve_number": 1, "x": float(COORDS[3, 0]), "y": float(COORDS[3, 1])}, inv)
    assert cell == 3


# -------------------------------------------------------------- content_key


def test_content_key():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    k = content_key(a)
    assert k == content_key(a.copy())
    assert len(k) == 40 and int(k, 16) >= 0
    b = a.copy()
    b[1, 2] += 1
    assert content_key(b) != k  # data
    assert content_key(a.astype(np.float64)) != k  # dtype
    assert content_key(a.reshape(4, 3)) != k  # shape, same bytes
    assert content_key(a, extra="x") != k
    assert content_key(np.asfortranarray(a)) == k  # memory layout does not matter
    assert content_key(a, a) != content_key(a)


# ---------------------------------------------------------------- the cache


@pytest.fixture()
def fake_umap(monkeypatch):
    calls = []

    def compute(latent):
        calls.append(latent.shape)
        return np.column_stack([latent[:, 0], latent[:, 1] * 2]).astype(np.float32)

    monkeypatch.setattr(embedding, "compute_umap", compute)
    return calls


def npy_files(folder):
    return sorted(p.name for p in folder.glob("*.npz"))


def test_cached_umap_writes_once_and_reads_back(tmp_path, fake_umap):
    cache = tmp_path / "cache"
    first = cached_umap(LATENT, cache / "umap.npz")
    assert fake_umap == [(N, D)]
    assert first.shape == (N, 2)
    assert list(cache.iterdir()) == [cache / "umap.npz"]  # no temporary file left
    second = cached_umap(LATENT, cache / "umap.npz")
    assert fake_umap == [(N, D)]  # not recomputed
    np.testing.assert_array_equal(second, first)
    # Another latent: the file is not taken for it, and is replaced.
    cached_umap(LATENT[:40], cache / "umap.npz")
    assert len(fake_umap) == 2 and npy_files(cache) == ["umap.npz"]


def test_cached_umap_fit_on_a_sample_transforms_the_rest(tmp_path, monkeypatch):
    class Reducer:
        def __init__(self, **kwargs):
            pass

        def fit(self, x):
            self.embedding_ = x[:, :2] * 10
            return self

        def transform(self, x):
            return x[:, :2] * -1

    monkeypatch.setattr(embedding, "_reducer", lambda n: Reducer())
    seen = []
    coords = cached_umap(LATENT, tmp_path / "umap.npz", fit_cells=20, progress=lambda done, total: seen.append((done, total)))
    fit = embedding.umap_fit_cells(N, 20)
    assert len(fit) == 20 and np.all(np.diff(fit) > 0)
    np.testing.assert_allclose(coords[fit], LATENT[fit, :2] * 10)
    rest = np.setdiff1d(np.arange(N), fit)
    np.testing.assert_allclose(coords[rest], -LATENT[rest, :2])
    assert seen[0] == (20, N) and seen[-1] == (N, N)
    assert embedding.stored_umap_fit(tmp_path / "umap.npz") == 20
    # Asked for another fit, it is computed again; asked for none, the stored one is taken.
    monkeypatch.setattr(embedding, "subsampled_umap", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_array_equal(cached_umap(LATENT, tmp_path / "umap.npz"), coords)
    with pytest.raises(pytest.fail.Exception):
        cached_umap(LATENT, tmp_path / "umap.npz", fit_cells=30)


@pytest.mark.parametrize(
    "content",
    [b"garbage, not numpy", "truncated", "wrong shape", "digest mismatch"],
)
def test_cached_umap_recomputes_corrupt_file(tmp_path, fake_umap, content):
    path = tmp_path / "cache" / "umap.npz"
    good = cached_umap(LATENT, path)
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:150])
    elif content == "wrong shape":
        stored = dict(np.load(path))
        np.savez(path, **{**stored, "coords": np.zeros((3, 2), np.float32)})
    elif content == "digest mismatch":
        stored = dict(np.load(path))
        stored["coords"][0, 0] += 1  # a flipped value: the file reads, but is not what was written
        np.savez(path, **stored)
    else:
        path.write_bytes(content)
    again = cached_umap(LATENT, path)
    assert len(fake_umap) == 2
    np.testing.assert_array_equal(again, good)
    np.testing.assert_array_equal(np.load(path)["coords"], good)  # repaired


def test_cached_umap_recomputes_empty_file(tmp_path, fake_umap):
    path = tmp_path / "cache" / "umap.npz"
    good = cached_umap(LATENT, path)
    path.write_bytes(b"")
    np.testing.assert_array_equal(cached_umap(LATENT, path), good)


def test_cached_umap_unwritable_cache_still_returns_and_says_so_once(tmp_path, fake_umap):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.warns(embedding.CacheDirWarning, match="cannot be written") as record:
        coords = cached_umap(LATENT, blocker / "cache" / "umap.npz")
        cached_umap(LATENT[:40], blocker / "cache" / "umap.npz")
    assert len(record) == 1
    assert coords.shape == (N, 2) and len(fake_umap) == 2
    assert blocker.read_text() == "x"


def test_cached_umap_concurrent_writers_leave_one_whole_file(tmp_path, fake_umap):
    from concurrent.futures import ThreadPoolExecutor

    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cached_umap(LATENT, cache / "umap.npz"), range(8)))
    for r in results:
        np.testing.assert_array_equal(r, results[0])
    assert [p.name for p in cache.iterdir()] == ["umap.npz"]
